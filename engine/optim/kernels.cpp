#include "engine/optim/kernels.h"

#include <algorithm>
#include <cmath>

#include "engine/core/parallel.h"

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
    const T lr = T(a.lr), wd = T(a.weight_decay), mom = T(a.momentum);
    const T keep = T(1 - a.dampening);
    parallel_for(p.numel(), 4, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        T d = a.weight_decay != 0 ? pg[i] + wd * pp[i] : pg[i];
        if (pb) {
          pb[i] = a.first ? d : mom * pb[i] + keep * d;
          d = a.nesterov ? d + mom * pb[i] : pb[i];
        }
        pp[i] = pp[i] + -lr * d;
      }
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
    // The scalars are formed in double, as Python does, then rounded once to T.
    const double s = static_cast<double>(a.step);
    const T step_size = T(a.lr / (1 - std::pow(a.beta1, s)));
    const T bc2_sqrt = T(std::sqrt(1 - std::pow(a.beta2, s)));
    const T decay = T(1 - a.lr * a.weight_decay), wd = T(a.weight_decay);
    const T b1 = T(a.beta1), b2 = T(a.beta2), c1 = T(1 - a.beta1), c2 = T(1 - a.beta2);
    const T eps = T(a.eps);
    const bool coupled_decay = !a.decoupled && a.weight_decay != 0;
    parallel_for(p.numel(), 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        T x = pp[i], grad = pg[i];
        if (a.decoupled) x = x * decay;
        if (coupled_decay) grad = grad + wd * x;
        pm[i] = b1 * pm[i] + c1 * grad;
        pv[i] = b2 * pv[i] + c2 * grad * grad;
        T second = pv[i];
        if (pmax) second = pmax[i] = std::max(pmax[i], pv[i]);
        const T denom = std::sqrt(second) / bc2_sqrt + eps;
        pp[i] = x + -step_size * pm[i] / denom;
      }
    });
  });
}

}  // namespace fovea::optim
