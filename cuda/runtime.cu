// The CUDA runtime side of fovea: device discovery, the stream, error reports and the device
// allocator. Compiled twice like every .cu file (cuda/README.md): against the CUDA runtime and
// against the emulator.
//
// Discovery: on a machine without a driver cudaGetDeviceCount fails with
// cudaErrorInsufficientDriver and leaves its output untouched, so the count starts at 0 and the
// error is cleared.
//
// Allocator: one cudaMalloc per tensor, exact size (the emulator's exact sizes let
// AddressSanitizer see an off-by-one kernel). A failed allocation is an OutOfMemoryError saying
// how much was asked for, how much the device has free and how much fovea holds, so the trainer
// can suggest a smaller --batch-size.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/core/cpu_allocator.h"
#include "engine/core/error.h"
#include "engine/core/storage.h"
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

std::atomic<size_t> g_bytes_in_use{0};

std::string gib(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", double(bytes) / double(1 << 30));
  return text;
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

size_t bytes_in_use() { return g_bytes_in_use.load(); }

void* device_allocate(size_t nbytes, int device_index) {
  FOVEA_CUDA_CHECK(cudaSetDevice(device_index));
  void* p = nullptr;
  if (nbytes == 0) return p;
  const cudaError_t err = cudaMalloc(&p, nbytes);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    FOVEA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    throw OutOfMemoryError("CUDA out of memory on cuda:" + std::to_string(device_index) +
                           ": cannot allocate " + gib(nbytes) + " (" + gib(free_bytes) +
                           " free of " + gib(total_bytes) + "; fovea's tensors hold " +
                           gib(bytes_in_use()) + ")");
  }
  FOVEA_CUDA_CHECK(err);
  g_bytes_in_use += nbytes;
  return p;
}

void device_release(void* p, size_t nbytes) {
  if (!p) return;
  g_bytes_in_use -= nbytes;
  // A destructor must not throw: a failure here means the device is already broken, and the
  // next checked call reports it.
  (void)cudaFree(p);
}

FOVEA_CUDA_END
