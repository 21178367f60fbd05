#include "engine/cpu/conv.h"

#include "engine/cpu/blas.h"


#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/core/parallel.h"
#include "engine/cpu/conv_depthwise.h"
#include "engine/kernels/conv.h"


namespace fovea {

KernelSlot<void(const Tensor&, const Tensor&, int64_t, int64_t, const Conv2dOptions&)>
    im2col_kernel{"im2col", &im2col_cpu};
KernelSlot<void(const Tensor&, const Tensor&, int64_t, int64_t, const Conv2dOptions&)>
    col2im_kernel{"col2im", &col2im_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Conv2dOptions&)>
    conv2d_forward_kernel{"conv2d_forward", &conv2d_forward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                const Tensor&, const Conv2dOptions&)>
    conv2d_backward_kernel{"conv2d_backward", &conv2d_backward_cpu};

using namespace conv_detail;

namespace {

// A column matrix of a chunk of images is kept near this size so that im2col's writes are
// still in cache when the GEMM reads them (and col2im's reads after the GEMM writes them).
constexpr int64_t kColumnBytes = 1 << 20;
// Images are chunked until a GEMM has about this many columns (when the buffer allows it).
constexpr int64_t kTargetColumns = 1024;

// Walks the valid entries of column-matrix rows [r0, r1) (row = (c, p, q), over `nb` images
// starting at x, `image` elements apart): visit(col_row_segment, x_row, x_start, Span, step)
// for every output row i that reads an image row, fill(col_segment, count) for the parts
// that read padding. Shared by im2col (copy out) and col2im (add back).
template <typename T, typename X, typename Visit, typename Fill>
void for_each_tap_row(const Geometry& g, X* x, int64_t image, int64_t nb, T* col, int64_t ld,
                      int64_t r0, int64_t r1, Visit&& visit, Fill&& fill) {
  const int64_t out_plane = g.out_plane();
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t c = r / g.taps(), p = (r / g.kw) % g.kh, q = r % g.kw;
    const Span rows = tap_rows(g, p), cols = tap_cols(g, q);
    for (int64_t n = 0; n < nb; ++n) {
      X* src = x + n * image + c * g.plane();
      T* dst = col + r * ld + n * out_plane;
      fill(dst, rows.lo * g.wo);
      for (int64_t i = rows.lo; i < rows.hi; ++i) {
        T* d = dst + i * g.wo;
        fill(d, cols.lo);
        visit(d, src + (i * g.sh + g.row_shift(p)) * g.w, g.col_shift(q), cols, g.sw);
        fill(d + cols.hi, g.wo - cols.hi);
      }
      fill(dst + rows.hi * g.wo, (g.ho - rows.hi) * g.wo);
    }
  }
}

// im2col of rows [r0, r1) of the column matrix of nb images: col has leading dimension ld.
template <typename T>
void im2col_rows(const Geometry& g, const T* x, int64_t image, int64_t nb, T* col, int64_t ld,
                 int64_t r0, int64_t r1) {
  if (g.sh == 1 && g.sw == 1 && g.wo == g.w) {
    // Stride 1 with "same" width: a tap's column row is the image plane shifted by a constant
    // offset, so the valid part is one block copy; only the wrapped-around entries at the row
    // ends (which must read padding) are fixed up afterwards. Per-row copies of short rows
    // (8x8 planes) cost more than the copy itself.
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r / g.taps(), p = (r / g.kw) % g.kh, q = r % g.kw;
      const Span rows = tap_rows(g, p), cols = tap_cols(g, q);
      for (int64_t n = 0; n < nb; ++n) {
        const T* src = x + n * image + c * g.plane();
        T* dst = col + r * ld + n * g.out_plane();
        std::fill(dst, dst + rows.lo * g.wo, T(0));
        std::fill(dst + rows.hi * g.wo, dst + g.out_plane(), T(0));
        if (rows.lo == rows.hi || cols.lo == cols.hi) {
          std::fill(dst + rows.lo * g.wo, dst + rows.hi * g.wo, T(0));
          continue;
        }
        // From the first valid entry to the last one: all of it lies inside the plane.
        const int64_t first = rows.lo * g.wo + cols.lo;
        const int64_t count = (rows.hi - 1 - rows.lo) * g.wo + (cols.hi - cols.lo);
        std::memcpy(dst + first, src + first + g.row_shift(p) * g.w + g.col_shift(q),
                    sizeof(T) * count);
        for (int64_t i = rows.lo; i < rows.hi; ++i) {
          T* d = dst + i * g.wo;
          for (int64_t j = 0; j < cols.lo; ++j) d[j] = T(0);
          for (int64_t j = cols.hi; j < g.wo; ++j) d[j] = T(0);
        }
      }
    }
    return;
  }
  for_each_tap_row(
      g, x, image, nb, col, ld, r0, r1,
      [](T* d, const T* row, int64_t start, Span s, int64_t step) {
        for (int64_t j = s.lo; j < s.hi; ++j) d[j] = row[start + j * step];
      },
      [](T* d, int64_t count) { std::fill(d, d + count, T(0)); });
}

