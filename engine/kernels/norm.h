// The formulas of the normalisation kernels, written once for the CPU kernels
// (engine/cpu/norm.cpp) and their CUDA twins (cuda/norm.cu): both call these, so the two differ
// only in the order in which they add up their double sums. C++17, no host-only calls inside
// the FOVEA_HD functions (nvcc compiles them for the device).
//
// Notation as in engine/cpu/norm.h: a statistic is shared by m elements (a channel over (n, s)
// for batch_norm, a (sample, group) for group_norm, a row for layer_norm), whose mean and sum
// of squared deviations m2 are computed in double (two passes); T is the tensor's dtype.
//   rstd     = 1 / sqrt(m2 / m + eps)                (biased variance, rounded once to T)
//   y        = (x - mean) * (rstd * w) + b           (in T; x - mean first, so a large mean
//                                                     does not cancel)
//   running  = momentum * batch + (1 - momentum) * running,  variance: unbiased m2 / (m - 1)
//   backward: see BatchNormGrad and GroupedNormGrad.
#pragma once

#include <cstdint>

#include "engine/core/hostdevice.h"
#include "engine/core/shape.h"
#include "engine/ops/math.h"

namespace fovea::norm_kernels {

// x as a contiguous [N, C, S] block (S: the product of the dims after C).
struct Dims {
  int64_t n = 1, c = 1, s = 1;
};
inline Dims dims_of(const Shape& shape) {
  Dims d{shape[0], shape[1], 1};
  for (size_t i = 2; i < shape.size(); ++i) d.s *= shape[i];
  return d;
}

FOVEA_HD double squared_deviation(double x, double mean) { return (x - mean) * (x - mean); }

// 1 / sqrt(var + eps) in double; the callers round it to T once.
FOVEA_HD double inv_std(double var, double eps) { return 1 / fm::sqrt(var + eps); }

// mean and rstd of m elements with the given mean and sum of squared deviations (training
// batch_norm, group_norm, layer_norm).
template <class T>
struct Stats {
  T mean, rstd;
};
template <class T>
FOVEA_HD Stats<T> batch_stats(double mean, double m2, double m, double eps) {
  return {T(mean), T(inv_std(m2 / m, eps))};
}
// batch_norm in eval: the running statistics stand in for the batch's.
template <class T>
FOVEA_HD Stats<T> running_stats(T running_mean, T running_var, double eps) {
  return {running_mean, T(inv_std(double(running_var), eps))};
}

// Training batch_norm's in-place update of one channel's running statistics (either pointer
// may be null: that statistic is not tracked). PyTorch's momentum: the weight of the new batch;
// the variance is the unbiased one (m > 1 is the op's check).
template <class T>
FOVEA_HD void update_running(T* running_mean, T* running_var, double mean, double m2, double m,
                             double momentum) {
  if (running_mean)
    *running_mean = T(momentum * mean + (1 - momentum) * double(*running_mean));
  if (running_var)
    *running_var = T(momentum * (m2 / (m - 1)) + (1 - momentum) * double(*running_var));
}

// y of one element, with scale = rstd * w (w = 1 without weight) and shift = b (0 without bias).
template <class T>
FOVEA_HD T affine_scale(T rstd, const T* w, int64_t c) {
  return rstd * (w ? w[c] : T(1));
}
template <class T>
FOVEA_HD T normalize(T x, T mean, T scale, T shift) {
  return (x - mean) * scale + shift;
}

// batch_norm backward for one channel c, from sum_g = sum g and sum_gxh = sum g x^ over its m
// elements (x^ = (x - mean) rstd):
//   training  dx = a (g - k1 - (x - mean) k2),  a = w rstd, k1 = sum_g / m,
//                                               k2 = rstd sum_gxh / m
//   eval      dx = a g       (mean and rstd are the running statistics: constants)
template <class T>
struct BatchNormGrad {
  T a, k1, k2;
  FOVEA_HD T dx(T g, T x, T mean, bool training) const {
    return training ? a * (g - k1 - (x - mean) * k2) : a * g;
  }
};
template <class T>
FOVEA_HD BatchNormGrad<T> batch_norm_grad(T rstd, T w, double sum_g, double sum_gxh, double m,
                                          bool training) {
  BatchNormGrad<T> r{rstd * w, T(0), T(0)};
  if (training) {
    r.k1 = T(sum_g / m);
    r.k2 = T(sum_gxh / m * double(rstd));
  }
  return r;
}

// group_norm / layer_norm backward for one group of len elements, whose weight varies inside
// the group, from sum_wg = sum w g and sum_wgx = sum w g (x - mean):
//   dx = rstd (w g - mean_wg - (x - mean) k2),  mean_wg = sum_wg / len,
//                                               k2 = rstd^2 sum_wgx / len
template <class T>
struct GroupedNormGrad {
  T rstd, mean_wg, k2, mean;
  FOVEA_HD T dx(T w, T g, T x) const { return rstd * (w * g - mean_wg - (x - mean) * k2); }
};
template <class T>
FOVEA_HD GroupedNormGrad<T> grouped_norm_grad(T rstd, T mean, double sum_wg, double sum_wgx,
                                              double len) {
  return {rstd, T(sum_wg / len), T(sum_wgx * double(rstd) / len * double(rstd)), mean};
}

}  // namespace fovea::norm_kernels
