#include "engine/optim/kernels.h"

#include "engine/core/parallel.h"
#include "engine/kernels/optim.h"

namespace fovea::optim {

KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const SGDStep&)> sgd_step_kernel{
    "sgd_step", &sgd_step_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                const AdamStep&)>
    adam_step_kernel{"adam_step", &adam_step_cpu};

void sgd_step_cpu(const Tensor& p, const Tensor& g, const Tensor& buf, const SGDStep& a) {
  FOVEA_DISPATCH_FLOAT(p.dtype(), "sgd_step", [&] {
    using T = scalar_t;
    T* pp = p.data<T>();
    const T* pg = g.data<T>();
    T* pb = buf.defined() ? buf.data<T>() : nullptr;
    const SgdScalars<T> s = SgdScalars<T>::of(a);
    parallel_for(p.numel(), 4, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) sgd_update(pp[i], pg[i], pb ? pb + i : nullptr, s);
    });
  });
}

void adam_step_cpu(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v,
                   const Tensor& vmax, const AdamStep& a) {
  FOVEA_DISPATCH_FLOAT(p.dtype(), "adam_step", [&] {
    using T = scalar_t;
    T *pp = p.data<T>(), *pm = m.data<T>(), *pv = v.data<T>();
    T* pmax = a.amsgrad ? vmax.data<T>() : nullptr;
    const T* pg = g.data<T>();
    const AdamScalars<T> s = AdamScalars<T>::of(a);
    parallel_for(p.numel(), 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        adam_update(pp[i], pg[i], pm[i], pv[i], pmax ? pmax + i : nullptr, s);
    });
  });
}

}  // namespace fovea::optim
