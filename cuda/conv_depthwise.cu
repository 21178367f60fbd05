// CUDA twins of the direct depthwise kernels (engine/cpu/conv_depthwise.h): convolutions in
// which every output channel o reads one input channel c = o / m (groups == C_in, channel
// multiplier m = C_out / C_in). im2col + GEMM would run one tiny GEMM per channel; these loop
// over the taps instead. Geometry from engine/kernels/conv.h.
//   forward:  y[n, o, i, j] = b[o] + sum over taps (p, q) of w[o, p, q] x[n, c, i sH - pH + p dH,
//             j sW - pW + q dW], one thread per output
//   dx:       gather form, one thread per input element: the (o, tap, output) triples that read
//             it, so no atomics
//   dw:       one block per (o, p, q): the sum over n, i, j of dy x, through block_reduce_sum
//   db:       the CUDA sum of dy over (n, h, w)
#include <algorithm>

#include "engine/cpu/conv.h"
#include "engine/cpu/fill.h"
#include "engine/cpu/reduce.h"
#include "engine/kernels/conv.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"
#include "cuda/block_reduce.cuh"

FOVEA_CUDA_BEGIN

namespace {

using conv_detail::Geometry;

constexpr int kTapBlock = 256;

__global__ void depthwise_forward_k(const float* x, const float* w, const float* b, float* y,
                                    Geometry g, int64_t c_out) {
  const int64_t m = c_out / g.c;
  GRID_STRIDE_LOOP(e, g.n * c_out * g.out_plane()) {
    const int64_t j = e % g.wo, i = (e / g.wo) % g.ho, o = (e / g.out_plane()) % c_out,
                  n = e / (c_out * g.out_plane());
    const float* plane = x + (n * g.c + o / m) * g.plane();
    const float* wo = w + o * g.taps();
    float acc = b ? b[o] : 0.f;
    for (int64_t p = 0; p < g.kh; ++p) {
      const int64_t h = i * g.sh + g.row_shift(p);
      if (h < 0 || h >= g.h) continue;
      for (int64_t q = 0; q < g.kw; ++q) {
        const int64_t v = j * g.sw + g.col_shift(q);
        if (v >= 0 && v < g.w) acc += wo[p * g.kw + q] * plane[h * g.w + v];
      }
    }
    y[e] = acc;
  }
}

__global__ void depthwise_dx_k(const float* dy, const float* w, float* dx, Geometry g,
                               int64_t c_out) {
  const int64_t m = c_out / g.c;
  GRID_STRIDE_LOOP(e, g.n * g.c * g.plane()) {
    const int64_t v = e % g.w, h = (e / g.w) % g.h, c = (e / g.plane()) % g.c,
                  n = e / (g.c * g.plane());
    float acc = 0.f;
    for (int64_t o = c * m; o < (c + 1) * m; ++o) {
      const float* dyo = dy + (n * c_out + o) * g.out_plane();
      for (int64_t p = 0; p < g.kh; ++p) {
        int64_t i, j;
        if (!conv_detail::read_by(h, g.row_shift(p), g.sh, g.ho, &i)) continue;
        for (int64_t q = 0; q < g.kw; ++q)
          if (conv_detail::read_by(v, g.col_shift(q), g.sw, g.wo, &j))
            acc += w[o * g.taps() + p * g.kw + q] * dyo[i * g.wo + j];
      }
    }
    dx[e] = acc;
  }
}

template <int BLOCK>
__global__ void __launch_bounds__(BLOCK)
    depthwise_dw_k(const float* x, const float* dy, float* dw, Geometry g, int64_t c_out) {
  const int64_t m = c_out / g.c, rows = c_out * g.taps(), per_row = g.n * g.out_plane();
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {  // uniform in the block
    const int64_t o = r / g.taps(), p = (r % g.taps()) / g.kw, q = r % g.kw;
    double acc = 0;
    for (int64_t k = threadIdx.x; k < per_row; k += BLOCK) {
      const int64_t j = k % g.wo, i = (k / g.wo) % g.ho, n = k / g.out_plane();
      const int64_t h = i * g.sh + g.row_shift(p), v = j * g.sw + g.col_shift(q);
      if (h >= 0 && h < g.h && v >= 0 && v < g.w)
        acc += double(dy[(n * c_out + o) * g.out_plane() + i * g.wo + j]) *
               double(x[((n * g.c + o / m) * g.h + h) * g.w + v]);
    }
    const double total = block_reduce_sum<BLOCK>(acc);
    if (threadIdx.x == 0) dw[r] = float(total);
  }
}

}  // namespace

void conv2d_depthwise_forward_cuda(const Tensor& x, const Tensor& w, const Tensor& bias,
                                   const Tensor& y, const Conv2dOptions& opt) {
  const Geometry g = conv_detail::geometry(x.shape(), w.shape()[2], w.shape()[3], opt);
  const int64_t c_out = w.shape()[0];
  if (y.numel() == 0) return;
  KLAUNCH(elementwise_grid(y.numel()), kElementwiseBlock, 0, stream(), depthwise_forward_k)(
      x.device_data<float>(), w.device_data<float>(),
      bias.defined() ? bias.device_data<float>() : nullptr, y.device_data<float>(), g, c_out);
  FOVEA_CUDA_LAUNCH_CHECK("conv2d_forward");
}

void conv2d_depthwise_backward_cuda(const Tensor& x, const Tensor& w, const Tensor& dy,
                                    const Tensor& dx, const Tensor& dw, const Tensor& db,
                                    const Conv2dOptions& opt) {
  const Geometry g = conv_detail::geometry(x.shape(), w.shape()[2], w.shape()[3], opt);
  const int64_t c_out = w.shape()[0];
  if (db.defined()) sum_kernel(x.device(), dy, db, {0, 2, 3});
  if (dx.defined() && dx.numel() > 0) {
    KLAUNCH(elementwise_grid(dx.numel()), kElementwiseBlock, 0, stream(), depthwise_dx_k)(
        dy.device_data<float>(), w.device_data<float>(), dx.device_data<float>(), g, c_out);
    FOVEA_CUDA_LAUNCH_CHECK("conv2d_backward");
  }
  if (dw.defined() && dw.numel() > 0) {
    const unsigned grid = unsigned(std::min<int64_t>(dw.numel(), 4096));
    KLAUNCH(grid, kTapBlock, 0, stream(), depthwise_dw_k<kTapBlock>)(
        x.device_data<float>(), dy.device_data<float>(), dw.device_data<float>(), g, c_out);
    FOVEA_CUDA_LAUNCH_CHECK("conv2d_backward");
  }
}

FOVEA_CUDA_END
