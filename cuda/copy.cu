// CUDA twins of the fill and copy slots (engine/cpu/fill.h).
//   fill:  t[i] = value                          any strides, float32 / float64 / int64
//   copy:  dst[i] = convert(src[i])              src broadcast to dst's shape, any strides
// copy also moves data between the host and the device:
//   host -> device   the CPU kernel broadcasts and converts into a contiguous host staging
//                    tensor, one memcpy moves it, and the strided kernel writes dst's layout;
//   device -> host   the strided kernel packs src contiguously on the device, one memcpy
//                    brings it back (after the stream has finished), and the CPU kernel
//                    broadcasts, converts and writes dst's layout.
#include <cstring>

#include "engine/core/factory.h"
#include "engine/cpu/fill.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"
#include "cuda/elementwise.cuh"

FOVEA_CUDA_BEGIN

namespace {

template <class T>
struct FillBody {
  T* t;
  T value;
  __device__ void operator()(const int64_t (&off)[1]) const { t[off[0]] = value; }
};

template <class D, class S>
struct ConvertBody {
  D* dst;
  const S* src;
  __device__ void operator()(const int64_t (&off)[2]) const { dst[off[0]] = D(src[off[1]]); }
};

void copy_on_device(const Tensor& dst, const Tensor& src) {
  const Shape src_strides = broadcast_strides(src.shape(), src.strides(), dst.shape());
  FOVEA_DISPATCH_ALL(dst.dtype(), "copy", [&] {
    using D = scalar_t;
    FOVEA_DISPATCH_ALL(src.dtype(), "copy", [&] {
      launch_elementwise<2>("copy", dst.shape(), {dst.strides(), src_strides},
                            ConvertBody<D, scalar_t>{dst.device_data<D>(),
                                                     src.device_data<scalar_t>()});
    });
  });
}

size_t nbytes(const Tensor& t) { return size_t(t.numel()) * dtype_size(t.dtype()); }

void host_to_device(const Tensor& dst, const Tensor& src) {
  Tensor staging = empty(dst.shape(), dst.dtype(), Device::cpu());
  copy_cpu(staging, src);
  Tensor packed = dst.is_contiguous() ? dst : empty(dst.shape(), dst.dtype(), dst.device());
  FOVEA_CUDA_CHECK(cudaMemcpyAsync(device_bytes(packed), staging.raw_data(), nbytes(dst),
                                   cudaMemcpyHostToDevice, stream()));
  // The staging tensor is freed on return; the copy must have read it by then.
  FOVEA_CUDA_CHECK(cudaStreamSynchronize(stream()));
  if (!packed.same(dst)) copy_on_device(dst, packed);
}

void device_to_host(const Tensor& dst, const Tensor& src) {
  Tensor packed = src.is_contiguous() ? src : empty(src.shape(), src.dtype(), src.device());
  if (!packed.same(src)) copy_on_device(packed, src);
  Tensor staging = empty(src.shape(), src.dtype(), Device::cpu());
  FOVEA_CUDA_CHECK(cudaMemcpyAsync(staging.raw_data(), device_bytes(packed), nbytes(src),
                                   cudaMemcpyDeviceToHost, stream()));
  FOVEA_CUDA_CHECK(cudaStreamSynchronize(stream()));
  copy_cpu(dst, staging);
}

}  // namespace

void fill_cuda(const Tensor& t, double value) {
  FOVEA_DISPATCH_ALL(t.dtype(), "fill", [&] {
    launch_elementwise<1>("fill", t.shape(), {t.strides()},
                          FillBody<scalar_t>{t.device_data<scalar_t>(), scalar_t(value)});
  });
}

void copy_cuda(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  if (dst.device().is_cuda() && src.device().is_cuda()) return copy_on_device(dst, src);
  if (dst.device().is_cuda()) return host_to_device(dst, src);
  FOVEA_CHECK(src.device().is_cuda(), "copy: neither ", dst.str(), " nor ", src.str(),
              " is on a CUDA device");
  device_to_host(dst, src);
}

void register_copy() {
  fill_kernel.set_cuda(&fill_cuda);
  copy_kernel.set_cuda(&copy_cuda);
}

FOVEA_CUDA_END
