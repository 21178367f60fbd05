// CUDA twins of the convolution slots (engine/cpu/conv.h), with the geometry of
// engine/kernels/conv.h, which the CPU kernels use too.
//   im2col:  col[(c, p, q), (n, i, j)] = x[n, c, i sH - pH + p dH, j sW - pW + q dW] (0 outside)
//   col2im:  its adjoint, in gather form: each x element sums the col entries read from it
//            (one thread per x element, so no atomics and a fixed order)
//   conv2d_forward:  per chunk of images, im2col into [n, C kH kW, Ho Wo] (image-major), then
//            per group one strided-batched GEMM over the images, y_g[n] = w_g @ col_g[n] (the
//            weights shared: stride 0), then + bias
//   conv2d_backward: dw_g += dy_g[n] @ col_g[n]^T image by image (beta 1: a fixed order);
//            dcol_g[n] = w_g^T @ dy_g[n] batched, then col2im into dx; db = sum of dy over
//            (n, h, w) through the CUDA sum
// Depthwise convolutions (groups == C_in) take the direct kernels of cuda/conv_depthwise.cu.
// The column buffer of a chunk stays under kColumnBytes.
#include <algorithm>

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/cpu/conv.h"
#include "engine/cpu/conv_depthwise.h"
#include "engine/cpu/fill.h"
#include "engine/cpu/reduce.h"
#include "engine/kernels/conv.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"
#include "cuda/blas.cuh"

FOVEA_CUDA_BEGIN

namespace {

using conv_detail::Geometry;

constexpr int64_t kColumnBytes = int64_t(64) << 20;

// Where im2col writes entry (row r, image n, output position s): col[r * row_stride +
// n * image_stride + s]. The slot's layout is [C kH kW, N Ho Wo]; the GEMMs want image-major
// [N, C kH kW, Ho Wo].
struct ColLayout {
  int64_t row_stride, image_stride;
};

__global__ void im2col_k(const float* x, float* col, Geometry g, int64_t n_images,
                         ColLayout layout) {
  const int64_t rows = g.c * g.taps(), plane = g.out_plane();
  GRID_STRIDE_LOOP(e, n_images * rows * plane) {
    const int64_t s = e % plane, r = (e / plane) % rows, n = e / (plane * rows);
    const int64_t c = r / g.taps(), p = (r / g.kw) % g.kh, q = r % g.kw;
    const int64_t h = (s / g.wo) * g.sh + g.row_shift(p), w = (s % g.wo) * g.sw + g.col_shift(q);
    const bool in = h >= 0 && h < g.h && w >= 0 && w < g.w;
    col[r * layout.row_stride + n * layout.image_stride + s] =
        in ? x[((n * g.c + c) * g.h + h) * g.w + w] : 0.f;
  }
}

// x[n, c, h, w] = sum over the taps (p, q) and output positions (i, j) that read (h, w).
__global__ void col2im_k(const float* col, float* x, Geometry g, int64_t n_images,
                         ColLayout layout) {
  GRID_STRIDE_LOOP(e, n_images * g.c * g.plane()) {
    const int64_t w = e % g.w, h = (e / g.w) % g.h, c = (e / g.plane()) % g.c,
                  n = e / (g.c * g.plane());
    double acc = 0;
    for (int64_t p = 0; p < g.kh; ++p) {
      int64_t i, j;
      if (!conv_detail::read_by(h, g.row_shift(p), g.sh, g.ho, &i)) continue;
      for (int64_t q = 0; q < g.kw; ++q) {
        if (!conv_detail::read_by(w, g.col_shift(q), g.sw, g.wo, &j)) continue;
        const int64_t r = (c * g.kh + p) * g.kw + q;
        acc += col[r * layout.row_stride + n * layout.image_stride + i * g.wo + j];
      }
    }
    x[e] = float(acc);
  }
}

// y[n, o, s] += b[o]
__global__ void add_bias_k(float* y, const float* b, int64_t n_out, int64_t c_out,
                           int64_t plane) {
  GRID_STRIDE_LOOP(e, n_out) { y[e] += b[(e / plane) % c_out]; }
}

void launch_im2col(const float* x, float* col, const Geometry& g, int64_t n_images,
                   ColLayout layout) {
  const int64_t total = n_images * g.c * g.taps() * g.out_plane();
  if (total == 0) return;
  KLAUNCH(elementwise_grid(total), kElementwiseBlock, 0, stream(), im2col_k)(x, col, g, n_images,
                                                                             layout);
  FOVEA_CUDA_LAUNCH_CHECK("im2col");
}

void launch_col2im(const float* col, float* x, const Geometry& g, int64_t n_images,
                   ColLayout layout) {
  const int64_t total = n_images * g.c * g.plane();
  if (total == 0) return;
  KLAUNCH(elementwise_grid(total), kElementwiseBlock, 0, stream(), col2im_k)(col, x, g, n_images,
                                                                             layout);
  FOVEA_CUDA_LAUNCH_CHECK("col2im");
}

// The sizes of one convolution's GEMMs.
struct ConvShape {
  Geometry g;
  int64_t groups, c_out, og, cg, k;  // k = cg kH kW: the GEMM's inner size per group
  int64_t chunk;                     // images per column buffer
  int64_t col_per_image() const { return g.c * g.taps() * g.out_plane(); }
};

ConvShape conv_shape(const Tensor& x, const Tensor& w, const Conv2dOptions& opt) {
  ConvShape s;
  s.g = conv_detail::geometry(x.shape(), w.shape()[2], w.shape()[3], opt);
  s.groups = opt.groups;
  s.c_out = w.shape()[0];
  s.og = s.c_out / s.groups;
  s.cg = s.g.c / s.groups;
  s.k = s.cg * s.g.taps();
  const int64_t per_image = std::max<int64_t>(s.col_per_image() * int64_t(sizeof(float)), 1);
  s.chunk = std::max<int64_t>(1, std::min<int64_t>(s.g.n, kColumnBytes / per_image));
  return s;
}

}  // namespace

