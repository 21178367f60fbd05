// The device allocator: a cache of freed blocks in front of cudaMalloc.
//
// cudaMalloc and cudaFree are slow (cudaFree also synchronises the device), and a training step
// frees and allocates the same sizes every iteration. Freed blocks therefore go to per-size free
// lists (sizes rounded up to 512 bytes below 1 MiB, to 128 KiB above) and are handed out again.
// One stream serves every launch (cuda/device.cuh), so a block freed by the host can be reused
// by the next launch at once: the work that last used it runs earlier on the same stream.
//
// Out of memory: when cudaMalloc fails, the cache is given back (after the stream finishes) and
// the allocation is tried once more; if that fails too, OutOfMemoryError (the CPU allocator's
// class, so the trainer's --batch-size hint works) says how much was asked for, how much the
// device has free and how much fovea holds in tensors and in the cache.
//
// FOVEA_CUDA_NO_CACHE=1, and sanitizer builds, turn the cache off: every block is an exact-size
// cudaMalloc, so AddressSanitizer sees an emulated kernel that runs past its tensor.
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/core/cpu_allocator.h"
#include "engine/core/error.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"

FOVEA_CUDA_BEGIN

namespace {

bool cache_enabled() {
#ifdef FOVEA_SANITIZE
  return false;
#else
  static const bool on = [] {
    const char* env = std::getenv("FOVEA_CUDA_NO_CACHE");
    return !(env && std::string(env) == "1");
  }();
  return on;
#endif
}

size_t rounded(size_t nbytes) {
  if (!cache_enabled()) return nbytes;
  const size_t unit = nbytes < (size_t(1) << 20) ? 512 : (size_t(128) << 10);
  return (nbytes + unit - 1) / unit * unit;
}

std::string size_str(size_t bytes) {
  char text[32];
  if (bytes >= (size_t(1) << 30))
    std::snprintf(text, sizeof text, "%.2f GiB", double(bytes) / double(1 << 30));
  else
    std::snprintf(text, sizeof text, "%.2f MiB", double(bytes) / double(1 << 20));
  return text;
}

struct Cache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free;  // rounded size -> blocks
  size_t in_use = 0;  // bytes of live tensors (as requested)
  size_t cached = 0;  // bytes (rounded) in the free lists
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: tensors may be freed during static teardown
  return *c;
}

// Gives every cached block back to the device. Called with the cache's mutex held.
void release_cached(Cache& c) {
  if (c.cached == 0) return;
  FOVEA_CUDA_CHECK(cudaStreamSynchronize(stream()));
  for (auto& [size, blocks] : c.free)
    for (void* p : blocks) FOVEA_CUDA_CHECK(cudaFree(p));
  c.free.clear();
  c.cached = 0;
}

}  // namespace

size_t bytes_in_use() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.in_use;
}

size_t bytes_cached() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.cached;
}

size_t bytes_available() {
  size_t free_bytes = 0, total_bytes = 0;
  FOVEA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return free_bytes + bytes_cached();
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  release_cached(c);
}

void* device_allocate(size_t nbytes, int device_index) {
  if (nbytes == 0) return nullptr;
  FOVEA_CUDA_CHECK(cudaSetDevice(device_index));
  const size_t size = rounded(nbytes);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto hit = c.free.find(size);
  if (hit != c.free.end() && !hit->second.empty()) {
    void* p = hit->second.back();
    hit->second.pop_back();
    c.cached -= size;
    c.in_use += nbytes;
    return p;
  }
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, size);
  if (err == cudaErrorMemoryAllocation && c.cached > 0) {
    cudaGetLastError();
    release_cached(c);
    err = cudaMalloc(&p, size);
  }
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    FOVEA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    throw OutOfMemoryError(detail::cat_message(
        "CUDA out of memory on cuda:", device_index, ": cannot allocate ", size_str(nbytes), " (",
        size_str(free_bytes), " free of ", size_str(total_bytes), "; fovea's tensors hold ",
        size_str(c.in_use), ")"));
  }
  FOVEA_CUDA_CHECK(err);
  c.in_use += nbytes;
  return p;
}

void device_release(void* p, size_t nbytes) {
  if (!p) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.in_use -= nbytes;
  if (cache_enabled()) {
    const size_t size = rounded(nbytes);
    c.free[size].push_back(p);
    c.cached += size;
    return;
  }
  // A destructor must not throw: a failure here means the device is already broken, and the
  // next checked call reports it.
  (void)cudaFree(p);
}

FOVEA_CUDA_END
