// What every CUDA launcher needs besides the kernel: the device's stream and the dtype rule.
// Include after kcompat.cuh and check.cuh.
//
// One stream per process serves every launch and every copy, so work runs in the order it was
// issued and a freed block can be reused by the next launch at once. A host read of device
// memory goes through copy_cuda (cuda/copy.cu), which synchronises the stream first.
#pragma once

#include <algorithm>
#include <cstdint>

#include "engine/autograd/grad_mode.h"
#include "engine/core/tensor.h"

FOVEA_CUDA_BEGIN

cudaStream_t stream();

// Threads per block of the element-wise kernels, and a grid that covers n elements (capped:
// the grid-stride loop takes the rest, and fewer, fuller threads run faster on the emulator).
constexpr int kElementwiseBlock = 256;
inline unsigned elementwise_grid(int64_t n) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((n + kElementwiseBlock - 1) /
                                                              kElementwiseBlock, 4096)));
}

// CUDA kernels compute in float32 (float64 is the CPU's, for gradient checks); copies and fills
// also move float64 and int64 so that any tensor can go to the device and back.
void require_float32(const Tensor& t, const char* op);

// t, contiguous, on its own device (a copy when needed), outside the autograd graph: kernels
// that need packed inputs make them so themselves, as their CPU twins do.
inline Tensor contiguous(const Tensor& t) {
  NoGradGuard no_grad;
  return t.contiguous();
}

// The first byte of t's elements on its device, for memcpy.
inline void* device_bytes(const Tensor& t) {
  return static_cast<char*>(t.storage()->data()) + t.offset() * int64_t(dtype_size(t.dtype()));
}

FOVEA_CUDA_END
