// The CUDA runtime side of fovea: device discovery and the device allocator.
//
// Kernels arrive in a later issue; this file already gives the engine a real CUDA device
// (tensors can be allocated there) and the start-up report of what was found. On a machine
// without a driver cudaGetDeviceCount fails with cudaErrorInsufficientDriver and leaves its
// output untouched, so the count starts at 0 and the sticky error is cleared.
#include <cuda_runtime.h>

#include <string>

#include "engine/core/error.h"
#include "engine/core/storage.h"

namespace fovea::cuda {

#define FOVEA_CUDA_CHECK(expr)                                                          \
  do {                                                                                  \
    cudaError_t fovea_cuda_err = (expr);                                                \
    FOVEA_CHECK(fovea_cuda_err == cudaSuccess, "CUDA error ",                           \
                cudaGetErrorName(fovea_cuda_err), " (", cudaGetErrorString(fovea_cuda_err), \
                ") at ", __FILE__, ":", __LINE__, " in ", #expr);                       \
  } while (0)

bool device_available(std::string* why) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (why) *why = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    cudaGetLastError();
    return false;
  }
  if (count == 0) {
    if (why) *why = "no CUDA device";
    return false;
  }
  return true;
}

std::string device_name() {
  cudaDeviceProp prop{};
  int device = 0;
  FOVEA_CUDA_CHECK(cudaGetDevice(&device));
  FOVEA_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ")";
}

namespace {

void* allocate(size_t nbytes, int device_index) {
  FOVEA_CUDA_CHECK(cudaSetDevice(device_index));
  void* p = nullptr;
  if (nbytes > 0) FOVEA_CUDA_CHECK(cudaMalloc(&p, nbytes));
  return p;
}

void release(void* p, size_t) { cudaFree(p); }

}  // namespace

void register_backend() {
  DeviceAllocator& slot = cuda_allocator_slot();
  slot.allocate = &allocate;
  slot.release = &release;
}

}  // namespace fovea::cuda
