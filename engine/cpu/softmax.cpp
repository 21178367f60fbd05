#include "engine/cpu/softmax.h"

#include <algorithm>

#include "engine/autograd/grad_mode.h"
#include "engine/core/parallel.h"

namespace fovea {

KernelSlot<void(const Tensor&, const Tensor&, int64_t)> softmax_forward_kernel{
    "softmax_forward", &softmax_forward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, int64_t)> softmax_backward_kernel{
    "softmax_backward", &softmax_backward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, int64_t)> log_softmax_forward_kernel{
    "log_softmax_forward", &log_softmax_forward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, int64_t)>
    log_softmax_backward_kernel{"log_softmax_backward", &log_softmax_backward_cpu};

namespace {

using softmax_math::Lines;
using softmax_math::lines_of;

// Calls block(offset, b) over all lines, split across threads: one RowBlock per row for the
// last axis (inner == 1), else ColumnBlocks of up to kMaxWidth neighbouring lines, so that
// every pass reads whole cache lines instead of one element per line.
template <typename BlockFn>
void for_each_block(const Lines& l, BlockFn&& block) {
  const int64_t d = l.d, inner = l.inner;
  if (inner == 1) {
    parallel_for(l.outer, 4 * d, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) block(r * d, RowBlock{d});
    });
    return;
  }
  const int64_t width = ColumnBlock::kMaxWidth, per_outer = (inner + width - 1) / width;
  parallel_for(l.outer * per_outer, 4 * d * width, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t c0 = (i % per_outer) * width;
      block((i / per_outer) * d * inner + c0, ColumnBlock{d, inner, std::min(width, inner - c0)});
    }
  });
}

constexpr int64_t kScratch = ColumnBlock::kMaxWidth;

// y = exp(x - m) of each line, and its sum in double.
template <typename T, typename B>
void block_exp(const T* x, T* y, const B& b, const T* m, double* sum) {
  for (int64_t j = 0; j < b.w; ++j) sum[j] = 0;
  for (int64_t k = 0; k < b.n; ++k) {
    const int64_t row = k * b.stride;
    for (int64_t j = 0; j < b.w; ++j) {
      const T e = fast_exp(T(x[row + j] - m[j]));
      y[row + j] = e;
      sum[j] += e;
    }
  }
}

template <typename T>
void block_exp(const T* x, T* y, const RowBlock& b, const T* m, double* sum) {
  T ms[LaneBlock::kW];
  for (T& v : ms) v = *m;
  *sum = through_lanes<double>(
      b.n, [&](int64_t o, const auto& lb, double* out) { block_exp(x + o, y + o, lb, ms, out); },
      add_partial);
}

// sum(g * y) and sum(g) of each line, in double (softmax and log_softmax backward).
template <typename T, typename B>
void block_dot(const T* g, const T* y, const B& b, double* dot) {
  for (int64_t j = 0; j < b.w; ++j) dot[j] = 0;
  for (int64_t k = 0; k < b.n; ++k) {
    const int64_t row = k * b.stride;
    for (int64_t j = 0; j < b.w; ++j) dot[j] += double(g[row + j]) * double(y[row + j]);
  }
}
template <typename T>
void block_dot(const T* g, const T* y, const RowBlock& b, double* dot) {
  *dot = through_lanes<double>(
      b.n, [&](int64_t o, const auto& lb, double* out) { block_dot(g + o, y + o, lb, out); },
      add_partial);
}

template <typename T, typename B>
void block_sum(const T* g, const B& b, double* sum) {
  for (int64_t j = 0; j < b.w; ++j) sum[j] = 0;
  for (int64_t k = 0; k < b.n; ++k)
    for (int64_t j = 0; j < b.w; ++j) sum[j] += g[k * b.stride + j];
}
template <typename T>
void block_sum(const T* g, const RowBlock& b, double* sum) {
  *sum = through_lanes<double>(
      b.n, [&](int64_t o, const auto& lb, double* out) { block_sum(g + o, lb, out); },
      add_partial);
}

