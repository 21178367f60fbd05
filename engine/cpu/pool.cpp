#include "engine/cpu/pool.h"

#include "engine/cpu/accumulate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/core/parallel.h"

namespace fovea {

KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Pool2dOptions&)>
    max_pool2d_forward_kernel{"max_pool2d_forward", &max_pool2d_forward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&)> max_pool2d_backward_kernel{
    "max_pool2d_backward", &max_pool2d_backward_cpu};
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

// The window of one output position along one axis: taps begin, begin + step, ... < end lie
// inside the input; `padded` is the window's extent clipped to the padded input, the
// count_include_pad factor of the avg divisor (end - begin for adaptive bins).
struct Span {
  int64_t begin, end, step, padded;
};

// Windows of max_pool2d / avg_pool2d, as PyTorch's CPU kernels clip them.
std::vector<Span> window_spans(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                               int64_t padding, int64_t dilation) {
  std::vector<Span> spans(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * stride - padding, stop = start + (kernel - 1) * dilation + 1;
    // The first tap at or after 0 (taps left of the input are padding).
    const int64_t begin = start < 0 ? start + (-start + dilation - 1) / dilation * dilation : start;
    spans[o] = {begin, std::min(stop, in), dilation, std::min(stop, in + padding) - start};
  }
  return spans;
}

// PyTorch's adaptive bins, [floor(o in / out), ceil((o + 1) in / out)).
std::vector<Span> adaptive_spans(int64_t in, int64_t out) {
  std::vector<Span> spans(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const int64_t begin = o * in / out, end = ((o + 1) * in + out - 1) / out;
    spans[o] = {begin, end, 1, end - begin};
  }
  return spans;
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
  g.rows = window_spans(g.h, g.oh, opt.kernel[0], opt.stride[0], opt.padding[0], opt.dilation[0]);
  g.cols = window_spans(g.w, g.ow, opt.kernel[1], opt.stride[1], opt.padding[1], opt.dilation[1]);
  return g;
}

Geometry adaptive_geometry(const Tensor& in, const Tensor& out) {
  Geometry g = geometry(in, out);
  g.rows = adaptive_spans(g.h, g.oh);
  g.cols = adaptive_spans(g.w, g.ow);
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

// Sum of n contiguous values in double (this is the whole of a global average pool).
template <typename T>
double run_sum(const T* p, int64_t n) {
  return sum4(n, [p](int64_t k) { return double(p[k]); });
}

// Sum of a dense (step 1) window of a plane of width w; full-width windows are one run.
template <typename T>
double window_sum(const T* x, int64_t w, const Span& r, const Span& c) {
  if (c.begin == 0 && c.end == w) return run_sum(x + r.begin * w, (r.end - r.begin) * w);
  double s = 0;
  for (int64_t ih = r.begin; ih < r.end; ++ih) s += run_sum(x + ih * w + c.begin, c.end - c.begin);
  return s;
}

double avg_divisor(const Span& r, const Span& c, bool count_include_pad) {
  return count_include_pad ? double(r.padded * c.padded)
                           : double((r.end - r.begin) * (c.end - c.begin));
}

template <typename T>
void avg_plane(const T* x, T* y, const Geometry& g, bool count_include_pad) {
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const Span &r = g.rows[oh], &c = g.cols[ow];
      y[oh * g.ow + ow] = T(window_sum(x, g.w, r, c) / avg_divisor(r, c, count_include_pad));
    }
}

template <typename T>
void avg_backward_plane(const T* gy, T* dx, const Geometry& g, bool count_include_pad) {
  std::fill(dx, dx + g.h * g.w, T(0));
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const Span &r = g.rows[oh], &c = g.cols[ow];
      const T share = T(double(gy[oh * g.ow + ow]) / avg_divisor(r, c, count_include_pad));
      for (int64_t ih = r.begin; ih < r.end; ++ih)
        for (int64_t iw = c.begin; iw < c.end; ++iw) dx[ih * g.w + iw] += share;
    }
}

// PyTorch's rule: a tap replaces the best so far when it is larger or NaN, so the first of
// equal maxima stays and the last NaN wins. The index starts at the first tap, which an
// all -inf window keeps; a window without taps gives (-inf, -1). The NaN case is a second
// scan, taken only when the window holds a NaN: testing for NaN on every tap inside the
// max chain made the whole kernel about three times slower.
template <typename T>
void max_plane(const T* x, T* values, int64_t* indices, const Geometry& g) {
  // Locals, not g's fields: the int64 index stores could alias them and force reloads.
  const int64_t w = g.w, out_w = g.ow;
  for (int64_t oh = 0; oh < g.oh; ++oh) {
    const Span r = g.rows[oh];
    for (int64_t ow = 0; ow < out_w; ++ow) {
      const Span c = g.cols[ow];
      T best = -std::numeric_limits<T>::infinity();
      int64_t at = r.begin < r.end && c.begin < c.end ? r.begin * w + c.begin : -1;
      bool nan = false;
      for (int64_t ih = r.begin; ih < r.end; ih += r.step)
        for (int64_t iw = c.begin; iw < c.end; iw += c.step) {
          const T v = x[ih * w + iw];
          if (v > best) best = v, at = ih * w + iw;
          nan |= v != v;
        }
      if (nan) {
        best = std::numeric_limits<T>::quiet_NaN();
        for (int64_t ih = r.begin; ih < r.end; ih += r.step)
          for (int64_t iw = c.begin; iw < c.end; iw += c.step)
            if (std::isnan(x[ih * w + iw])) at = ih * w + iw;
      }
      values[oh * out_w + ow] = best;
      indices[oh * out_w + ow] = at;
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

void max_pool2d_backward_cpu(const Tensor& g, const Tensor& indices, const Tensor& dx) {
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
