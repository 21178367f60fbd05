// CUDA twins of the index slots (engine/cpu/index.h).
//   index_bounds: one thread per index value; the first bad position (row-major) wins through
//                 an atomicMin, and only that position (8 bytes) comes back to the host, which
//                 formats the CPU's message. An in-range index costs one 8-byte copy.
//   gather:       out[p] = x[p with coordinate dim replaced by index[p]], one thread per p
//                 (the element-wise launcher, x's dim stride applied to the index value)
//   scatter_add:  out[p with dim replaced by index[p]] += src[p]. One thread per line along
//                 dim: lines never share a target (they differ off dim), and a line adds in
//                 order, so there are no atomics and the result is the CPU's. float32 sums
//                 run in a float64 copy of out, as on the CPU.
#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/cpu/fill.h"
#include "engine/cpu/index.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"
#include "cuda/elementwise.cuh"

FOVEA_CUDA_BEGIN

namespace {

struct FirstBad {
  const int64_t* index;
  int64_t size;
  unsigned long long* first;
  __device__ void operator()(const int64_t (&off)[1]) const {
    const int64_t v = index[off[0]];
    if (v < 0 || v >= size) atomicMin(first, (unsigned long long)off[0]);
  }
};

template <class T>
struct GatherBody {
  T* out;
  const T* x;
  const int64_t* index;
  int64_t x_dim_stride;
  __device__ void operator()(const int64_t (&off)[3]) const {
    out[off[1]] = x[off[2] + index[off[0]] * x_dim_stride];
  }
};

template <class A, class T>
struct ScatterLine {
  A* acc;
  const T* src;
  const int64_t* index;
  int64_t k, index_stride, src_stride, acc_stride;  // along dim
  __device__ void operator()(const int64_t (&off)[3]) const {
    for (int64_t i = 0; i < k; ++i)
      acc[off[2] + index[off[0] + i * index_stride] * acc_stride] +=
          A(src[off[1] + i * src_stride]);
  }
};

template <class A, class T>
void scatter_lines(const Tensor& acc, int64_t dim, const Tensor& index, const Tensor& src) {
  launch_elementwise<3>(
      "scatter_add", without_dim(index.shape(), dim),
      {without_dim(index.strides(), dim), without_dim(src.strides(), dim),
       without_dim(acc.strides(), dim)},
      ScatterLine<A, T>{acc.device_data<A>(), src.device_data<T>(), index.device_data<int64_t>(),
                        index.shape()[dim], index.strides()[dim], src.strides()[dim],
                        acc.strides()[dim]});
}

}  // namespace

void index_bounds_cuda(const Tensor& index_in, int64_t size, int64_t dim, const char* op) {
  const Tensor index = contiguous(index_in);
  const int64_t n = index.numel();
  if (n == 0) return;
  Tensor first = full({1}, double(n), DType::Int64, index.device());
  auto* first_bad = reinterpret_cast<unsigned long long*>(first.device_data<int64_t>());
  launch_elementwise<1>(op, {n}, {Shape{1}},
                        FirstBad{index.device_data<int64_t>(), size, first_bad});
  const int64_t bad = first.to(Device::cpu()).item<int64_t>();
  if (bad == n) return;
  const int64_t value = index.view({n}).slice(0, bad, bad + 1).to(Device::cpu()).item<int64_t>();
  fail_index_bounds(op, value, unravel_index(bad, index.shape()), dim, size);
}

void gather_cuda(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  Shape x_strides = x.strides();
  const int64_t x_dim_stride = x_strides[dim];
  x_strides[dim] = 0;  // the index value picks the position along dim
  FOVEA_DISPATCH_ALL(x.dtype(), "gather", [&] {
    using T = scalar_t;
    launch_elementwise<3>("gather", index.shape(), {index.strides(), out.strides(), x_strides},
                          GatherBody<T>{out.device_data<T>(), x.device_data<T>(),
                                        index.device_data<int64_t>(), x_dim_stride});
  });
}

void scatter_add_cuda(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  if (out.dtype() == DType::Int64) return scatter_lines<int64_t, int64_t>(out, dim, index, src);
  require_float32(out, "scatter_add");
  FOVEA_CHECK(out.is_contiguous(), "scatter_add: the output buffer must be contiguous, got ",
              out.str());
  NoGradGuard no_grad;
  Tensor acc = out.to(DType::Float64);
  scatter_lines<double, float>(acc, dim, index, src);
  copy_kernel(out.device(), out, acc);
}

void register_index() {
  index_bounds_kernel.set_cuda(&index_bounds_cuda);
  gather_kernel.set_cuda(&gather_cuda);
  scatter_add_kernel.set_cuda(&scatter_add_cuda);
}

FOVEA_CUDA_END
