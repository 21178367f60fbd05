// The CPU caching allocator (engine/core/cpu_allocator.h): freed blocks are reused for the same
// rounded size only, the cache never holds more than its limit, blocks of a new size push out
// other sizes, a disabled cache holds nothing, no block is handed to two threads at once,
// tensors really go through it, live bytes are counted, and a block larger than the available
// memory is an OutOfMemoryError instead of an OOM kill.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/core/cpu_allocator.h"
#include "engine/fovea.h"
#include "support/skip.h"

using namespace fovea;

TEST_CASE("cpu_allocator: a freed block is reused for the same rounded size only") {
  CpuCachingAllocator cache(true, size_t(1) << 20);
  void* a = cache.allocate(1000);
  CHECK(reinterpret_cast<uintptr_t>(a) % 64 == 0);
  cache.release(a, 1000);
  CHECK(cache.stats().cached_bytes == 1024);
  CHECK(cache.stats().cached_blocks == 1);
  void* b = cache.allocate(2000);  // another size: a stays cached
  CHECK(b != a);
  CHECK(cache.stats().cached_blocks == 1);
  void* c = cache.allocate(1010);  // rounds to 1024 like 1000
  CHECK(c == a);
  CHECK(cache.stats().cached_blocks == 0);
  CHECK(cache.stats().hits == 1);
  CHECK(cache.stats().misses == 2);
  void* z = cache.allocate(0);  // empty tensors still get a pointer
  CHECK(z != nullptr);
  cache.release(z, 0);
  cache.release(b, 2000);
  cache.release(c, 1010);
  CHECK(cache.stats().cached_bytes == 64 + 2048 + 1024);
  cache.empty_cache();
  CHECK(cache.stats().cached_bytes == 0);
  CHECK(cache.stats().cached_blocks == 0);
}

TEST_CASE("cpu_allocator: the cache never holds more than its limit") {
  CpuCachingAllocator cache(true, 4096);
  std::vector<void*> blocks;
  for (int i = 0; i < 6; ++i) blocks.push_back(cache.allocate(1024));
  for (void* p : blocks) {
    cache.release(p, 1024);
    CHECK(cache.stats().cached_bytes <= 4096);
  }
  CHECK(cache.stats().cached_bytes == 4096);
  cache.release(cache.allocate(8192), 8192);  // bigger than the whole limit: not kept
  CHECK(cache.stats().cached_bytes == 4096);
  cache.set_limit(2048);  // lowering the limit gives back what is over it
  CHECK(cache.stats().cached_bytes == 2048);
  CHECK(cache.limit() == 2048);
  cache.set_limit(0);
  CHECK(cache.stats().cached_blocks == 0);
}

TEST_CASE("cpu_allocator: a disabled cache gives every block back") {
  CpuCachingAllocator cache(false, size_t(1) << 20);
  void* a = cache.allocate(4096);
  cache.release(a, 4096);
  CHECK(cache.stats().cached_bytes == 0);
  CHECK(cache.stats().hits == 0);
}

TEST_CASE("cpu_allocator: a block of another size makes room when the cache is full") {
  // The workload changed sizes: the cache must not stay full of blocks nobody asks for.
  CpuCachingAllocator cache(true, 4096);
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(cache.allocate(1024));
  for (void* p : blocks) cache.release(p, 1024);
  CHECK(cache.stats().cached_bytes == 4096);
  void* big = cache.allocate(2048);
  cache.release(big, 2048);
  CHECK(cache.stats().cached_bytes == 4096);  // two 1024-byte blocks went back to the system
  CHECK(cache.stats().cached_blocks == 3);
  const uint64_t hits = cache.stats().hits;
  CHECK(cache.allocate(2048) == big);
  CHECK(cache.stats().hits == hits + 1);
  cache.release(big, 2048);
}

