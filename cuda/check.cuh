// Error checks for every CUDA runtime call and every kernel launch. Include after kcompat.cuh.
//
//   FOVEA_CUDA_CHECK(cudaMemcpy(...));       a failed call throws fovea::Error naming the error,
//                                            the call and file:line
//   FOVEA_CUDA_LAUNCH_CHECK("softmax_forward");  after every KLAUNCH: a bad launch configuration
//                                            is reported under the kernel's name
// Launches are asynchronous on a GPU: a kernel that faults is reported by some later call. With
// FOVEA_CUDA_SYNC=1 in the environment every launch is followed by a synchronisation, so the
// fault is reported under the kernel that caused it.
#pragma once

FOVEA_CUDA_BEGIN

[[noreturn]] void cuda_fail(cudaError_t err, const char* what, const char* file, int line);
void launch_check(const char* kernel, const char* file, int line);

FOVEA_CUDA_END

#define FOVEA_CUDA_CHECK(expr)                                                           \
  do {                                                                                   \
    const cudaError_t fovea_cuda_err_ = (expr);                                          \
    if (fovea_cuda_err_ != cudaSuccess)                                                  \
      ::fovea::FOVEA_CUDA_NS::cuda_fail(fovea_cuda_err_, #expr, __FILE__, __LINE__);     \
  } while (0)

#define FOVEA_CUDA_LAUNCH_CHECK(kernel) \
  ::fovea::FOVEA_CUDA_NS::launch_check(kernel, __FILE__, __LINE__)
