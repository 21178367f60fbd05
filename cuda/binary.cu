// CUDA twins of the element-wise binary slots (engine/cpu/binary.h), with the math of
// engine/ops/binary_functors.h, which the CPU kernels call too:
//   binary_forward:  out = f(a, b), a and b broadcast to out's shape (float32; int64 for add,
//                    sub, mul, maximum, minimum and the comparisons, as on the CPU)
//   binary_backward: grad_elem = g * df/d(side) at out's shape (the op sums it to the operand's
//                    shape); y may be undefined for ops whose derivative does not read it
//   where_forward:   out = cond != 0 ? a : b, all broadcast to out's shape
#include "engine/cpu/binary.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"
#include "cuda/elementwise.cuh"

FOVEA_CUDA_BEGIN

namespace {

Shape strides_in(const Tensor& t, const Shape& shape) {
  return broadcast_strides(t.shape(), t.strides(), shape);
}

template <class T, class F>
struct BinaryForwardBody {
  F f;
  T* out;
  const T *a, *b;
  __device__ void operator()(const int64_t (&off)[3]) const {
    out[off[0]] = f.template forward<T>(a[off[1]], b[off[2]]);
  }
};

template <class F>
struct BinaryBackwardBody {
  F f;
  int side;
  float* ge;
  const float *a, *b, *y, *g;
  __device__ void operator()(const int64_t (&off)[5]) const {
    const float av = a[off[1]], bv = b[off[2]], yv = y[off[3]], gv = g[off[4]];
    ge[off[0]] = side == 0 ? f.template grad_a<float>(av, bv, yv, gv)
                           : f.template grad_b<float>(av, bv, yv, gv);
  }
};

template <class T, class C>
struct WhereBody {
  T* out;
  const C* cond;
  const T *a, *b;
  __device__ void operator()(const int64_t (&off)[4]) const {
    out[off[0]] = cond[off[1]] != C(0) ? a[off[2]] : b[off[3]];
  }
};

template <class T, class F>
void forward_typed(BinaryKind kind, F f, const Tensor& out, const Tensor& a, const Tensor& b) {
  const Shape& s = out.shape();
  launch_elementwise<3>(binary_name(kind), s, {out.strides(), strides_in(a, s), strides_in(b, s)},
                        BinaryForwardBody<T, F>{f, out.device_data<T>(), a.device_data<T>(),
                                                b.device_data<T>()});
}

}  // namespace

void binary_forward_cuda(BinaryKind kind, const Tensor& out, const Tensor& a, const Tensor& b) {
  if (out.dtype() == DType::Int64) {
    switch (kind) {
      case BinaryKind::Add: return forward_typed<int64_t>(kind, AddFn{}, out, a, b);
      case BinaryKind::Sub: return forward_typed<int64_t>(kind, SubFn{}, out, a, b);
      case BinaryKind::Mul: return forward_typed<int64_t>(kind, MulFn{}, out, a, b);
      case BinaryKind::Maximum: return forward_typed<int64_t>(kind, MaximumFn{}, out, a, b);
      case BinaryKind::Minimum: return forward_typed<int64_t>(kind, MinimumFn{}, out, a, b);
      default:
        FOVEA_CHECK(binary_is_comparison(kind), binary_name(kind),
                    ": not defined for int64 tensors (convert to float first)");
        return forward_typed<int64_t>(kind, CompareFn{kind}, out, a, b);
    }
  }
  require_float32(out, binary_name(kind));
  visit_binary(kind, [&](auto f) { forward_typed<float>(kind, f, out, a, b); });
}

void binary_backward_cuda(BinaryKind kind, int side, const Tensor& grad_elem, const Tensor& a,
                          const Tensor& b, const Tensor& y, const Tensor& g) {
  require_float32(grad_elem, binary_name(kind));
  const Shape& s = grad_elem.shape();
  const Tensor& yy = y.defined() ? y : g;  // placeholder read when f ignores y
  visit_binary(kind, [&](auto f) {
    launch_elementwise<5>(
        binary_name(kind), s,
        {grad_elem.strides(), strides_in(a, s), strides_in(b, s), strides_in(yy, s),
         strides_in(g, s)},
        BinaryBackwardBody<decltype(f)>{f, side, grad_elem.device_data<float>(),
                                        a.device_data<float>(), b.device_data<float>(),
                                        yy.device_data<float>(), g.device_data<float>()});
  });
}

void where_forward_cuda(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  const Shape& s = out.shape();
  FOVEA_CHECK(out.dtype() != DType::Float64, "where: CUDA kernels compute in float32, got ",
              out.str(), " (float64 is CPU-only, for gradient checks)");
  FOVEA_DISPATCH_ALL(out.dtype(), "where", [&] {
    using T = scalar_t;
    FOVEA_DISPATCH_ALL(cond.dtype(), "where", [&] {
      using C = scalar_t;
      if constexpr (!std::is_same_v<T, double>)
        launch_elementwise<4>("where", s,
                              {out.strides(), strides_in(cond, s), strides_in(a, s),
                               strides_in(b, s)},
                              WhereBody<T, C>{out.device_data<T>(), cond.device_data<C>(),
                                              a.device_data<T>(), b.device_data<T>()});
    });
  });
}

void register_binary() {
  binary_forward_kernel.set_cuda(&binary_forward_cuda);
  binary_backward_kernel.set_cuda(&binary_backward_cuda);
  where_forward_kernel.set_cuda(&where_forward_cuda);
}

FOVEA_CUDA_END
