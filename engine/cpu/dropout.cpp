#include "engine/cpu/dropout.h"

#include "engine/core/parallel.h"
#include "engine/kernels/philox.h"

namespace fovea {

KernelSlot<void(const Tensor&, double, Generator&)> dropout_mask_kernel{"dropout_mask",
                                                                        &dropout_mask_cpu};

void dropout_mask_cpu(const Tensor& mask, double p, Generator& gen) {
  FOVEA_DISPATCH_FLOAT(mask.dtype(), "dropout", [&] {
    using T = scalar_t;
    const T keep = T(philox::keep_scale(p));
    const uint64_t key = gen.next_u64(), threshold = philox::drop_threshold(p);
    T* m = mask.data<T>();
    parallel_for(mask.numel(), 64, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) m[i] = philox::bits(key, uint64_t(i)) < threshold ? T(0) : keep;
    });
  });
}

}  // namespace fovea
