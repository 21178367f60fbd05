// The per-element formulas of softmax, log_softmax and the class-index losses, shared by the
// CPU kernels (engine/cpu/softmax.cpp, cross_entropy.cpp) and their CUDA twins (cuda/softmax.cu,
// cuda/loss.cu). The per-line reductions around them (max, sums in double) are each device's
// own loops; these are the finishing steps, so that both devices round the same way.
//   softmax:      y = exp(x - m) * (1 / s),  m = max x (NaN never wins), s = sum exp(x - m)
//   log_softmax:  y = (x - m) - log s
//   backward:     softmax dx = y (g - sum g y);  log_softmax dx = g - exp(y) sum g
//   cross-entropy (label smoothing eps over K classes, l = m + log s the row's logsumexp):
//     loss = (1 - eps)(l - z_t) + eps / K sum_k (l - z_k);  dz_k = (exp(z_k - l) - q_k) g
#pragma once

#include <cstdint>

#include "engine/core/hostdevice.h"
#include "engine/core/shape.h"
#include "engine/kernels/fast_exp.h"

namespace fovea::softmax_math {

// A tensor seen as a contiguous [outer, d, inner] block for a softmax along `dim`: outer *
// inner lines of d elements, `inner` apart.
struct Lines {
  int64_t outer = 1, d = 1, inner = 1;
};
inline Lines lines_of(const Shape& shape, int64_t dim) {
  Lines l;
  for (int64_t i = 0; i < int64_t(shape.size()); ++i) {
    if (i < dim) l.outer *= shape[i];
    else if (i == dim) l.d = shape[i];
    else l.inner *= shape[i];
  }
  return l;
}

// The running max of a line: a NaN never wins (it still poisons the sums).
template <class T>
FOVEA_HD T max_step(T m, T v) { return v > m ? v : m; }

template <class T>
FOVEA_HD T softmax_value(T x, T m, T scale) { return fast_exp(T(x - m)) * scale; }
template <class T>
FOVEA_HD T log_softmax_value(T x, T m, T log_sum) { return (x - m) - log_sum; }
template <class T>
FOVEA_HD T softmax_grad(T y, T g, T dot) { return y * (g - dot); }
template <class T>
FOVEA_HD T log_softmax_grad(T y, T g, T total) { return g - fast_exp(y) * total; }

// The row's loss from its logsumexp l, its target logit and (for eps > 0) the sum of
// (l - z_k). At eps = 0 the spread is never used: a -inf logit would make 0 * inf = NaN.
FOVEA_HD double ce_loss(double l, double z_target, double spread, double eps, int64_t k) {
  double out = (1 - eps) * (l - z_target);
  if (eps > 0) out += eps / double(k) * spread;
  return out;
}

// dz for class c of a row with logsumexp l and upstream gradient g. exp runs in T: the
// argument is already reduced, so float keeps full float accuracy.
template <class T>
FOVEA_HD T ce_grad(T z, double l, double g, double eps, int64_t k, bool is_target) {
  const double smooth = eps / double(k);
  return T((fast_exp(T(z - l)) - smooth - (is_target ? 1 - eps : 0.0)) * g);
}

}  // namespace fovea::softmax_math
