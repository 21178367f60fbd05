// CUDA twins of the element-wise unary slots (engine/cpu/unary.h), with the math of
// engine/ops/unary_functors.h, which the CPU kernels call too:
//   unary_forward:  y = f(x)
//   unary_backward: dx = f'(x, y) * g      (x, y, g and dx all of dx's shape, any strides)
#include "engine/cpu/unary.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"
#include "cuda/elementwise.cuh"

FOVEA_CUDA_BEGIN

namespace {

template <class F>
struct UnaryForwardBody {
  F f;
  float* y;
  const float* x;
  __device__ void operator()(const int64_t (&off)[2]) const {
    y[off[0]] = f.template forward<float>(x[off[1]]);
  }
};

template <class F>
struct UnaryBackwardBody {
  F f;
  float* dx;
  const float *x, *y, *g;
  __device__ void operator()(const int64_t (&off)[4]) const {
    dx[off[0]] = f.template backward<float>(x[off[1]], y[off[2]], g[off[3]]);
  }
};

}  // namespace

void unary_forward_cuda(const UnaryOp& op, const Tensor& y, const Tensor& x) {
  const char* name = unary_name(op.kind);
  require_float32(x, name);
  visit_unary(op, [&](auto f) {
    launch_elementwise<2>(name, y.shape(), {y.strides(), x.strides()},
                          UnaryForwardBody<decltype(f)>{f, y.device_data<float>(),
                                                        x.device_data<float>()});
  });
}

void unary_backward_cuda(const UnaryOp& op, const Tensor& dx, const Tensor& x, const Tensor& y,
                         const Tensor& g) {
  const char* name = unary_name(op.kind);
  require_float32(x, name);
  visit_unary(op, [&](auto f) {
    launch_elementwise<4>(name, dx.shape(), {dx.strides(), x.strides(), y.strides(), g.strides()},
                          UnaryBackwardBody<decltype(f)>{f, dx.device_data<float>(),
                                                         x.device_data<float>(),
                                                         y.device_data<float>(),
                                                         g.device_data<float>()});
  });
}

void register_unary() {
  unary_forward_kernel.set_cuda(&unary_forward_cuda);
  unary_backward_kernel.set_cuda(&unary_backward_cuda);
}

FOVEA_CUDA_END
