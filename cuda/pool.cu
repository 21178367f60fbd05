// CUDA twins of the 2-D pooling slots (engine/cpu/pool.h; semantics in engine/ops/pool.h), with
// the window, bin, divisor and arg-max math of engine/kernels/pool.h, which the CPU kernels call
// too. Shapes: x and dx [N, C, H, W], y / values / indices / g [N, C, OH, OW], every plane
// (n, c) pooled on its own; outputs and dx are contiguous and allocated by the op, x and g may
// have any layout and are made contiguous here (as the CPU kernels do).
//
// Per axis (PoolAxis), output o reads the taps of span(o):
//   max / avg pools  start = o * stride - padding, taps start + j * dilation (j < kernel) inside
//                    [0, in); avg divisor = window area clipped to the padded input
//                    (count_include_pad) or the number of real taps
//   adaptive pools   bin [floor(o * in / out), ceil((o + 1) * in / out)), divisor = bin area
//
// Forward: one thread per output element walks its window (no buffers):
//   values, indices = window_max (first maximum in row-major order wins a tie, the last NaN
//                     wins outright; ih * W + iw within the plane, -1 for a window of padding)
//   y = window sum in double (the CPU's four-chain order) / divisor, rounded once
// Backward, in gather form so that no two threads write one element and no float atomics are
// needed: one thread per input element (ih, iw) loops over the outputs [first, last) of each
// axis whose windows can reach it (PoolAxis::covering) and sums
//   max:  g[o] over the outputs o whose stored index is ih * W + iw
//   avg:  g[o] / divisor(o) over the outputs whose windows have a tap at (ih, iw)
// The outputs are visited in row-major order, the order in which the CPU kernels scatter, and
// the sums are float like theirs, so both devices give the same bits (the tests demand it).
#include "engine/autograd/grad_mode.h"
#include "engine/cpu/pool.h"
#include "engine/kernels/pool.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"

FOVEA_CUDA_BEGIN

namespace {

using pool::OutRange;
using pool::PoolAxis;
using pool::Span;

// Output element i of a [planes, rows.out, cols.out] tensor: its plane and position.
struct OutPos {
  int64_t plane, oh, ow;
};
__device__ OutPos out_pos(int64_t i, const PoolAxis& rows, const PoolAxis& cols) {
  const int64_t row = i / cols.out;
  return {row / rows.out, row % rows.out, i % cols.out};
}

__global__ void max_forward_k(const float* x, float* values, int64_t* indices, PoolAxis rows,
                              PoolAxis cols, int64_t total) {
  GRID_STRIDE_LOOP(i, total) {
    const OutPos o = out_pos(i, rows, cols);
    const pool::MaxTap<float> m = pool::window_max(x + o.plane * rows.in * cols.in, cols.in,
                                                   rows.span(o.oh), cols.span(o.ow));
    values[i] = m.value;
    indices[i] = m.index;
  }
}

__global__ void avg_forward_k(const float* x, float* y, PoolAxis rows, PoolAxis cols,
                              bool count_include_pad, int64_t total) {
  GRID_STRIDE_LOOP(i, total) {
    const OutPos o = out_pos(i, rows, cols);
    y[i] = pool::window_avg(x + o.plane * rows.in * cols.in, cols.in, rows.span(o.oh),
                            cols.span(o.ow), count_include_pad);
  }
}

// dx[i] = sum of g[o] over the outputs o of i's plane with indices[o] == ih * W + iw. Only the
// outputs whose windows reach (ih, iw) can hold that index; -1 (no tap) matches nothing.
__global__ void max_backward_k(const float* g, const int64_t* indices, float* dx, PoolAxis rows,
                               PoolAxis cols, int64_t total) {
  GRID_STRIDE_LOOP(i, total) {
    const int64_t row = i / cols.in, ih = row % rows.in, iw = i % cols.in;
    const int64_t plane_out = row / rows.in * rows.out * cols.out, at = ih * cols.in + iw;
    const OutRange rr = rows.covering(ih), cr = cols.covering(iw);
    float acc = 0;
    for (int64_t oh = rr.first; oh < rr.last; ++oh)
      for (int64_t ow = cr.first; ow < cr.last; ++ow) {
        const int64_t o = plane_out + oh * cols.out + ow;
        if (indices[o] == at) acc += g[o];
      }
    dx[i] = acc;
  }
}

// dx[i] = sum of g[o] / divisor(o) over the outputs o whose windows have a tap at (ih, iw).
__global__ void avg_backward_k(const float* g, float* dx, PoolAxis rows, PoolAxis cols,
                               bool count_include_pad, int64_t total) {
  GRID_STRIDE_LOOP(i, total) {
    const int64_t row = i / cols.in, ih = row % rows.in, iw = i % cols.in;
    const float* gp = g + row / rows.in * rows.out * cols.out;
    const OutRange rr = rows.covering(ih), cr = cols.covering(iw);
    float acc = 0;
    for (int64_t oh = rr.first; oh < rr.last; ++oh) {
      const Span r = rows.span(oh);
      if (!pool::has_tap(r, ih)) continue;
      for (int64_t ow = cr.first; ow < cr.last; ++ow) {
        const Span c = cols.span(ow);
        if (pool::has_tap(c, iw)) acc += pool::avg_share(gp[oh * cols.out + ow], r, c,
                                                         count_include_pad);
      }
    }
    dx[i] = acc;
  }
}

// The row and column axes of a pool between `in` ([N, C, H, W]) and `out` ([N, C, OH, OW]).
struct Axes {
  PoolAxis rows, cols;
};

Axes window_axes(const Tensor& in, const Tensor& out, const Pool2dOptions& opt) {
  return {pool::window_axis(in.size(2), out.size(2), opt.kernel[0], opt.stride[0],
                            opt.padding[0], opt.dilation[0]),
          pool::window_axis(in.size(3), out.size(3), opt.kernel[1], opt.stride[1],
                            opt.padding[1], opt.dilation[1])};
}

Axes adaptive_axes(const Tensor& in, const Tensor& out) {
  return {pool::adaptive_axis(in.size(2), out.size(2)),
          pool::adaptive_axis(in.size(3), out.size(3))};
}

// Contiguous copies (the CUDA copy kernel) of inputs the kernels index as dense planes.
Tensor dense(const Tensor& t) {
  NoGradGuard no_grad;  // layout plumbing, never part of the graph
  return t.contiguous();
}

void max_forward(const Tensor& x_in, const Tensor& values, const Tensor& indices, Axes a,
                 const char* name) {
  require_float32(x_in, name);
  const int64_t total = values.numel();
  if (total == 0) return;
  const Tensor x = dense(x_in);
  KLAUNCH(elementwise_grid(total), kElementwiseBlock, 0, stream(), max_forward_k)(
      x.device_data<float>(), values.device_data<float>(), indices.device_data<int64_t>(),
      a.rows, a.cols, total);
  FOVEA_CUDA_LAUNCH_CHECK(name);
}

void max_backward(const Tensor& g_in, const Tensor& indices_in, const Tensor& dx, Axes a,
                  const char* name) {
  require_float32(dx, name);
  const int64_t total = dx.numel();
  if (total == 0) return;
  const Tensor g = dense(g_in), indices = dense(indices_in);
  KLAUNCH(elementwise_grid(total), kElementwiseBlock, 0, stream(), max_backward_k)(
      g.device_data<float>(), indices.device_data<int64_t>(), dx.device_data<float>(), a.rows,
      a.cols, total);
  FOVEA_CUDA_LAUNCH_CHECK(name);
}

void avg_forward(const Tensor& x_in, const Tensor& y, Axes a, bool count_include_pad,
                 const char* name) {
  require_float32(x_in, name);
  const int64_t total = y.numel();
  if (total == 0) return;
  const Tensor x = dense(x_in);
  KLAUNCH(elementwise_grid(total), kElementwiseBlock, 0, stream(), avg_forward_k)(
      x.device_data<float>(), y.device_data<float>(), a.rows, a.cols, count_include_pad, total);
  FOVEA_CUDA_LAUNCH_CHECK(name);
}

void avg_backward(const Tensor& g_in, const Tensor& dx, Axes a, bool count_include_pad,
                  const char* name) {
  require_float32(dx, name);
  const int64_t total = dx.numel();
  if (total == 0) return;
  const Tensor g = dense(g_in);
  KLAUNCH(elementwise_grid(total), kElementwiseBlock, 0, stream(), avg_backward_k)(
      g.device_data<float>(), dx.device_data<float>(), a.rows, a.cols, count_include_pad, total);
  FOVEA_CUDA_LAUNCH_CHECK(name);
}

}  // namespace

