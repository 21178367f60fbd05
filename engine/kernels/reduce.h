// The per-element and per-row formulas of the reductions, shared by the CPU kernels
// (engine/cpu/reduce.cpp) and their CUDA twins (cuda/reduce.cu). C++17, FOVEA_HD.
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/core/hostdevice.h"
#include "engine/ops/math.h"

namespace fovea::reduce_math {

// max / min with PyTorch's rules: a NaN beats every number, and of equal values (or of two
// NaNs) the first position wins. (v, i) beats the best so far (best, best_i); best_i < 0 means
// nothing seen yet. The rule is symmetric in the two candidates, so merging partial results
// in any order (threads of a block, pieces of a row) gives the same answer.
template <class T>
FOVEA_HD bool extremum_beats(T v, int64_t i, T best, int64_t best_i, bool is_max) {
  if (best_i < 0) return true;
  const bool v_nan = v != v, best_nan = best != best;
  if (v_nan || best_nan) return v_nan && (!best_nan || i < best_i);
  if (v == best) return i < best_i;
  return is_max ? v > best : v < best;
}

// var's divisor: n - correction, clamped at 0 like PyTorch (0 gives inf or nan).
FOVEA_HD double var_divisor(int64_t n, int64_t correction) {
  const double d = double(n - correction);
  return d > 0 ? d : 0.0;
}

// d var / dx = g * 2 (x - mean) / divisor; for std, g / (2 std) replaces g, 0 where std == 0.
FOVEA_HD double var_grad_scale(double g, double out, double divisor, bool take_sqrt) {
  if (take_sqrt) g = out == 0 ? 0.0 : g / (2.0 * out);
  return 2.0 * g / divisor;
}

// logsumexp shifts by the row max m, but by 0 when m is infinite or the row is empty, so that
// an all -inf row gives -inf and a row holding +inf gives +inf (not nan).
FOVEA_HD double lse_shift(double m, bool empty) {
  if (empty) return 0.0;
  return (m - m != 0 && m == m) ? 0.0 : m;  // infinite: m - m is nan; nan stays nan
}

template <class T>
FOVEA_HD T sign(T v) {
  return v > 0 ? T(1) : v < 0 ? T(-1) : v;  // 0 at 0, NaN stays NaN
}

// p-norm (finite p >= 1): out = root(sum term(x)).
FOVEA_HD double norm_term(double v, double p) {
  if (p == 1) return fm::abs(v);
  if (p == 2) return v * v;
  return fm::pow(fm::abs(v), p);
}
FOVEA_HD double norm_root(double s, double p) {
  if (p == 1) return s;
  if (p == 2) return fm::sqrt(s);
  return fm::pow(s, 1.0 / p);
}
// d out / dx * g for finite p: 0 where out == 0 (PyTorch's subgradient at the origin).
FOVEA_HD double norm_grad(double g, double v, double out, double p) {
  if (out == 0) return 0;
  if (p == 1) return g * sign(v);
  if (p == 2) return g * v / out;
  return g * sign(v) * fm::pow(fm::abs(v) / out, p - 1);
}

}  // namespace fovea::reduce_math
