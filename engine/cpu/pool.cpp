#include "engine/cpu/pool.h"

#include <algorithm>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/core/parallel.h"
#include "engine/kernels/pool.h"

namespace fovea {

KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Pool2dOptions&)>
    max_pool2d_forward_kernel{"max_pool2d_forward", &max_pool2d_forward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Pool2dOptions&)>
    max_pool2d_backward_kernel{"max_pool2d_backward", &max_pool2d_backward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Pool2dOptions&)> avg_pool2d_forward_kernel{
    "avg_pool2d_forward", &avg_pool2d_forward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Pool2dOptions&)>
    avg_pool2d_backward_kernel{"avg_pool2d_backward", &avg_pool2d_backward_cpu};
KernelSlot<void(const Tensor&, const Tensor&)> adaptive_avg_pool2d_forward_kernel{
    "adaptive_avg_pool2d_forward", &adaptive_avg_pool2d_forward_cpu};
KernelSlot<void(const Tensor&, const Tensor&)> adaptive_avg_pool2d_backward_kernel{
    "adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&)> adaptive_max_pool2d_forward_kernel{
    "adaptive_max_pool2d_forward", &adaptive_max_pool2d_forward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&)>
    adaptive_max_pool2d_backward_kernel{"adaptive_max_pool2d_backward",
                                        &adaptive_max_pool2d_backward_cpu};

namespace {

// ---- window geometry -------------------------------------------------------------------------

// The formulas are engine/kernels/pool.h's, shared with the CUDA twins; the CPU evaluates each
// axis's spans once per call and walks them plane by plane.
using pool::PoolAxis;
using pool::Span;

std::vector<Span> spans(const PoolAxis& axis) {
  std::vector<Span> s(static_cast<size_t>(axis.out));
  for (int64_t o = 0; o < axis.out; ++o) s[o] = axis.span(o);
  return s;
}

struct Geometry {
  int64_t planes, h, w, oh, ow;
  std::vector<Span> rows, cols;
};

Geometry geometry(const Tensor& in, const Tensor& out) {
  return {in.size(0) * in.size(1), in.size(2), in.size(3), out.size(2), out.size(3), {}, {}};
}

Geometry window_geometry(const Tensor& in, const Tensor& out, const Pool2dOptions& opt) {
  Geometry g = geometry(in, out);
  g.rows = spans(pool::window_axis(g.h, g.oh, opt.kernel[0], opt.stride[0], opt.padding[0],
                                   opt.dilation[0]));
  g.cols = spans(pool::window_axis(g.w, g.ow, opt.kernel[1], opt.stride[1], opt.padding[1],
                                   opt.dilation[1]));
  return g;
}

Geometry adaptive_geometry(const Tensor& in, const Tensor& out) {
  Geometry g = geometry(in, out);
  g.rows = spans(pool::adaptive_axis(g.h, g.oh));
  g.cols = spans(pool::adaptive_axis(g.w, g.ow));
  return g;
}

// Calls fn(p) for every plane p, planes shared out among threads.
template <typename Fn>
void for_each_plane(const Geometry& g, Fn&& fn) {
  parallel_for(g.planes, g.h * g.w + g.oh * g.ow, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) fn(p);
  });
}

// ---- one plane -------------------------------------------------------------------------------

template <typename T>
void avg_plane(const T* x, T* y, const Geometry& g, bool count_include_pad) {
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow)
      y[oh * g.ow + ow] = pool::window_avg(x, g.w, g.rows[oh], g.cols[ow], count_include_pad);
}

// Scatter form: each output adds its share to its window's taps, outputs in row-major order.
// (The CUDA twin gathers instead, visiting the outputs that cover an element in the same
// order, so both add the same floats in the same order.)
template <typename T>
void avg_backward_plane(const T* gy, T* dx, const Geometry& g, bool count_include_pad) {
  std::fill(dx, dx + g.h * g.w, T(0));
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const Span &r = g.rows[oh], &c = g.cols[ow];
      const T share = pool::avg_share(gy[oh * g.ow + ow], r, c, count_include_pad);
      for (int64_t ih = r.begin; ih < r.end; ++ih)
        for (int64_t iw = c.begin; iw < c.end; ++iw) dx[ih * g.w + iw] += share;
    }
}

// Ties and NaN: pool::window_max.
template <typename T>
void max_plane(const T* x, T* values, int64_t* indices, const Geometry& g) {
  // Locals, not g's fields: the int64 index stores could alias them and force reloads.
  const int64_t w = g.w, out_w = g.ow;
  for (int64_t oh = 0; oh < g.oh; ++oh) {
    const Span r = g.rows[oh];
    for (int64_t ow = 0; ow < out_w; ++ow) {
      const pool::MaxTap<T> m = pool::window_max(x, w, r, g.cols[ow]);
      values[oh * out_w + ow] = m.value;
      indices[oh * out_w + ow] = m.index;
    }
  }
}

