// The per-element updates of the fused optimiser kernels (engine/optim/kernels.h), shared by
// the CPU kernels and their CUDA twins (cuda/optim.cu): C++17, FOVEA_HD. The scalars are formed
// once on the host, in double as Python does, then rounded once to T; the element updates
// follow torch.optim's (1.13) operation order.
#pragma once

#include <cmath>

#include "engine/core/hostdevice.h"
#include "engine/ops/math.h"
#include "engine/optim/kernels.h"

namespace fovea::optim {

template <class T>
struct SgdScalars {
  T lr, wd, mom, keep;
  bool decay, first, nesterov;
  static SgdScalars of(const SGDStep& a) {
    return {T(a.lr), T(a.weight_decay), T(a.momentum), T(1 - a.dampening),
            a.weight_decay != 0, a.first, a.nesterov};
  }
};

// d = g + wd p; b = first ? d : mom b + (1 - dampening) d; d = nesterov ? d + mom b : b;
// p -= lr d. `buf` is null without momentum.
template <class T>
FOVEA_HD void sgd_update(T& p, T g, T* buf, const SgdScalars<T>& s) {
  T d = s.decay ? g + s.wd * p : g;
  if (buf) {
    *buf = s.first ? d : s.mom * *buf + s.keep * d;
    d = s.nesterov ? d + s.mom * *buf : *buf;
  }
  p = p + -s.lr * d;
}

template <class T>
struct AdamScalars {
  T step_size, bc2_sqrt, decay, wd, b1, b2, c1, c2, eps;
  bool decoupled, coupled_decay;
  static AdamScalars of(const AdamStep& a) {
    const double s = static_cast<double>(a.step);
    return {T(a.lr / (1 - std::pow(a.beta1, s))), T(std::sqrt(1 - std::pow(a.beta2, s))),
            T(1 - a.lr * a.weight_decay), T(a.weight_decay), T(a.beta1), T(a.beta2),
            T(1 - a.beta1), T(1 - a.beta2), T(a.eps), a.decoupled,
            !a.decoupled && a.weight_decay != 0};
  }
};

// Adam / AdamW for one element; `vmax` is null unless amsgrad.
template <class T>
FOVEA_HD void adam_update(T& p, T g, T& m, T& v, T* vmax, const AdamScalars<T>& s) {
  T x = p;
  if (s.decoupled) x = x * s.decay;
  if (s.coupled_decay) g = g + s.wd * x;
  m = s.b1 * m + s.c1 * g;
  v = s.b2 * v + s.c2 * g * g;
  T second = v;
  if (vmax) second = *vmax = *vmax < v ? v : *vmax;  // std::max's rule
  const T denom = fm::sqrt(second) / s.bc2_sqrt + s.eps;
  p = x + -s.step_size * m / denom;
}

}  // namespace fovea::optim