// col2im into channels [c0, c1) of nb images: zeroes their planes, then adds back every
// column entry of those channels' rows.
template <typename T>
void col2im_channels(const Geometry& g, const T* col, int64_t ld, int64_t nb, T* x, int64_t image,
                     int64_t c0, int64_t c1) {
  for (int64_t n = 0; n < nb; ++n)
    std::fill(x + n * image + c0 * g.plane(), x + n * image + c1 * g.plane(), T(0));
  for_each_tap_row(
      g, x, image, nb, col, ld, c0 * g.taps(), c1 * g.taps(),
      [](const T* d, T* row, int64_t start, Span s, int64_t step) {
        for (int64_t j = s.lo; j < s.hi; ++j) row[start + j * step] += d[j];
      },
      [](const T*, int64_t) {});
}

using blas::gemm;

// Per-thread scratch memory kept across calls: the column and output buffers of every conv on
// a thread are reused instead of being allocated (and page-faulted in) on each call.
template <typename T>
T* scratch(int slot, int64_t n) {
  thread_local std::vector<T> buffers[2];
  if (int64_t(buffers[slot].size()) < n) buffers[slot].resize(size_t(n));
  return buffers[slot].data();
}

template <typename T>
struct Matrix {
  T* p;
  int64_t ld;
};

// One conv2d call: geometry, raw pointers and the per-chunk steps of forward and backward.
// A worker handles chunks of images with its own buffers. `inner` says that the worker is
// alone and spreads each step over the threads instead: im2col and dw over rows of the column
// matrix, the forward GEMM over its columns, dx over input channels (so col2im's writes never
// meet). GEMMs always run single-threaded inside fovea's own threads.
template <typename T>
struct Conv {
  Geometry g;
  int64_t groups, c_out, cg, og, k;  // k = cg kh kw: the GEMM depth of one group
  int64_t nb;                        // images per chunk

  Conv(const Geometry& geo, int64_t c_out_, int64_t groups_, int64_t images_per_worker)
      : g(geo), groups(groups_), c_out(c_out_), cg(geo.c / groups_), og(c_out_ / groups_) {
    k = cg * g.taps();
    const int64_t per_image = std::max<int64_t>(1, g.out_plane());
    const int64_t by_bytes = kColumnBytes / int64_t(sizeof(T)) / (k * per_image);
    nb = std::clamp<int64_t>(std::min(by_bytes, kTargetColumns / per_image), 1,
                             std::max<int64_t>(1, images_per_worker));
  }
  int64_t image() const { return g.c * g.plane(); }
  int64_t out_image() const { return c_out * g.out_plane(); }
  int64_t col_size() const { return k * nb * g.out_plane(); }
  int64_t out_size() const { return og * nb * g.out_plane(); }

  // body(b, e) over [0, n): spread over the threads when inner, else in one call.
  template <typename Body>
  static void split(bool inner, int64_t n, int64_t cost, Body&& body) {
    if (inner) parallel_for(n, cost, body);
    else body(int64_t(0), n);
  }

