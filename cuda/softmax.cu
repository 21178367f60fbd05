// CUDA twins of softmax and log_softmax along any dim (engine/cpu/softmax.h), with the
// finishing formulas of engine/kernels/softmax.h, which the CPU kernels call too. The tensors
// are seen as contiguous [outer, D, inner] blocks; each of the outer * inner lines of D
// elements is one algorithm below, run by one thread or one block (cuda/lines.cuh).
//   forward:   m = max x, s = sum exp(x - m) (double); softmax y = exp(x - m) / s,
//              log_softmax y = (x - m) - log s
//   backward:  softmax dx = y (g - sum g y); log_softmax dx = g - exp(y) sum g (sums in double)
#include <algorithm>

#include "engine/autograd/grad_mode.h"
#include "engine/cpu/softmax.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"
#include "cuda/block_reduce.cuh"
#include "cuda/lines.cuh"

FOVEA_CUDA_BEGIN

namespace {

namespace sm = ::fovea::softmax_math;

template <bool kLog>
struct Forward {
  const float* x;
  float* y;
  template <class L>
  __device__ void operator()(const L& line, int64_t) const {
    const float m = line.max([&](int64_t k) { return x[line.at(k)]; });
    const double s = line.sum([&](int64_t k) { return double(fast_exp(x[line.at(k)] - m)); });
    if (kLog) {
      const float log_sum = float(fm::log(s));
      line.each([&](int64_t k) {
        y[line.at(k)] = sm::log_softmax_value(x[line.at(k)], m, log_sum);
      });
    } else {
      const float scale = float(1.0 / s);
      line.each([&](int64_t k) { y[line.at(k)] = sm::softmax_value(x[line.at(k)], m, scale); });
    }
  }
};

template <bool kLog>
struct Backward {
  const float *y, *g;
  float* dx;
  template <class L>
  __device__ void operator()(const L& line, int64_t) const {
    if (kLog) {
      const float total = float(line.sum([&](int64_t k) { return double(g[line.at(k)]); }));
      line.each([&](int64_t k) {
        dx[line.at(k)] = sm::log_softmax_grad(y[line.at(k)], g[line.at(k)], total);
      });
    } else {
      const float dot = float(line.sum([&](int64_t k) {
        return double(g[line.at(k)]) * double(y[line.at(k)]);
      }));
      line.each([&](int64_t k) {
        dx[line.at(k)] = sm::softmax_grad(y[line.at(k)], g[line.at(k)], dot);
      });
    }
  }
};

using softmax_math::Lines;
using softmax_math::lines_of;

template <bool kLog>
void forward(const Tensor& x_in, const Tensor& y, int64_t dim, const char* op) {
  require_float32(x_in, op);
  NoGradGuard no_grad;
  const Tensor x = x_in.contiguous();
  const Lines l = lines_of(x.shape(), dim);
  launch_lines(op, l.outer, l.d, l.inner,
               Forward<kLog>{x.device_data<float>(), y.device_data<float>()});
}

template <bool kLog>
void backward(const Tensor& y_in, const Tensor& g_in, const Tensor& dx, int64_t dim,
              const char* op) {
  require_float32(y_in, op);
  NoGradGuard no_grad;
  const Tensor y = y_in.contiguous(), g = g_in.contiguous();
  const Lines l = lines_of(y.shape(), dim);
  launch_lines(op, l.outer, l.d, l.inner,
               Backward<kLog>{y.device_data<float>(), g.device_data<float>(),
                              dx.device_data<float>()});
}

}  // namespace

void softmax_forward_cuda(const Tensor& x, const Tensor& y, int64_t dim) {
  forward<false>(x, y, dim, "softmax");
}
void softmax_backward_cuda(const Tensor& y, const Tensor& g, const Tensor& dx, int64_t dim) {
  backward<false>(y, g, dx, dim, "softmax");
}
void log_softmax_forward_cuda(const Tensor& x, const Tensor& y, int64_t dim) {
  forward<true>(x, y, dim, "log_softmax");
}
void log_softmax_backward_cuda(const Tensor& y, const Tensor& g, const Tensor& dx, int64_t dim) {
  backward<true>(y, g, dx, dim, "log_softmax");
}

void register_softmax() {
  softmax_forward_kernel.set_cuda(&softmax_forward_cuda);
  softmax_backward_kernel.set_cuda(&softmax_backward_cuda);
  log_softmax_forward_kernel.set_cuda(&log_softmax_forward_cuda);
  log_softmax_backward_kernel.set_cuda(&log_softmax_backward_cuda);
}

FOVEA_CUDA_END