// ---- drivers ---------------------------------------------------------------------------------

void max_forward(const Tensor& x_in, const Tensor& values, const Tensor& indices,
                 const Geometry& g, const char* op) {
  NoGradGuard no_grad;  // layout plumbing, never part of the graph
  const Tensor x = x_in.contiguous();
  FOVEA_DISPATCH_FLOAT(x.dtype(), op, [&] {
    using T = scalar_t;
    const T* px = x.data<T>();
    T* pv = values.data<T>();
    int64_t* pi = indices.data<int64_t>();
    const int64_t in = g.h * g.w, out = g.oh * g.ow;
    for_each_plane(g, [&](int64_t p) { max_plane(px + p * in, pv + p * out, pi + p * out, g); });
  });
}

void scatter_backward(const Tensor& g_in, const Tensor& indices, const Tensor& dx,
                      const char* op) {
  NoGradGuard no_grad;
  const Tensor gy = g_in.contiguous();
  const Geometry g = geometry(dx, gy);
  FOVEA_DISPATCH_FLOAT(dx.dtype(), op, [&] {
    using T = scalar_t;
    const T* pg = gy.data<T>();
    const int64_t* pi = indices.data<int64_t>();
    T* pd = dx.data<T>();
    const int64_t in = g.h * g.w, out = g.oh * g.ow;
    for_each_plane(g, [&](int64_t p) {
      T* plane = pd + p * in;
      std::fill(plane, plane + in, T(0));
      for (int64_t o = p * out; o < (p + 1) * out; ++o)
        if (pi[o] >= 0) plane[pi[o]] += pg[o];
    });
  });
}

void avg_forward(const Tensor& x_in, const Tensor& y, const Geometry& g, bool count_include_pad,
                 const char* op) {
  NoGradGuard no_grad;
  const Tensor x = x_in.contiguous();
  FOVEA_DISPATCH_FLOAT(x.dtype(), op, [&] {
    using T = scalar_t;
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const int64_t in = g.h * g.w, out = g.oh * g.ow;
    for_each_plane(g, [&](int64_t p) {
      avg_plane(px + p * in, py + p * out, g, count_include_pad);
    });
  });
}

void avg_backward(const Tensor& g_in, const Tensor& dx, const Geometry& g,
                  bool count_include_pad, const char* op) {
  NoGradGuard no_grad;
  const Tensor gy = g_in.contiguous();
  FOVEA_DISPATCH_FLOAT(dx.dtype(), op, [&] {
    using T = scalar_t;
    const T* pg = gy.data<T>();
    T* pd = dx.data<T>();
    const int64_t in = g.h * g.w, out = g.oh * g.ow;
    for_each_plane(g, [&](int64_t p) {
      avg_backward_plane(pg + p * out, pd + p * in, g, count_include_pad);
    });
  });
}

}  // namespace

void max_pool2d_forward_cpu(const Tensor& x, const Tensor& values, const Tensor& indices,
                            const Pool2dOptions& opt) {
  max_forward(x, values, indices, window_geometry(x, values, opt), "max_pool2d");
}

void max_pool2d_backward_cpu(const Tensor& g, const Tensor& indices, const Tensor& dx,
                             const Pool2dOptions&) {
  scatter_backward(g, indices, dx, "max_pool2d_backward");
}

void avg_pool2d_forward_cpu(const Tensor& x, const Tensor& y, const Pool2dOptions& opt) {
  avg_forward(x, y, window_geometry(x, y, opt), opt.count_include_pad, "avg_pool2d");
}

void avg_pool2d_backward_cpu(const Tensor& g, const Tensor& dx, const Pool2dOptions& opt) {
  avg_backward(g, dx, window_geometry(dx, g, opt), opt.count_include_pad, "avg_pool2d_backward");
}

void adaptive_avg_pool2d_forward_cpu(const Tensor& x, const Tensor& y) {
  avg_forward(x, y, adaptive_geometry(x, y), true, "adaptive_avg_pool2d");
}

void adaptive_avg_pool2d_backward_cpu(const Tensor& g, const Tensor& dx) {
  avg_backward(g, dx, adaptive_geometry(dx, g), true, "adaptive_avg_pool2d_backward");
}

void adaptive_max_pool2d_forward_cpu(const Tensor& x, const Tensor& values,
                                     const Tensor& indices) {
  max_forward(x, values, indices, adaptive_geometry(x, values), "adaptive_max_pool2d");
}

void adaptive_max_pool2d_backward_cpu(const Tensor& g, const Tensor& indices, const Tensor& dx) {
  scatter_backward(g, indices, dx, "adaptive_max_pool2d_backward");
}

}  // namespace fovea