template <typename T, typename B>
void softmax_block(const T* x, T* y, const B& b) {
  T m[kScratch], scale[kScratch];
  double sum[kScratch];
  block_max(x, b, m);
  block_exp(x, y, b, m, sum);
  // y holds exp(x - m) already: softmax_math::softmax_value's product, without a second exp.
  for (int64_t j = 0; j < b.w; ++j) scale[j] = T(1.0 / sum[j]);
  for (int64_t k = 0; k < b.n; ++k)
    for (int64_t j = 0; j < b.w; ++j) y[k * b.stride + j] *= scale[j];
}

template <typename T, typename B>
void log_softmax_block(const T* x, T* y, const B& b) {
  T m[kScratch], log_sum[kScratch];
  double sum[kScratch];
  block_max(x, b, m);
  block_sum_exp(x, b, m, sum);
  for (int64_t j = 0; j < b.w; ++j) log_sum[j] = T(std::log(sum[j]));
  for (int64_t k = 0; k < b.n; ++k) {
    const int64_t row = k * b.stride;
    for (int64_t j = 0; j < b.w; ++j)
      y[row + j] = softmax_math::log_softmax_value(x[row + j], m[j], log_sum[j]);
  }
}

template <typename T, typename B>
void softmax_backward_block(const T* y, const T* g, T* dx, const B& b) {
  double dot[kScratch];
  T d[kScratch];
  block_dot(g, y, b, dot);
  for (int64_t j = 0; j < b.w; ++j) d[j] = T(dot[j]);
  for (int64_t k = 0; k < b.n; ++k) {
    const int64_t row = k * b.stride;
    for (int64_t j = 0; j < b.w; ++j)
      dx[row + j] = softmax_math::softmax_grad(y[row + j], g[row + j], d[j]);
  }
}

template <typename T, typename B>
void log_softmax_backward_block(const T* y, const T* g, T* dx, const B& b) {
  double sum[kScratch];
  T total[kScratch];
  block_sum(g, b, sum);
  for (int64_t j = 0; j < b.w; ++j) total[j] = T(sum[j]);
  for (int64_t k = 0; k < b.n; ++k) {
    const int64_t row = k * b.stride;
    for (int64_t j = 0; j < b.w; ++j)
      dx[row + j] = softmax_math::log_softmax_grad(y[row + j], g[row + j], total[j]);
  }
}

// One driver per direction, shared by softmax and log_softmax.
template <bool Log>
void forward(const Tensor& x_in, const Tensor& y, int64_t dim, const char* op) {
  NoGradGuard no_grad;  // layout plumbing, never part of the graph
  const Tensor x = x_in.contiguous();
  if (x.numel() == 0) return;
  FOVEA_DISPATCH_FLOAT(x.dtype(), op, [&] {
    using T = scalar_t;
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_block(lines_of(x.shape(), dim), [&](int64_t off, const auto& b) {
      if constexpr (Log) log_softmax_block(px + off, py + off, b);
      else softmax_block(px + off, py + off, b);
    });
  });
}

template <bool Log>
void backward(const Tensor& y_in, const Tensor& g_in, const Tensor& dx, int64_t dim,
              const char* op) {
  NoGradGuard no_grad;
  const Tensor y = y_in.contiguous(), g = g_in.contiguous();
  if (y.numel() == 0) return;
  FOVEA_DISPATCH_FLOAT(y.dtype(), op, [&] {
    using T = scalar_t;
    const T *py = y.data<T>(), *pg = g.data<T>();
    T* pd = dx.data<T>();
    for_each_block(lines_of(y.shape(), dim), [&](int64_t off, const auto& b) {
      if constexpr (Log) log_softmax_backward_block(py + off, pg + off, pd + off, b);
      else softmax_backward_block(py + off, pg + off, pd + off, b);
    });
  });
}

}  // namespace

void softmax_forward_cpu(const Tensor& x, const Tensor& y, int64_t dim) {
  forward<false>(x, y, dim, "softmax");
}

void softmax_backward_cpu(const Tensor& y, const Tensor& g, const Tensor& dx, int64_t dim) {
  backward<false>(y, g, dx, dim, "softmax");
}

void log_softmax_forward_cpu(const Tensor& x, const Tensor& y, int64_t dim) {
  forward<true>(x, y, dim, "log_softmax");
}

void log_softmax_backward_cpu(const Tensor& y, const Tensor& g, const Tensor& dx, int64_t dim) {
  backward<true>(y, g, dx, dim, "log_softmax");
}

}  // namespace fovea