  // The column matrix of group `grp` for images [n0, n0 + m): x itself when direct and m == 1.
  Matrix<const T> columns(const T* x, int64_t n0, int64_t m, int64_t grp, T* buf,
                          bool inner) const {
    const T* src = x + n0 * image() + grp * cg * g.plane();
    if (g.direct() && m == 1) return {src, g.plane()};
    const int64_t ld = m * g.out_plane();
    split(inner, k, ld, [&](int64_t r0, int64_t r1) {
      im2col_rows(g, src, image(), m, buf, ld, r0, r1);
    });
    return {buf, ld};
  }

  // Rows of group grp of an [N, c_out, ho, wo] tensor for images [n0, n0 + m) as one
  // [og, m ho wo] matrix: the tensor itself when m == 1, else buf (filled by the caller).
  Matrix<T> out_rows(T* y, int64_t n0, int64_t m, int64_t grp, T* buf) const {
    if (m > 1) return {buf, m * g.out_plane()};
    return {y + n0 * out_image() + grp * og * g.out_plane(), g.out_plane()};
  }
  // The same rows of dy, gathered into buf when m > 1.
  Matrix<const T> dy_rows(const T* dy, int64_t n0, int64_t m, int64_t grp, T* buf) const {
    const int64_t len = g.out_plane();
    const T* first = dy + n0 * out_image() + grp * og * len;
    if (m == 1) return {first, len};
    for (int64_t o = 0; o < og; ++o)
      for (int64_t i = 0; i < m; ++i)
        std::memcpy(buf + (o * m + i) * len, first + i * out_image() + o * len, sizeof(T) * len);
    return {buf, m * len};
  }
  // Moves a gathered output (m > 1) to its place in y, adding the bias on the way.
  void scatter(Matrix<T> src, T* y, int64_t n0, int64_t m, int64_t grp, const T* bias) const {
    if (m == 1 && !bias) return;
    const int64_t len = g.out_plane();
    for (int64_t o = 0; o < og; ++o) {
      const T b = bias ? bias[grp * og + o] : T(0);
      for (int64_t i = 0; i < m; ++i) {
        T* dst = y + (n0 + i) * out_image() + (grp * og + o) * len;
        const T* s = src.p + o * src.ld + i * len;  // == dst when m == 1
        for (int64_t j = 0; j < len; ++j) dst[j] = s[j] + b;
      }
    }
  }

  void forward_chunk(const T* x, const T* w, const T* bias, T* y, int64_t n0, int64_t m, T* col,
                     T* out, bool inner) const {
    const int64_t cols = m * g.out_plane();
    for (int64_t grp = 0; grp < groups; ++grp) {
      const Matrix<const T> a = columns(x, n0, m, grp, col, inner);
      const Matrix<T> c = out_rows(y, n0, m, grp, out);
      split(inner, cols, og * k, [&](int64_t j0, int64_t j1) {
        gemm(false, false, og, j1 - j0, k, w + grp * og * k, k, a.p + j0, a.ld, T(0), c.p + j0,
             c.ld);
      });
      scatter(c, y, n0, m, grp, bias);
    }
  }

  // Adds this chunk's dw (transposed: into dw_t, [groups, k, og]) and db (into db_acc, in
  // double) and writes its dx. dw is formed transposed, col dy^T, because BLAS runs that
  // shape (a tall result, og columns) 5-25% faster than dy col^T (og rows).
  void backward_chunk(const T* x, const T* w, const T* dy, T* dx, T* dw_t, double* db_acc,
                      int64_t n0, int64_t m, T* col, T* dy_buf, bool inner) const {
    const int64_t cols = m * g.out_plane();
    const bool in_place = g.direct() && m == 1;  // x and dx are the column matrices
    for (int64_t grp = 0; grp < groups; ++grp) {
      const Matrix<const T> d = dy_rows(dy, n0, m, grp, dy_buf);
      if (db_acc) {
        for (int64_t o = 0; o < og; ++o) {
          double s = 0;
          for (int64_t j = 0; j < cols; ++j) s += d.p[o * d.ld + j];
          db_acc[grp * og + o] += s;
        }
      }
      const T* xg = x + n0 * image() + grp * cg * g.plane();
      if (dw_t) {
        split(inner, k, cols * (og + 1), [&](int64_t r0, int64_t r1) {
          Matrix<const T> a{xg, g.plane()};
          if (!in_place) {
            im2col_rows(g, xg, image(), m, col, cols, r0, r1);
            a = {col, cols};
          }
          gemm(false, true, r1 - r0, og, cols, a.p + r0 * a.ld, a.ld, d.p, d.ld, T(1),
               dw_t + (grp * k + r0) * og, og);
        });
      }
      if (dx) {
        const T* wg = w + grp * og * k;
        T* dxg = dx + n0 * image() + grp * cg * g.plane();
        split(inner, cg, g.taps() * cols * (og + 1), [&](int64_t c0, int64_t c1) {
          const int64_t r0 = c0 * g.taps(), r1 = c1 * g.taps();
          if (in_place) {
            gemm(true, false, r1 - r0, cols, og, wg + r0, k, d.p, d.ld, T(0), dxg + r0 * g.plane(),
                 g.plane());
            return;
          }
          gemm(true, false, r1 - r0, cols, og, wg + r0, k, d.p, d.ld, T(0), col + r0 * cols, cols);
          col2im_channels(g, col, cols, m, dxg, image(), c0, c1);
        });
      }
    }
  }
};

