#include "engine/cpu/dropout.h"

namespace fovea {

KernelSlot<void(const Tensor&, double, Generator&)> dropout_mask_kernel{"dropout_mask",
                                                                        &dropout_mask_cpu};

void dropout_mask_cpu(const Tensor& mask, double p, Generator& gen) {
  FOVEA_DISPATCH_FLOAT(mask.dtype(), "dropout", [&] {
    using T = scalar_t;
    // Serial on purpose: the draws must come from the generator in a fixed order.
    const T keep = p < 1 ? T(1.0 / (1.0 - p)) : T(0);
    T* m = mask.data<T>();
    for (int64_t i = 0, n = mask.numel(); i < n; ++i) m[i] = gen.uniform() < p ? T(0) : keep;
  });
}

}  // namespace fovea
