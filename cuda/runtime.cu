// The CUDA runtime side of fovea: device discovery, the stream and error reports (the
// allocator is cuda/allocator.cu). Compiled twice like every .cu file (cuda/README.md): against
// the CUDA runtime and against the emulator.
//
// Discovery: on a machine without a driver cudaGetDeviceCount fails with
// cudaErrorInsufficientDriver and leaves its output untouched, so the count starts at 0 and the
// error is cleared.
#include <cstdlib>
#include <string>

#include "engine/core/error.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"

FOVEA_CUDA_BEGIN

void cuda_fail(cudaError_t err, const char* what, const char* file, int line) {
  FOVEA_FAIL("CUDA error ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ") in ", what,
             " at ", file, ":", line);
}

namespace {

bool sync_after_launch() {
  static const bool on = [] {
    const char* env = std::getenv("FOVEA_CUDA_SYNC");
    return env && std::string(env) == "1";
  }();
  return on;
}

}  // namespace

void launch_check(const char* kernel, const char* file, int line) {
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess && sync_after_launch()) err = cudaStreamSynchronize(stream());
  if (err != cudaSuccess)
    FOVEA_FAIL("CUDA error ", cudaGetErrorName(err), " (", cudaGetErrorString(err),
               ") in kernel ", kernel, " launched at ", file, ":", line);
}

void require_float32(const Tensor& t, const char* op) {
  FOVEA_CHECK(t.dtype() == DType::Float32, op, ": CUDA kernels compute in float32, got ",
              t.str(), " (float64 is CPU-only, for gradient checks)");
}

cudaStream_t stream() {
  static cudaStream_t s = [] {
    cudaStream_t created = nullptr;
    FOVEA_CUDA_CHECK(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking));
    return created;
  }();
  return s;
}

void synchronize() { FOVEA_CUDA_CHECK(cudaStreamSynchronize(stream())); }

bool device_available(std::string* why) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
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

FOVEA_CUDA_END