// Runs chunk(worker, n0, m, inner) over all images. With at least as many images as threads
// (and enough work to be worth a fork), each thread takes a contiguous range of images;
// otherwise one worker goes through the chunks with inner parallelism. Either way OpenBLAS
// stays single-threaded, so that only one thread pool (OpenMP's) works on the cores.
// Returns the number of workers used.
template <typename Chunk>
int64_t for_each_chunk(int64_t images, int64_t nb_hint, int64_t work, Chunk&& chunk) {
  const int64_t threads = get_num_threads();
  blas::SingleThreaded single_threaded_blas;
  if (threads == 1 || images < threads || work < parallel_grain() * 16) {
    for (int64_t n0 = 0; n0 < images; n0 += nb_hint)
      chunk(int64_t(0), n0, std::min(nb_hint, images - n0), threads > 1);
    return 1;
  }
#pragma omp parallel num_threads(int(threads))
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t b = images * t / nt, e = images * (t + 1) / nt;
    for (int64_t n0 = b; n0 < e; n0 += nb_hint) chunk(t, n0, std::min(nb_hint, e - n0), false);
  }
  return threads;
}

int64_t images_per_worker(int64_t images) {
  const int64_t t = get_num_threads();
  return images >= t ? (images + t - 1) / t : images;
}

}  // namespace

void im2col_cpu(const Tensor& x_in, const Tensor& col, int64_t kh, int64_t kw,
                const Conv2dOptions& opt) {
  NoGradGuard no_grad;
  const Tensor x = x_in.contiguous();
  const Geometry g = geometry(x.shape(), kh, kw, opt);
  if (col.numel() == 0) return;
  FOVEA_DISPATCH_FLOAT(x.dtype(), "im2col", [&] {
    using T = scalar_t;
    const int64_t ld = g.n * g.out_plane();
    parallel_for(g.c * g.taps(), ld, [&](int64_t r0, int64_t r1) {
      im2col_rows(g, x.data<T>(), g.c * g.plane(), g.n, col.data<T>(), ld, r0, r1);
    });
  });
}

void col2im_cpu(const Tensor& col_in, const Tensor& x, int64_t kh, int64_t kw,
                const Conv2dOptions& opt) {
  NoGradGuard no_grad;
  const Tensor col = col_in.contiguous();
  const Geometry g = geometry(x.shape(), kh, kw, opt);
  if (x.numel() == 0) return;
  FOVEA_DISPATCH_FLOAT(x.dtype(), "col2im", [&] {
    using T = scalar_t;
    const int64_t ld = g.n * g.out_plane();
    parallel_for(g.c, g.taps() * ld, [&](int64_t c0, int64_t c1) {
      col2im_channels(g, col.data<T>(), ld, g.n, x.data<T>(), g.c * g.plane(), c0, c1);
    });
  });
}

