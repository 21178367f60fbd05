#include "engine/cpu/conv_depthwise.h"

#include <algorithm>
#include <vector>

#include "engine/core/parallel.h"
#include "engine/kernels/conv.h"

namespace fovea {

using namespace conv_detail;

namespace {

// Calls fn(i, j_lo, j_hi, in_index) for every output row i where tap (p, q) reads the image;
// output column j reads input element in_index + j * sw of the plane.
template <typename Fn>
void for_tap_rows(const Geometry& g, int64_t p, int64_t q, Fn&& fn) {
  const Span rows = tap_rows(g, p), cols = tap_cols(g, q);
  if (cols.lo == cols.hi) return;
  for (int64_t i = rows.lo; i < rows.hi; ++i)
    fn(i, cols.lo, cols.hi, (i * g.sh + g.row_shift(p)) * g.w + g.col_shift(q));
}

// y[n, o] = b[o] + sum over taps of w[o, p, q] * (x[n, o / og] shifted by the tap).
template <typename T>
void forward(const Geometry& g, int64_t og, const T* x, const T* w, const T* b, T* y) {
  const int64_t c_out = g.c * og, taps = g.taps(), len = g.out_plane();
  parallel_for(g.n * c_out, len * taps, [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      const int64_t n = plane / c_out, o = plane % c_out;
      const T* src = x + (n * g.c + o / og) * g.plane();
      T* dst = y + plane * len;
      std::fill(dst, dst + len, b ? b[o] : T(0));
      for (int64_t p = 0; p < g.kh; ++p)
        for (int64_t q = 0; q < g.kw; ++q) {
          const T wv = w[o * taps + p * g.kw + q];
          for_tap_rows(g, p, q, [&](int64_t i, int64_t lo, int64_t hi, int64_t in) {
            T* d = dst + i * g.wo;
            if (g.sw == 1) {
              for (int64_t j = lo; j < hi; ++j) d[j] += wv * src[in + j];
            } else {
              for (int64_t j = lo; j < hi; ++j) d[j] += wv * src[in + j * g.sw];
            }
          });
        }
    }
  });
}

// dx[n, c] = sum over the og outputs o of channel c and the taps of w[o, p, q] * dy[n, o],
// added back at the positions the tap read.
template <typename T>
void backward_input(const Geometry& g, int64_t og, const T* w, const T* dy, T* dx) {
  const int64_t c_out = g.c * og, taps = g.taps(), len = g.out_plane();
  parallel_for(g.n * g.c, og * len * taps, [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      const int64_t n = plane / g.c, c = plane % g.c;
      T* dst = dx + plane * g.plane();
      std::fill(dst, dst + g.plane(), T(0));
      for (int64_t o = c * og; o < (c + 1) * og; ++o) {
        const T* src = dy + (n * c_out + o) * len;
        for (int64_t p = 0; p < g.kh; ++p)
          for (int64_t q = 0; q < g.kw; ++q) {
            const T wv = w[o * taps + p * g.kw + q];
            for_tap_rows(g, p, q, [&](int64_t i, int64_t lo, int64_t hi, int64_t in) {
              const T* s = src + i * g.wo;
              if (g.sw == 1) {
                for (int64_t j = lo; j < hi; ++j) dst[in + j] += wv * s[j];
              } else {
                for (int64_t j = lo; j < hi; ++j) dst[in + j * g.sw] += wv * s[j];
              }
            });
          }
      }
    }
  });
}

// dw[o, p, q] = sum over n and the tap's positions of dy[n, o] * x[n, o / og] (shifted), and
// db[o] = sum of dy[n, o]; one output channel per task. Each image row's few products are
// summed in T (converting every product to double made this the slowest part), the rows in
// double.
template <typename T>
void backward_params(const Geometry& g, int64_t og, const T* x, const T* dy, T* dw, T* db) {
  const int64_t c_out = g.c * og, taps = g.taps(), len = g.out_plane();
  parallel_for(c_out, g.n * len * (taps + 1), [&](int64_t o0, int64_t o1) {
    std::vector<double> acc(static_cast<size_t>(taps));
    for (int64_t o = o0; o < o1; ++o) {
      std::fill(acc.begin(), acc.end(), 0.0);
      double bias = 0;
      for (int64_t n = 0; n < g.n; ++n) {
        const T* src = x + (n * g.c + o / og) * g.plane();
        const T* grad = dy + (n * c_out + o) * len;
        if (db)
          for (int64_t j = 0; j < len; ++j) bias += grad[j];
        if (!dw) continue;
        for (int64_t p = 0; p < g.kh; ++p)
          for (int64_t q = 0; q < g.kw; ++q) {
            double s = 0;
            for_tap_rows(g, p, q, [&](int64_t i, int64_t lo, int64_t hi, int64_t in) {
              const T* gr = grad + i * g.wo;
              T row = 0;
              if (g.sw == 1) {
                for (int64_t j = lo; j < hi; ++j) row += gr[j] * src[in + j];
              } else {
                for (int64_t j = lo; j < hi; ++j) row += gr[j] * src[in + j * g.sw];
              }
              s += row;
            });
            acc[size_t(p * g.kw + q)] += s;
          }
      }
      if (dw)
        for (int64_t t = 0; t < taps; ++t) dw[o * taps + t] = T(acc[size_t(t)]);
      if (db) db[o] = T(bias);
    }
  });
}

Geometry geometry_of(const Tensor& x, const Tensor& w, const Conv2dOptions& opt) {
  return geometry(x.shape(), w.shape()[2], w.shape()[3], opt);
}

}  // namespace

bool conv2d_is_depthwise(const Tensor& x, const Conv2dOptions& opt) {
  return x.shape()[1] == opt.groups;
}

void conv2d_depthwise_forward_cpu(const Tensor& x, const Tensor& w, const Tensor& bias,
                                  const Tensor& y, const Conv2dOptions& opt) {
  const Geometry g = geometry_of(x, w, opt);
  FOVEA_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    using T = scalar_t;
    forward(g, w.shape()[0] / g.c, x.data<T>(), w.data<T>(),
            bias.defined() ? bias.data<T>() : nullptr, y.data<T>());
  });
}

void conv2d_depthwise_backward_cpu(const Tensor& x, const Tensor& w, const Tensor& dy,
                                   const Tensor& dx, const Tensor& dw, const Tensor& db,
                                   const Conv2dOptions& opt) {
  const Geometry g = geometry_of(x, w, opt);
  const int64_t og = w.shape()[0] / g.c;
  FOVEA_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    using T = scalar_t;
    if (dx.defined()) backward_input(g, og, w.data<T>(), dy.data<T>(), dx.data<T>());
    if (dw.defined() || db.defined())
      backward_params(g, og, x.data<T>(), dy.data<T>(), dw.defined() ? dw.data<T>() : nullptr,
                      db.defined() ? db.data<T>() : nullptr);
  });
}

}  // namespace fovea
