// CPU memory for tensors: a caching allocator.
//
// A training step frees and allocates the same tensor sizes every iteration. Handing those
// blocks back to malloc returns large ones to the kernel, and the next step pays a page fault
// (and the kernel's zeroing) for every 4 KiB of every activation again. Measured on ResNet-20,
// batch 128, 2 threads, 20 steps: 134k -> 84k page faults, 0.32 -> 0.20 s system time, steps
// about 3-4% faster (bench_train_step, FOVEA_NO_CACHE=1 against the default). The cache keeps
// freed blocks in exact-size free lists (sizes rounded up to 64 bytes) and hands them out again.
// When a freed block would take the cache over its limit, cached blocks of other sizes go back
// to the system to make room (if that is not enough, the block itself does), so a workload that
// changes sizes does not leave the cache full of sizes nobody asks for; a block larger than the
// whole limit is never cached.
//
// The global cache is off (every block goes straight back to the system) when the environment
// sets FOVEA_NO_CACHE=1 and in sanitizer builds, so that AddressSanitizer still sees a freed
// tensor's memory as freed. FOVEA_CPU_CACHE_MB sets its limit; the default is half the
// machine's memory, at least 2 GiB (default_cpu_cache_limit), so that a step's working set of
// attention matrices stays cached. Each process has its own cache: two runs side by side may
// each hold up to their limit, and what a cache holds is given back to the system only for a
// large allocation of its own process (below), never for small ones or for other processes.
// Blocks may be freed on any thread (data-loader workers free batches the trainer used).
//
// Out of memory. Linux overcommits: malloc hands out more memory than there is, and the OOM
// killer ends the process when the pages are touched, with no message. So a fresh allocation of
// kCheckedBytes or more (never the small ones, never a cache hit) first asks the memory probe
// (by default /proc/meminfo's MemAvailable) and throws OutOfMemoryError, "out of memory: cannot
// allocate 2.80 GiB (1.25 GiB available)", when the block is larger than what is available plus
// the cache's own free blocks (which are given back first when they make the difference). A
// request the system refuses outright throws the same error. A container's cgroup limit is not
// consulted (MemAvailable is the host's).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/core/error.h"

namespace fovea {

// The error of an allocation that cannot be served; callers that can suggest a smaller request
// (the trainer: a smaller --batch-size) catch this type.
class OutOfMemoryError : public Error {
 public:
  using Error::Error;
};

struct CpuCacheStats {
  size_t cached_bytes = 0;   // bytes held in the free lists now
  size_t cached_blocks = 0;  // blocks held in the free lists now
  size_t live_bytes = 0;     // bytes of blocks handed out and not yet released (tensors alive)
  size_t peak_live_bytes = 0;  // the most live_bytes has been since the last reset_peak()
  uint64_t hits = 0;         // allocations served from the free lists
  uint64_t misses = 0;       // allocations that went to the system
};

// Bytes the system can still give this process: /proc/meminfo's MemAvailable, or SIZE_MAX when
// that cannot be read (then nothing is checked).
size_t system_available_memory();

// The global cache's default limit for a machine of `physical_bytes`: half of it, at least
// 2 GiB (physical_bytes 0, unknown, gives 2 GiB).
size_t default_cpu_cache_limit(uint64_t physical_bytes);

class CpuCachingAllocator {
 public:
  using MemoryProbe = size_t (*)();
  // Fresh allocations at least this large are checked against the probe.
  static constexpr size_t kCheckedBytes = size_t(64) << 20;

  CpuCachingAllocator(bool enabled, size_t limit_bytes,
                      MemoryProbe available = &system_available_memory)
      : enabled_(enabled), limit_(limit_bytes), available_(available) {}
  ~CpuCachingAllocator();
  CpuCachingAllocator(const CpuCachingAllocator&) = delete;
  CpuCachingAllocator& operator=(const CpuCachingAllocator&) = delete;

  // 64-byte aligned, at least nbytes (0 bytes still gets a valid pointer); contents are
  // unspecified. Throws OutOfMemoryError when the block cannot be had (see the top of the file;
  // a refused request drops the cache and tries again first).
  void* allocate(size_t nbytes);
  // Gives back a block from allocate(nbytes), with the same nbytes.
  void release(void* p, size_t nbytes);
  // Returns every cached block to the system.
  void empty_cache();
  // Starts a new peak of live bytes from the bytes live now (a program measuring one phase).
  void reset_peak();
  // Changes the limit; cached blocks beyond it go back to the system.
  void set_limit(size_t bytes);

  // Replaces the memory probe and returns the one it replaces (tests stand in a small machine).
  MemoryProbe set_memory_probe(MemoryProbe probe) { return available_.exchange(probe); }

  bool enabled() const { return enabled_; }
  size_t limit() const;
  // What a fresh allocation could get now: the probe's bytes plus the cache's free blocks
  // (SIZE_MAX when the probe cannot tell).
  size_t available() const;
  CpuCacheStats stats() const;

  static size_t block_size(size_t nbytes) { return nbytes == 0 ? 64 : (nbytes + 63) / 64 * 64; }

 private:
  // With mutex_ held: frees cached blocks, except those of spare_size (block sizes are never
  // 0), until at most `bytes` are held.
  void trim(size_t bytes, size_t spare_size = 0);
  // Throws OutOfMemoryError unless `size` fresh bytes fit in the available memory (emptying the
  // cache when its blocks make the difference).
  void check_fits(size_t size);
  void* system_allocate_or_throw(size_t size);

  const bool enabled_;
  mutable std::mutex mutex_;
  size_t limit_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // block size -> cached blocks
  CpuCacheStats stats_;  // live_bytes is kept in live_bytes_ (updated without the mutex)
  std::atomic<size_t> live_bytes_{0};
  std::atomic<size_t> peak_live_bytes_{0};
  std::atomic<MemoryProbe> available_;
};

// The allocator every CPU tensor uses.
CpuCachingAllocator& cpu_allocator();

}  // namespace fovea