void conv2d_forward_cpu(const Tensor& x_in, const Tensor& w_in, const Tensor& bias_in,
                        const Tensor& y, const Conv2dOptions& opt) {
  NoGradGuard no_grad;
  if (y.numel() == 0) return;
  const Tensor x = x_in.contiguous(), w = w_in.contiguous();
  const Tensor bias = bias_in.defined() ? bias_in.contiguous() : Tensor();
  if (conv2d_is_depthwise(x, opt)) return conv2d_depthwise_forward_cpu(x, w, bias, y, opt);
  const Geometry g = geometry(x.shape(), w.shape()[2], w.shape()[3], opt);
  FOVEA_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    using T = scalar_t;
    const Conv<T> conv(g, w.shape()[0], opt.groups, images_per_worker(g.n));
    const T *px = x.data<T>(), *pw = w.data<T>(), *pb = bias.defined() ? bias.data<T>() : nullptr;
    T* py = y.data<T>();
    const int64_t work = y.numel() * conv.k;
    for_each_chunk(g.n, conv.nb, work, [&](int64_t, int64_t n0, int64_t m, bool inner) {
      conv.forward_chunk(px, pw, pb, py, n0, m, scratch<T>(0, conv.col_size()),
                         scratch<T>(1, conv.out_size()), inner);
    });
  });
}

void conv2d_backward_cpu(const Tensor& x_in, const Tensor& w_in, const Tensor& dy_in,
                         const Tensor& dx, const Tensor& dw, const Tensor& db,
                         const Conv2dOptions& opt) {
  NoGradGuard no_grad;
  const Tensor x = x_in.contiguous(), w = w_in.contiguous(), dy = dy_in.contiguous();
  if (conv2d_is_depthwise(x, opt))
    return conv2d_depthwise_backward_cpu(x, w, dy, dx, dw, db, opt);
  const Geometry g = geometry(x.shape(), w.shape()[2], w.shape()[3], opt);
  const int64_t c_out = w.shape()[0];
  FOVEA_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    using T = scalar_t;
    const Conv<T> conv(g, c_out, opt.groups, images_per_worker(g.n));
    const size_t threads = size_t(get_num_threads()), wsize = size_t(w.numel());
    // Per-worker partial sums of dw (transposed per group) and db.
    std::vector<std::vector<T>> dw_part(threads);
    std::vector<std::vector<double>> db_part(threads);
    const T *px = x.data<T>(), *pw = w.data<T>(), *pdy = dy.data<T>();
    T* pdx = dx.defined() ? dx.data<T>() : nullptr;
    const int64_t work = dy.numel() * conv.k * (int64_t(dx.defined()) + int64_t(dw.defined()));
    const int64_t workers = for_each_chunk(g.n, conv.nb, work, [&](int64_t t, int64_t n0, int64_t m,
                                                                   bool inner) {
      if (dw.defined() && dw_part[t].empty()) dw_part[t].assign(wsize, T(0));
      if (db.defined() && db_part[t].empty()) db_part[t].assign(size_t(c_out), 0.0);
      T* dwt = dw.defined() ? dw_part[t].data() : nullptr;
      conv.backward_chunk(px, pw, pdy, pdx, dwt, db.defined() ? db_part[t].data() : nullptr, n0,
                          m, scratch<T>(0, conv.col_size()), scratch<T>(1, conv.out_size()), inner);
    });
    if (dw.defined()) {
      // dw[g og + o, r] = sum over workers of part[g][r][o]
      T* pdw = dw.data<T>();
      const int64_t og = conv.og, k = conv.k;
      std::fill(pdw, pdw + wsize, T(0));
      for (int64_t t = 0; t < workers; ++t) {
        if (dw_part[t].empty()) continue;
        const T* part = dw_part[t].data();
        for (int64_t grp = 0; grp < opt.groups; ++grp)
          for (int64_t o = 0; o < og; ++o)
            for (int64_t r = 0; r < k; ++r)
              pdw[(grp * og + o) * k + r] += part[(grp * k + r) * og + o];
      }
    }
    if (db.defined()) {
      T* pdb = db.data<T>();
      for (int64_t o = 0; o < c_out; ++o) {
        double s = 0;
        for (int64_t t = 0; t < workers; ++t)
          if (!db_part[t].empty()) s += db_part[t][o];
        pdb[o] = T(s);
      }
    }
  });
}

}  // namespace fovea