void conv2d_depthwise_forward_cuda(const Tensor& x, const Tensor& w, const Tensor& bias,
                                   const Tensor& y, const Conv2dOptions& opt);
void conv2d_depthwise_backward_cuda(const Tensor& x, const Tensor& w, const Tensor& dy,
                                    const Tensor& dx, const Tensor& dw, const Tensor& db,
                                    const Conv2dOptions& opt);

void im2col_cuda(const Tensor& x_in, const Tensor& col, int64_t kh, int64_t kw,
                 const Conv2dOptions& opt) {
  require_float32(x_in, "im2col");
  const Tensor x = contiguous(x_in);
  const Geometry g = conv_detail::geometry(x.shape(), kh, kw, opt);
  launch_im2col(x.device_data<float>(), col.device_data<float>(), g, g.n,
                {g.n * g.out_plane(), g.out_plane()});
}

void col2im_cuda(const Tensor& col_in, const Tensor& x, int64_t kh, int64_t kw,
                 const Conv2dOptions& opt) {
  require_float32(col_in, "col2im");
  const Tensor col = contiguous(col_in);
  const Geometry g = conv_detail::geometry(x.shape(), kh, kw, opt);
  launch_col2im(col.device_data<float>(), x.device_data<float>(), g, g.n,
                {g.n * g.out_plane(), g.out_plane()});
}