void max_pool2d_forward_cuda(const Tensor& x, const Tensor& values, const Tensor& indices,
                             const Pool2dOptions& opt) {
  max_forward(x, values, indices, window_axes(x, values, opt), "max_pool2d_forward");
}

void max_pool2d_backward_cuda(const Tensor& g, const Tensor& indices, const Tensor& dx,
                              const Pool2dOptions& opt) {
  max_backward(g, indices, dx, window_axes(dx, g, opt), "max_pool2d_backward");
}

void avg_pool2d_forward_cuda(const Tensor& x, const Tensor& y, const Pool2dOptions& opt) {
  avg_forward(x, y, window_axes(x, y, opt), opt.count_include_pad, "avg_pool2d_forward");
}

void avg_pool2d_backward_cuda(const Tensor& g, const Tensor& dx, const Pool2dOptions& opt) {
  avg_backward(g, dx, window_axes(dx, g, opt), opt.count_include_pad, "avg_pool2d_backward");
}

void adaptive_avg_pool2d_forward_cuda(const Tensor& x, const Tensor& y) {
  avg_forward(x, y, adaptive_axes(x, y), true, "adaptive_avg_pool2d_forward");
}

void adaptive_avg_pool2d_backward_cuda(const Tensor& g, const Tensor& dx) {
  avg_backward(g, dx, adaptive_axes(dx, g), true, "adaptive_avg_pool2d_backward");
}

void adaptive_max_pool2d_forward_cuda(const Tensor& x, const Tensor& values,
                                      const Tensor& indices) {
  max_forward(x, values, indices, adaptive_axes(x, values), "adaptive_max_pool2d_forward");
}

void adaptive_max_pool2d_backward_cuda(const Tensor& g, const Tensor& indices,
                                       const Tensor& dx) {
  max_backward(g, indices, dx, adaptive_axes(dx, g), "adaptive_max_pool2d_backward");
}

void register_pool() {
  max_pool2d_forward_kernel.set_cuda(&max_pool2d_forward_cuda);
  max_pool2d_backward_kernel.set_cuda(&max_pool2d_backward_cuda);
  avg_pool2d_forward_kernel.set_cuda(&avg_pool2d_forward_cuda);
  avg_pool2d_backward_kernel.set_cuda(&avg_pool2d_backward_cuda);
  adaptive_avg_pool2d_forward_kernel.set_cuda(&adaptive_avg_pool2d_forward_cuda);
  adaptive_avg_pool2d_backward_kernel.set_cuda(&adaptive_avg_pool2d_backward_cuda);
  adaptive_max_pool2d_forward_kernel.set_cuda(&adaptive_max_pool2d_forward_cuda);
  adaptive_max_pool2d_backward_kernel.set_cuda(&adaptive_max_pool2d_backward_cuda);
}

FOVEA_CUDA_END
