// CPU kernels of softmax and log_softmax along one axis (the ops are in ops/softmax.h).
//
// Each kernel sees its tensors as a contiguous [outer, D, inner] block, D the softmax axis, and
// works on the outer * inner lines of D elements (elements `inner` apart; adjacent for the last
// axis). x, y and g may have any layout (copied to contiguous when needed); y and dx are
// contiguous outputs of x's shape.
//   softmax_forward:      y = exp(x - max) / sum(exp(x - max))
//   softmax_backward:     dx = y * (g - sum(g * y))
//   log_softmax_forward:  y = (x - max) - log(sum(exp(x - max)))
//   log_softmax_backward: dx = g - exp(y) * sum(g)
// Sums run in double. A line of only -inf gives NaN (as in PyTorch); -inf elements of a line
// that has a finite maximum give 0 (softmax) and -inf (log_softmax).
#pragma once

#include <cmath>
#include <limits>

#include "engine/core/dispatch.h"
#include "engine/core/tensor.h"
#include "engine/kernels/softmax.h"

namespace fovea {

void softmax_forward_cpu(const Tensor& x, const Tensor& y, int64_t dim);
void softmax_backward_cpu(const Tensor& y, const Tensor& g, const Tensor& dx, int64_t dim);
void log_softmax_forward_cpu(const Tensor& x, const Tensor& y, int64_t dim);
void log_softmax_backward_cpu(const Tensor& y, const Tensor& g, const Tensor& dx, int64_t dim);

extern KernelSlot<void(const Tensor&, const Tensor&, int64_t)> softmax_forward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, int64_t)>
    softmax_backward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, int64_t)> log_softmax_forward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, int64_t)>
    log_softmax_backward_kernel;

// Line primitives, shared with the fused cross-entropy kernel. They work on a block of w
// neighbouring lines of n elements: element k of line j sits at p[k * stride + j], so each
// pass reads memory row by row. RowBlock is the last-axis case (one contiguous line, constants
// the compiler folds); ColumnBlock serves every other axis (stride = inner, w <= kMaxWidth).
// Per-line results go to arrays of w entries.
struct RowBlock {
  int64_t n;
  static constexpr int64_t stride = 1, w = 1;
};
struct ColumnBlock {
  int64_t n, stride, w;
  static constexpr int64_t kMaxWidth = 32;
};
// A contiguous line read as kW interleaved lines of n elements: a reduction along one line is
// a chain the compiler must keep in order; kW independent chains vectorize. RowBlock's
// reductions go through it and combine the lanes (and the tail) at the end.
struct LaneBlock {
  int64_t n;
  static constexpr int64_t kW = 8, stride = kW, w = kW;
  static LaneBlock of(int64_t line) { return {line / kW}; }
  int64_t body() const { return n * kW; }  // elements covered; the rest is the line's tail
};

// The largest element of each line; NaN never wins here, but it still poisons the sums below.
template <typename T, typename B>
inline void block_max(const T* x, const B& b, T* m) {
  for (int64_t j = 0; j < b.w; ++j) m[j] = -std::numeric_limits<T>::infinity();
  for (int64_t k = 0; k < b.n; ++k) {
    const T* row = x + k * b.stride;
    for (int64_t j = 0; j < b.w; ++j) m[j] = softmax_math::max_step(m[j], row[j]);
  }
}

// sum_k exp(x_k - m) of each line, in double. With m = -inf (an all -inf line) it is NaN.
template <typename T, typename B>
inline void block_sum_exp(const T* x, const B& b, const T* m, double* s) {
  for (int64_t j = 0; j < b.w; ++j) s[j] = 0;
  for (int64_t k = 0; k < b.n; ++k) {
    const T* row = x + k * b.stride;
    for (int64_t j = 0; j < b.w; ++j) s[j] += fast_exp(T(row[j] - m[j]));
  }
}

// Runs a block reduction over one contiguous line of n elements as a LaneBlock plus a tail
// (a ColumnBlock of width 1) and folds the kW + 1 partial results with combine:
// block(offset, block, results) computes the partial results of the elements from offset on.
template <typename R, typename Block, typename Combine>
R through_lanes(int64_t n, Block&& block, Combine&& combine) {
  const LaneBlock lanes = LaneBlock::of(n);
  R lane[LaneBlock::kW], r;
  block(int64_t(0), lanes, lane);
  block(lanes.body(), ColumnBlock{n - lanes.body(), 1, 1}, &r);
  for (R v : lane) r = combine(r, v);
  return r;
}

inline double add_partial(double a, double b) { return a + b; }
template <typename T>
T max_partial(T a, T b) { return softmax_math::max_step(a, b); }

// block_max and block_sum_exp of one contiguous line.
template <typename T>
inline void block_max(const T* x, const RowBlock& b, T* m) {
  *m = through_lanes<T>(
      b.n, [&](int64_t o, const auto& lb, T* out) { block_max(x + o, lb, out); }, max_partial<T>);
}
template <typename T>
inline void block_sum_exp(const T* x, const RowBlock& b, const T* m, double* s) {
  T ms[LaneBlock::kW];
  for (T& v : ms) v = *m;
  *s = through_lanes<double>(
      b.n, [&](int64_t o, const auto& lb, double* out) { block_sum_exp(x + o, lb, ms, out); },
      add_partial);
}

}  // namespace fovea