void conv2d_forward_cuda(const Tensor& x_in, const Tensor& w_in, const Tensor& bias_in,
                         const Tensor& y, const Conv2dOptions& opt) {
  require_float32(x_in, "conv2d");
  if (y.numel() == 0) return;
  const Tensor x = contiguous(x_in), w = contiguous(w_in);
  if (conv2d_is_depthwise(x, opt))
    return conv2d_depthwise_forward_cuda(x, w, bias_in.defined() ? contiguous(bias_in) : Tensor(),
                                         y, opt);
  const ConvShape s = conv_shape(x, w, opt);
  const Geometry& g = s.g;
  const int64_t plane = g.out_plane(), rows = g.c * g.taps();
  Tensor col = empty({s.chunk * s.col_per_image()}, DType::Float32, x.device());
  const float *px = x.device_data<float>(), *pw = w.device_data<float>();
  float *py = y.device_data<float>(), *pc = col.device_data<float>();
  for (int64_t n0 = 0; n0 < g.n; n0 += s.chunk) {
    const int64_t m = std::min(s.chunk, g.n - n0);
    launch_im2col(px + n0 * g.c * g.plane(), pc, g, m, {plane, rows * plane});
    for (int64_t grp = 0; grp < s.groups; ++grp)
      gemm_rowmajor(false, false, s.og, plane, s.k, 1.f, pw + grp * s.og * s.k, s.k, 0,
                    pc + grp * s.k * plane, plane, rows * plane, 0.f,
                    py + (n0 * s.c_out + grp * s.og) * plane, plane, s.c_out * plane, m);
  }
  if (bias_in.defined()) {
    const Tensor b = contiguous(bias_in);
    KLAUNCH(elementwise_grid(y.numel()), kElementwiseBlock, 0, stream(), add_bias_k)(
        py, b.device_data<float>(), y.numel(), s.c_out, plane);
    FOVEA_CUDA_LAUNCH_CHECK("conv2d_forward");
  }
}

void conv2d_backward_cuda(const Tensor& x_in, const Tensor& w_in, const Tensor& dy_in,
                          const Tensor& dx, const Tensor& dw, const Tensor& db,
                          const Conv2dOptions& opt) {
  require_float32(x_in, "conv2d");
  const Tensor x = contiguous(x_in), w = contiguous(w_in), dy = contiguous(dy_in);
  if (conv2d_is_depthwise(x, opt)) return conv2d_depthwise_backward_cuda(x, w, dy, dx, dw, db, opt);
  const ConvShape s = conv_shape(x, w, opt);
  const Geometry& g = s.g;
  const int64_t plane = g.out_plane(), rows = g.c * g.taps();
  if (db.defined()) sum_kernel(x.device(), dy, db, {0, 2, 3});
  if (dw.defined()) fill_kernel(x.device(), dw, 0.0);
  Tensor col = empty({s.chunk * s.col_per_image()}, DType::Float32, x.device());
  const float *px = x.device_data<float>(), *pw = w.device_data<float>(),
              *pdy = dy.device_data<float>();
  float* pc = col.device_data<float>();
  for (int64_t n0 = 0; n0 < g.n; n0 += s.chunk) {
    const int64_t m = std::min(s.chunk, g.n - n0);
    if (dw.defined()) {
      launch_im2col(px + n0 * g.c * g.plane(), pc, g, m, {plane, rows * plane});
      // dw_g [og, k] += dy_g[n] [og, plane] @ col_g[n]^T [plane, k], one image at a time.
      for (int64_t n = 0; n < m; ++n)
        for (int64_t grp = 0; grp < s.groups; ++grp)
          gemm_rowmajor(false, true, s.og, s.k, plane, 1.f,
                        pdy + ((n0 + n) * s.c_out + grp * s.og) * plane, plane, 0,
                        pc + n * rows * plane + grp * s.k * plane, plane, 0, 1.f,
                        dw.device_data<float>() + grp * s.og * s.k, s.k, 0, 1);
    }
    if (dx.defined()) {
      // dcol_g[n] [k, plane] = w_g^T [k, og] @ dy_g[n] [og, plane], batched over the images.
      for (int64_t grp = 0; grp < s.groups; ++grp)
        gemm_rowmajor(true, false, s.k, plane, s.og, 1.f, pw + grp * s.og * s.k, s.k, 0,
                      pdy + (n0 * s.c_out + grp * s.og) * plane, plane, s.c_out * plane, 0.f,
                      pc + grp * s.k * plane, plane, rows * plane, m);
      launch_col2im(pc, dx.device_data<float>() + n0 * g.c * g.plane(), g, m,
                    {plane, rows * plane});
    }
  }
}

void register_conv() {
  im2col_kernel.set_cuda(&im2col_cuda);
  col2im_kernel.set_cuda(&col2im_cuda);
  conv2d_forward_kernel.set_cuda(&conv2d_forward_cuda);
  conv2d_backward_kernel.set_cuda(&conv2d_backward_cuda);
}

FOVEA_CUDA_END
