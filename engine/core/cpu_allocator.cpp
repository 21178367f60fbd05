#include "engine/core/cpu_allocator.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <new>
#include <string>

#include "engine/core/error.h"

namespace fovea {

namespace {

void* system_allocate(size_t size) { return std::aligned_alloc(64, size); }

bool cache_enabled_here() {
#if defined(FOVEA_SANITIZE) || defined(__SANITIZE_ADDRESS__)
  return false;
#else
  const char* off = std::getenv("FOVEA_NO_CACHE");
  return !(off && std::string(off) != "" && std::string(off) != "0");
#endif
}

// The machine's physical memory in bytes (sysconf), 0 when it cannot be read.
uint64_t physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
}

size_t limit_from_env() {
  const char* mb = std::getenv("FOVEA_CPU_CACHE_MB");
  if (!mb || !*mb) return default_cpu_cache_limit(physical_memory());
  char* end = nullptr;
  const unsigned long long v = std::strtoull(mb, &end, 10);
  // strtoull takes "-1" as a huge number; a value past SIZE_MAX >> 20 would wrap when shifted.
  FOVEA_CHECK(*mb != '-' && end && *end == '\0' && v <= (SIZE_MAX >> 20),
              "FOVEA_CPU_CACHE_MB: expected a whole number of MiB, got \"", mb, "\"");
  return size_t(v) << 20;
}

std::string gib(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", double(bytes) / double(size_t(1) << 30));
  return text;
}

}  // namespace

// A step's working set is what the cache must hold to save its page faults: an MHSA ResNet-20
// at batch 128 frees and reallocates about 7 GiB of [128, 2, 1024, 1024] score matrices per
// step, and under a fixed 2 GiB limit it spent a third of its time in the kernel zeroing fresh
// pages (14 -> 29 images/s with the blocks reused). Half the memory leaves the other half to
// what the cache cannot see (small allocations, other processes).
size_t default_cpu_cache_limit(uint64_t physical_bytes) {
  constexpr uint64_t kFloor = uint64_t(2) << 30;
  const uint64_t limit = std::max(kFloor, physical_bytes / 2);
  return limit > SIZE_MAX ? SIZE_MAX : size_t(limit);
}

size_t system_available_memory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  size_t kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemAvailable:") return kib << 10;
    meminfo.ignore(256, '\n');  // the unit
  }
  return SIZE_MAX;
}

CpuCachingAllocator::~CpuCachingAllocator() { empty_cache(); }

void CpuCachingAllocator::check_fits(size_t size) {
  const size_t available = available_.load()();
  if (size <= available) return;
  const size_t cached = stats().cached_bytes;
  if (size > available + cached)
    throw OutOfMemoryError("out of memory: cannot allocate " + gib(size) + " (" +
                           gib(available + cached) + " available)");
  empty_cache();
}

void* CpuCachingAllocator::system_allocate_or_throw(size_t size) {
  if (size >= kCheckedBytes) check_fits(size);
  void* p = system_allocate(size);
  if (!p && enabled_) {  // memory held for other sizes may be what is missing
    empty_cache();
    p = system_allocate(size);
  }
  if (!p)
    throw OutOfMemoryError("out of memory: cannot allocate " + gib(size) +
                           " (the system refused the request)");
  return p;
}

void* CpuCachingAllocator::allocate(size_t nbytes) {
  if (nbytes > SIZE_MAX - 64)  // block_size would wrap around to a small block
    throw OutOfMemoryError("out of memory: cannot allocate " + std::to_string(nbytes) + " bytes");
  const size_t size = block_size(nbytes);
  void* p = nullptr;
  if (enabled_) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.cached_bytes -= size;
      --stats_.cached_blocks;
      ++stats_.hits;
    } else {
      ++stats_.misses;
    }
  }
  if (!p) p = system_allocate_or_throw(size);
  const size_t live = live_bytes_ += size;
  size_t peak = peak_live_bytes_.load();
  while (live > peak && !peak_live_bytes_.compare_exchange_weak(peak, live)) {
  }
  return p;
}

void CpuCachingAllocator::release(void* p, size_t nbytes) {
  if (!p) return;
  const size_t size = block_size(nbytes);
  live_bytes_ -= size;
  if (enabled_ && size <= limit_) {
    std::lock_guard<std::mutex> lock(mutex_);
    // When the workload changes sizes, blocks of other sizes make room for this one, so that
    // stale sizes never fill the cache for good.
    if (stats_.cached_bytes + size > limit_) trim(limit_ - size, size);
    if (stats_.cached_bytes + size <= limit_) {
      try {
        free_[size].push_back(p);
        stats_.cached_bytes += size;
        ++stats_.cached_blocks;
        return;
      } catch (const std::bad_alloc&) {  // runs in ~Storage: fall through and free the block
      }
    }
  }
  std::free(p);
}

void CpuCachingAllocator::trim(size_t bytes, size_t spare_size) {
  for (auto it = free_.begin(); it != free_.end() && stats_.cached_bytes > bytes;) {
    if (it->first == spare_size) {
      ++it;
      continue;
    }
    auto& blocks = it->second;
    while (!blocks.empty() && stats_.cached_bytes > bytes) {
      std::free(blocks.back());
      blocks.pop_back();
      stats_.cached_bytes -= it->first;
      --stats_.cached_blocks;
    }
    it = blocks.empty() ? free_.erase(it) : std::next(it);
  }
}

void CpuCachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  trim(0);
}

void CpuCachingAllocator::set_limit(size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  limit_ = bytes;
  trim(bytes);
}

size_t CpuCachingAllocator::limit() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return limit_;
}

void CpuCachingAllocator::reset_peak() { peak_live_bytes_ = live_bytes_.load(); }

size_t CpuCachingAllocator::available() const {
  const size_t probe = available_.load()();
  const size_t cached = stats().cached_bytes;
  return probe > SIZE_MAX - cached ? SIZE_MAX : probe + cached;
}

CpuCacheStats CpuCachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  CpuCacheStats s = stats_;
  s.live_bytes = live_bytes_;
  s.peak_live_bytes = peak_live_bytes_;
  return s;
}

CpuCachingAllocator& cpu_allocator() {
  // Never destroyed: tensors in other static objects may be freed after it would have been.
  static CpuCachingAllocator* global = new CpuCachingAllocator(cache_enabled_here(),
                                                               limit_from_env());
  return *global;
}

}  // namespace fovea