TEST_CASE("cpu_allocator: blocks allocated and freed on many threads") {
  CpuCachingAllocator cache(true, size_t(1) << 30);
  constexpr int kThreads = 4, kRounds = 4000;
  // Every thread takes blocks of a few sizes, marks them as its own, yields, checks that no
  // other thread wrote there (a block handed out twice would be), and gives them back; a third
  // of the blocks are given back by the next thread instead, as a data loader's batches are.
  std::atomic<int> stolen{0};
  std::vector<std::vector<std::pair<void*, size_t>>> handed(kThreads);
  std::vector<std::mutex> handed_mutex(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const size_t n = size_t(64 * (1 + (i + t) % 5));
        auto* p = static_cast<int*>(cache.allocate(n));
        for (size_t k = 0; k < n / sizeof(int); ++k) p[k] = t;
        std::this_thread::yield();
        for (size_t k = 0; k < n / sizeof(int); ++k)
          if (p[k] != t) ++stolen;
        if (i % 3 == 0) {
          std::lock_guard<std::mutex> lock(handed_mutex[size_t((t + 1) % kThreads)]);
          handed[size_t((t + 1) % kThreads)].push_back({p, n});
        } else {
          cache.release(p, n);
        }
        std::vector<std::pair<void*, size_t>> mine;
        {
          std::lock_guard<std::mutex> lock(handed_mutex[size_t(t)]);
          mine.swap(handed[size_t(t)]);
        }
        for (const auto& [q, m] : mine) cache.release(q, m);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    for (const auto& [q, m] : handed[size_t(t)]) cache.release(q, m);
  CHECK(stolen.load() == 0);
  const CpuCacheStats s = cache.stats();
  CHECK(s.hits + s.misses == uint64_t(kThreads * kRounds));
  CHECK(s.hits > s.misses);  // the blocks really went round
  // Every block came back: what is cached is what the system handed out.
  CHECK(s.cached_blocks == size_t(s.misses));
}

TEST_CASE("cpu_allocator: tensors reuse freed memory, and zeros() is zero in a reused block") {
  CpuCachingAllocator& cache = cpu_allocator();
  if (!cache.enabled()) return test::skip_test("CPU cache off (FOVEA_NO_CACHE or sanitizer build)");
  const void* first = nullptr;
  {
    Tensor t = full({37, 41}, 7.0, DType::Float32);
    first = t.data<float>();
  }
  const uint64_t hits = cache.stats().hits;
  Tensor z = zeros({41, 37}, DType::Float32);  // same bytes, another shape
  CHECK(static_cast<const void*>(z.data<float>()) == first);
  CHECK(cache.stats().hits == hits + 1);
  const std::vector<float> v = z.to_vector<float>();
  CHECK(std::all_of(v.begin(), v.end(), [](float x) { return x == 0.0f; }));

  std::thread([t = std::move(z)]() mutable { t = Tensor(); }).join();  // freed on another thread
  Tensor again = empty({37, 41}, DType::Float32);
  CHECK(static_cast<const void*>(again.data<float>()) == first);
}

namespace {
size_t g_available = 0;  // what fake_available reports
int g_probes = 0;        // how often it was asked
size_t fake_available() {
  ++g_probes;
  return g_available;
}
}  // namespace

TEST_CASE("cpu_allocator: a fresh block larger than the available memory is an OutOfMemoryError") {
  constexpr size_t MiB = size_t(1) << 20;
  CpuCachingAllocator cache(true, size_t(1) << 30, &fake_available);
  g_available = 100 * MiB;
  g_probes = 0;
  CHECK_THROWS_WITH_AS(cache.allocate(3072 * MiB),
                       "out of memory: cannot allocate 3.00 GiB (0.10 GiB available)",
                       OutOfMemoryError);
  CHECK(cache.stats().live_bytes == 0);
  // Small blocks and cache hits never read the probe (it reads /proc/meminfo): only big fresh
  // allocations pay for it.
  g_available = 0;
  void* small = cache.allocate(CpuCachingAllocator::kCheckedBytes - 64);
  cache.release(small, CpuCachingAllocator::kCheckedBytes - 64);
  CHECK(g_probes == 1);
  g_available = 100 * MiB;
  void* big = cache.allocate(80 * MiB);  // fits: allocated (not touched, so it costs no memory)
  CHECK(g_probes == 2);
  cache.release(big, 80 * MiB);
  CHECK(cache.allocate(80 * MiB) == big);  // a cache hit: not checked
  CHECK(g_probes == 2);
  cache.release(big, 80 * MiB);
  // 150 MiB exceed the 100 available, but not with the cache's 80 MiB: the cache goes back to
  // the system and the block is allocated.
  CHECK(cache.stats().cached_bytes >= 80 * MiB);
  void* more = cache.allocate(150 * MiB);
  CHECK(more != nullptr);
  CHECK(cache.stats().cached_bytes == 0);
  cache.release(more, 150 * MiB);
}

TEST_CASE("cpu_allocator: a tensor larger than the machine's memory is an error, not a crash") {
  // 4 TiB: more than this machine has. Without the check, Linux may overcommit and the OOM
  // killer ends the process when the pages are touched.
  try {
    Tensor t = empty({int64_t(1) << 40}, DType::Float32);
    FAIL("allocated 4 TiB");
  } catch (const OutOfMemoryError& e) {
    CHECK(std::string(e.what()).find("out of memory: cannot allocate 4096.00 GiB (") == 0);
  }
}

TEST_CASE("cpu_allocator: live_bytes counts the blocks handed out and not yet released") {
  CpuCachingAllocator cache(true, size_t(1) << 20);
  void* a = cache.allocate(1000);
  void* b = cache.allocate(100);
  CHECK(cache.stats().live_bytes == 1024 + 128);
  cache.release(a, 1000);
  CHECK(cache.stats().live_bytes == 128);
  CHECK(cache.allocate(1000) == a);  // from the cache: live again
  CHECK(cache.stats().live_bytes == 1024 + 128);
  cache.release(a, 1000);
  cache.release(b, 100);
  CHECK(cache.stats().live_bytes == 0);

  const size_t before = cpu_allocator().stats().live_bytes;
  {
    Tensor t = zeros({10, 100}, DType::Float32);
    CHECK(cpu_allocator().stats().live_bytes == before + 4032);  // 4000 bytes, 64-byte blocks
  }
  CHECK(cpu_allocator().stats().live_bytes == before);
}

// The default limit follows the machine: half its memory, never under 2 GiB, so that one step's
// working set of large blocks stays cached (cpu_allocator.h).
TEST_CASE("cpu_allocator: the default limit is half the machine's memory, at least 2 GiB") {
  constexpr uint64_t GiB = uint64_t(1) << 30;
  CHECK(default_cpu_cache_limit(0) == 2 * GiB);  // unknown memory
  CHECK(default_cpu_cache_limit(1 * GiB) == 2 * GiB);
  CHECK(default_cpu_cache_limit(4 * GiB) == 2 * GiB);
  CHECK(default_cpu_cache_limit(6 * GiB) == 3 * GiB);
  CHECK(default_cpu_cache_limit(64 * GiB) == 32 * GiB);
  CHECK(default_cpu_cache_limit(UINT64_MAX) == size_t(UINT64_MAX / 2));

  // The global cache takes it for this machine unless the environment sets the limit.
  const char* env = std::getenv("FOVEA_CPU_CACHE_MB");
  if (env && *env) return test::skip_test("FOVEA_CPU_CACHE_MB sets the limit here");
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  const uint64_t physical = pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
  CHECK(cpu_allocator().limit() == default_cpu_cache_limit(physical));
}
