// The CUDA emulator's own checks (cuda/emu/cuemu.h): kernels in emu_selftest.cu against CPU
// references, the schedule perturbation that exposes missing barriers, the reports for broken
// kernels (run in a forked child, since the emulator aborts on them), launch configuration
// errors and the runtime API's error codes.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "support/skip.h"

#include "emu_selftest.cu"  // last: it brings the emulator's macros

namespace {

namespace st = ::fovea::cuda_emu::emu_selftest;
namespace emu = ::fovea::cuemu;
namespace impl = ::fovea::cuemu::impl;
using impl::Order;

std::vector<float> uniform(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// What tree_sum_kernel computes for each block, in the same float operations and order.
std::vector<float> cpu_tree_partials(const std::vector<float>& x, int grid, int block) {
  const int64_t n = int64_t(x.size()), step = int64_t(grid) * block;
  std::vector<float> partial(static_cast<size_t>(grid)), s(static_cast<size_t>(block));
  for (int b = 0; b < grid; ++b) {
    for (int t = 0; t < block; ++t) {
      float acc = 0.f;
      for (int64_t i = int64_t(b) * block + t; i < n; i += step) acc += x[size_t(i)];
      s[size_t(t)] = acc;
    }
    for (int stride = block / 2; stride > 0; stride >>= 1)
      for (int t = 0; t < stride; ++t) s[size_t(t)] += s[size_t(t + stride)];
    partial[size_t(b)] = s[0];
  }
  return partial;
}

constexpr Order kOrders[3] = {Order::Forward, Order::Reverse, Order::Shuffle};
constexpr const char* kOrderNames[3] = {"forward", "reverse", "shuffle"};
constexpr uint64_t kSeed = 20240611;

// What a forked child did: its exit status and everything it wrote to stdout and stderr.
struct ChildRun {
  int status = 0;
  std::string output;
  bool killed_by(int sig) const { return WIFSIGNALED(status) && WTERMSIG(status) == sig; }
};

// Runs fn in a child process, for kernels on which the emulator aborts.
template <class F>
ChildRun run_in_child(F fn) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    // doctest's handlers would report a crash of the test case from inside the child.
    std::signal(SIGABRT, SIG_DFL);
#if !CUEMU_ASAN
    std::signal(SIGSEGV, SIG_DFL);
#endif
    try {
      fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "exception: %s\n", e.what());
      _exit(3);
    }
    _exit(0);
  }
  close(fds[1]);
  ChildRun run;
  char buf[4096];
  for (;;) {
    const ssize_t k = read(fds[0], buf, sizeof buf);
    if (k > 0) run.output.append(buf, size_t(k));
    else if (k == 0 || errno != EINTR) break;
  }
  close(fds[0]);
  while (waitpid(pid, &run.status, 0) < 0 && errno == EINTR) {
  }
  return run;
}

}  // namespace

TEST_CASE("cuda emulator: grid-stride axpy matches the CPU") {
  // 1000 threads for 10007 elements: every thread takes several, and the last ones fewer.
  const std::vector<float> x = uniform(10007, 1), y = uniform(10007, 2);
  const std::vector<float> got = st::axpy(0.75f, x, y, 4, 250);
  REQUIRE(got.size() == x.size());
  size_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float want = 0.75f * x[i] + y[i];
    bad += std::fabs(got[i] - want) > 1e-6f * (1.f + std::fabs(want));
  }
  CHECK(bad == 0);
}

TEST_CASE("cuda emulator: a shared-memory tree reduction is exact under every schedule") {
  const std::vector<float> x = uniform(40000, 3);
  const int grid = 24;
  const std::vector<float> want = cpu_tree_partials(x, grid, st::kTreeBlock);
  double exact = 0;
  for (float v : x) exact += v;
  const impl::ScopedSchedule restore(Order::Forward, kSeed);
  std::vector<float> first;
  for (int o = 0; o < 3; ++o) {
    CAPTURE(kOrderNames[o]);
    impl::set_schedule(kOrders[o], kSeed);
    const std::vector<float> got = st::tree_partials(st::TreeVariant::Correct, x, grid);
    CHECK(same_bits(got, want));
    if (o == 0) first = got;
    CHECK(same_bits(got, first));
    const float total = st::tree_sum(x, grid);
    CHECK(std::fabs(total - exact) <= 1e-4 * (1 + std::fabs(exact)));
  }
}

namespace {

// How many of the three schedules make a broken tree reduction differ from the correct tree.
int schedules_caught(st::TreeVariant variant, uint32_t data_seed) {
  const std::vector<float> x = uniform(40000, data_seed);
  const int grid = 16;
  const std::vector<float> want = cpu_tree_partials(x, grid, st::kTreeBlock);
  const impl::ScopedSchedule restore(Order::Forward, kSeed);
  int wrong = 0;
  for (int o = 0; o < 3; ++o) {
    impl::set_schedule(kOrders[o], kSeed);
    wrong += !same_bits(st::tree_partials(variant, x, grid), want);
  }
  return wrong;
}

}  // namespace

TEST_CASE("cuda emulator: a missing __syncthreads changes the result under some schedule") {
  CHECK(schedules_caught(st::TreeVariant::MissingSync, 4) > 0);
}

TEST_CASE("cuda emulator: a warp-synchronous tail without __syncwarp is detected") {
  // On lock-step hardware the tail computes exactly the tree's partials.
  CHECK(schedules_caught(st::TreeVariant::WarpSynchronous, 5) > 0);
}


TEST_CASE("cuda emulator: uninitialised BLOCK_SHARED memory reads as NaN") {
  const int grid = 6;
  const std::vector<float> x = uniform(size_t(grid) * 128, 6);
  const std::vector<float> poisoned = st::sum_unwritten_shared(x, grid, /*plain=*/false);
  REQUIRE(poisoned.size() == size_t(grid));
  for (float v : poisoned) CHECK(std::isnan(v));
  // Plain __shared__ is static storage: finite leftovers, so the NaN above is the poison's doing.
  for (float v : st::sum_unwritten_shared(x, grid, /*plain=*/true)) CHECK(std::isfinite(v));
}

TEST_CASE("cuda emulator: warp shuffles match the CPU under every schedule") {
  const int block = 128;
  const std::vector<float> x = uniform(size_t(block) * 8, 7);
  const size_t warps = x.size() / 32;
  const impl::ScopedSchedule restore(Order::Forward, kSeed);
  for (int o = 0; o < 3; ++o) {
    CAPTURE(kOrderNames[o]);
    impl::set_schedule(kOrders[o], kSeed);
    const st::ShuffleResults got = st::warp_shuffles(x, block);
    REQUIRE(got.sum.size() == warps);
    size_t bad_sum = 0, bad_max = 0, bad_bcast = 0, bad_scan = 0, bad_half = 0, bad_vote = 0;
    for (size_t w = 0; w < warps; ++w) {
      const float* v = &x[w * 32];
      // The kernel's operations lane by lane; an out-of-range source gives a lane its own value.
      float s[32], c[32];
      std::copy(v, v + 32, s);
      std::copy(v, v + 32, c);
      for (int off = 16; off > 0; off >>= 1) {
        float next[32];
        for (int l = 0; l < 32; ++l) next[l] = s[l] + (l + off < 32 ? s[l + off] : s[l]);
        std::copy(next, next + 32, s);
      }
      for (int off = 1; off < 32; off <<= 1) {
        float next[32];
        for (int l = 0; l < 32; ++l) next[l] = l >= off ? c[l] + c[l - off] : c[l];
        std::copy(next, next + 32, c);
      }
      bad_sum += std::memcmp(&got.sum[w], &s[0], sizeof(float)) != 0;
      const float mx = *std::max_element(v, v + 32);
      const float lo = *std::max_element(v, v + 16), hi = *std::max_element(v + 16, v + 32);
      unsigned ballot = 0;
      int any = 0, all = 1;
      for (int l = 0; l < 32; ++l) {
        const size_t i = w * 32 + size_t(l);
        bad_max += got.max[i] != mx;
        bad_bcast += got.bcast[i] != v[5];
        bad_scan += std::memcmp(&got.scan[i], &c[l], sizeof(float)) != 0;
        bad_half += got.halfmax[i] != (l < 16 ? lo : hi);
        if (v[l] > 0.f) ballot |= 1u << l;
        any |= v[l] > 0.9f;
        all &= v[l] > -0.99f;
      }
      bad_vote += got.ballot[w] != ballot || got.any[w] != any || got.all[w] != all;
    }
    CHECK(bad_sum == 0);
    CHECK(bad_max == 0);
    CHECK(bad_bcast == 0);
    CHECK(bad_scan == 0);
    CHECK(bad_half == 0);
    CHECK(bad_vote == 0);

    // Under some orders the full-warp lanes wait while the half warp still exchanges.
    const std::vector<float> mixed = st::mixed_mask_shuffles(x, block);
    size_t bad_mixed = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const size_t lane = i % 32, src = i - lane + (lane + 16) % 32;
      bad_mixed += mixed[i] != (src % 32 < 16 ? x[src ^ 1] : x[src]);
    }
    CHECK(bad_mixed == 0);
  }
}

TEST_CASE("cuda emulator: atomics match the CPU") {
  const int nbins = 64;
  std::mt19937 rng(8);
  std::vector<int> x(50000);
  for (int& v : x) v = int(rng() % nbins);
  std::vector<int> want(size_t(nbins), 0);
  double total = 0;
  for (int v : x) {
    ++want[size_t(v)];
    total += v;
  }
  const st::AtomicResults got = st::atomics(x, nbins, 20, 128);
  CHECK(got.bins == want);
  CHECK(double(got.total) == total);  // integers below 2^24: exact in any order
  CHECK(got.count == x.size());
  CHECK(got.maxv == *std::max_element(x.begin(), x.end()));
  CHECK(got.minv == *std::min_element(x.begin(), x.end()));
}

TEST_CASE("cuda emulator: Reverse and Shuffle change the thread and block order") {
  if (impl::config().threads > 1)
    return fovea::test::skip_test("CUEMU_THREADS > 1: blocks of different workers interleave");
  const int grid = 16, block = 64;
  std::vector<unsigned> fwd_blocks(static_cast<size_t>(grid));
  std::vector<unsigned> rev_blocks(static_cast<size_t>(grid));
  std::vector<unsigned> fwd_threads(size_t(grid) * block), rev_threads(size_t(grid) * block);
  for (int b = 0; b < grid; ++b) {
    fwd_blocks[size_t(b)] = unsigned(b);
    rev_blocks[size_t(b)] = unsigned(grid - 1 - b);
    for (int t = 0; t < block; ++t) {
      fwd_threads[size_t(b) * block + size_t(t)] = unsigned(t);
      rev_threads[size_t(b) * block + size_t(t)] = unsigned(block - 1 - t);
    }
  }
  const impl::ScopedSchedule restore(Order::Forward, kSeed);

  impl::set_schedule(Order::Forward, kSeed);
  const st::OrderResults fwd = st::launch_order(grid, block);
  CHECK(fwd.block_ticket == fwd_blocks);
  CHECK(fwd.start_ticket == fwd_threads);
  CHECK(fwd.release_ticket == fwd_threads);

  impl::set_schedule(Order::Reverse, kSeed);
  const st::OrderResults rev = st::launch_order(grid, block);
  CHECK(rev.block_ticket == rev_blocks);
  CHECK(rev.start_ticket == rev_threads);
  CHECK(rev.release_ticket == rev_threads);

  impl::set_schedule(Order::Shuffle, kSeed);
  const st::OrderResults shf = st::launch_order(grid, block);
  std::vector<unsigned> sorted = shf.block_ticket;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == fwd_blocks);  // every block ran once
  CHECK(shf.block_ticket != fwd_blocks);
  CHECK(shf.block_ticket != rev_blocks);
  CHECK(shf.start_ticket != fwd_threads);
  CHECK(shf.release_ticket != fwd_threads);
  // Seeded: the same seed gives the same order again.
  const st::OrderResults again = st::launch_order(grid, block);
  CHECK(again.block_ticket == shf.block_ticket);
  CHECK(again.start_ticket == shf.start_ticket);
  CHECK(again.release_ticket == shf.release_ticket);
}

TEST_CASE("cuda emulator: an early return before __syncthreads is reported as a deadlock") {
  const ChildRun run = run_in_child([] { st::early_return_before_barrier(1000); });
  INFO(run.output);
  CHECK(run.killed_by(SIGABRT));
  CHECK(run.output.find("deadlock") != std::string::npos);
  CHECK(run.output.find("early_return_kernel") != std::string::npos);
  CHECK(run.output.find("emu_selftest.cu") != std::string::npos);  // the barrier's file:line
}

TEST_CASE("cuda emulator: __syncthreads at two call sites is reported as divergence") {
  const ChildRun run = run_in_child([] { st::divergent_barrier(); });
  INFO(run.output);
  CHECK(run.killed_by(SIGABRT));
  CHECK(run.output.find("divergent __syncthreads") != std::string::npos);
}

TEST_CASE("cuda emulator: a shuffle from a lane outside the mask is reported") {
  const ChildRun run = run_in_child([] { st::shuffle_outside_mask(); });
  INFO(run.output);
  CHECK(run.killed_by(SIGABRT));
  CHECK(run.output.find("reads lane 20") != std::string::npos);
}

TEST_CASE("cuda emulator: lanes that pass different masks at one call site are reported") {
  // Under Reverse the full-mask lanes arrive first, so lane 15 finds its mask contradicted.
  // (Under Forward the half-warp group completes and the others report a deadlock instead.)
  const ChildRun run = run_in_child([] {
    impl::set_schedule(Order::Reverse, kSeed);
    st::disagreeing_masks();
  });
  INFO(run.output);
  CHECK(run.killed_by(SIGABRT));
  CHECK(run.output.find("disagree on the member mask (0x0000ffff vs 0xffffffff)") !=
        std::string::npos);
}

TEST_CASE("cuda emulator: a write past BLOCK_SHARED memory is reported") {
  const ChildRun run = run_in_child([] { st::shared_overflow(); });
  INFO(run.output);
  if (CUEMU_ASAN) {  // the canary is poisoned: ASan stops at the write itself
    CHECK(WIFEXITED(run.status));
    CHECK(WEXITSTATUS(run.status) != 0);
    CHECK(run.output.find("use-after-poison") != std::string::npos);
    CHECK(run.output.find("shared_overflow_kernel") != std::string::npos);
  } else {  // the canary is checked when the block ends
    CHECK(run.killed_by(SIGABRT));
    CHECK(run.output.find("s overflow: the kernel wrote past its 128 bytes") != std::string::npos);
  }
}

TEST_CASE("cuda emulator: a fiber stack overflow is reported") {
  if (CUEMU_ASAN) return fovea::test::skip_test("ASan reports stack overflows itself");
  const size_t frame = impl::config().stack_bytes + 128 * 1024;
  const ChildRun run = run_in_child([frame] { st::big_frame(frame); });
  INFO(run.output);
  CHECK(run.killed_by(SIGSEGV));
  CHECK(run.output.find("fiber stack overflow in kernel") != std::string::npos);
}

TEST_CASE("cuda emulator: a block of 2048 threads is a launch configuration error") {
  emu::cudaGetLastError();
  st::DeviceBuffer<int> y(std::vector<int>(4096, 7));
  const uint64_t launches = impl::launch_count();
  st::launch_fill(1, 2048, y.get(), 1);
  CHECK(emu::cudaPeekAtLastError() == emu::cudaErrorInvalidConfiguration);  // peek keeps it
  CHECK(emu::cudaGetLastError() == emu::cudaErrorInvalidConfiguration);
  CHECK(emu::cudaGetLastError() == emu::cudaSuccess);
  CHECK(std::string(impl::last_problem()).find("2048") != std::string::npos);
  CHECK(impl::launch_count() == launches);  // the kernel did not run
  CHECK(y.download() == std::vector<int>(4096, 7));

  // The other limits cudart checks before a launch.
  const emu::dim3 bad[][2] = {
      {emu::dim3(1), emu::dim3(0)},         {emu::dim3(0), emu::dim3(32)},
      {emu::dim3(1, 0), emu::dim3(32)},     {emu::dim3(1), emu::dim3(2, 2, 65)},
      {emu::dim3(1, 65536), emu::dim3(32)}, {emu::dim3(1, 1, 65536), emu::dim3(32)},
      {emu::dim3(1), emu::dim3(1025)}};
  for (const auto& cfg : bad) {
    CAPTURE(cfg[0].x);
    CAPTURE(cfg[0].y);
    CAPTURE(cfg[0].z);
    CAPTURE(cfg[1].x);
    CAPTURE(cfg[1].y);
    CAPTURE(cfg[1].z);
    st::launch_fill(cfg[0], cfg[1], y.get(), 2);
    CHECK(emu::cudaGetLastError() == emu::cudaErrorInvalidConfiguration);
  }
  CHECK(impl::launch_count() == launches);

  // The error is sticky until read: a good launch after a bad one does not clear it.
  st::launch_fill(1, 4096, y.get(), 3);
  st::launch_fill(4, 1024, y.get(), 4);
  CHECK(impl::launch_count() == launches + 1);
  CHECK(emu::cudaGetLastError() == emu::cudaErrorInvalidConfiguration);
  CHECK(emu::cudaGetLastError() == emu::cudaSuccess);
  CHECK(y.download() == std::vector<int>(4096, 4));
}

TEST_CASE("cuda emulator: dynamic shared memory over 48 KiB needs cudaFuncSetAttribute") {
  emu::cudaGetLastError();
  const std::vector<float> x = uniform(16 * 1024, 9);  // 64 KiB
  std::vector<float> reversed(x.rbegin(), x.rend());
  const size_t bytes = x.size() * sizeof(float);

  CHECK(st::dynamic_reverse<1>(x, bytes) == std::vector<float>(x.size(), 0.f));  // did not run
  CHECK(emu::cudaGetLastError() == emu::cudaErrorInvalidConfiguration);

  CHECK(st::set_dynamic_smem_limit<1>(int(bytes)) == emu::cudaSuccess);
  CHECK(st::dynamic_reverse<1>(x, bytes) == reversed);
  CHECK(emu::cudaGetLastError() == emu::cudaSuccess);
  // 48 KiB needs no attribute.
  const std::vector<float> small(x.begin(), x.begin() + 12 * 1024);
  CHECK(st::dynamic_reverse<2>(small, small.size() * sizeof(float)) ==
        std::vector<float>(small.rbegin(), small.rend()));
  CHECK(emu::cudaGetLastError() == emu::cudaSuccess);
  // The opt-in limit is 227 KiB.
  CHECK(st::set_dynamic_smem_limit<1>(228 * 1024) == emu::cudaErrorInvalidValue);
  CHECK(emu::cudaGetLastError() == emu::cudaErrorInvalidValue);
  CHECK(st::set_dynamic_smem_limit<1>(0) == emu::cudaSuccess);  // back to the default
}

TEST_CASE("cuda emulator: cudaMalloc enforces the memory budget") {
  emu::cudaGetLastError();
  const size_t in_use = impl::memory_in_use(), mib = size_t(1) << 20;
  impl::set_memory_budget(in_use + mib);
  struct Reset {
    ~Reset() { impl::reset_memory_budget(); }
  } reset;
  size_t free_bytes = 0, total = 0;
  CHECK(emu::cudaMemGetInfo(&free_bytes, &total) == emu::cudaSuccess);
  CHECK(total == in_use + mib);
  CHECK(free_bytes == mib);

  void* big = nullptr;
  CHECK(emu::cudaMalloc(&big, 2 * mib) == emu::cudaErrorMemoryAllocation);
  CHECK(big == nullptr);
  CHECK(emu::cudaGetLastError() == emu::cudaErrorMemoryAllocation);
  CHECK(emu::cudaGetLastError() == emu::cudaSuccess);

  void* a = nullptr;
  REQUIRE(emu::cudaMalloc(&a, 700001) == emu::cudaSuccess);
  CHECK(reinterpret_cast<uintptr_t>(a) % 256 == 0);
  CHECK(impl::memory_in_use() == in_use + 700001);
  CHECK(emu::cudaMemGetInfo(&free_bytes, &total) == emu::cudaSuccess);
  CHECK(free_bytes == mib - 700001);
  void* b = nullptr;
  CHECK(emu::cudaMalloc(&b, 400000) == emu::cudaErrorMemoryAllocation);
  CHECK(emu::cudaGetLastError() == emu::cudaErrorMemoryAllocation);
#if CUEMU_ASAN
  // Exact size: the byte past the block is unaddressable.
  CHECK(!__asan_address_is_poisoned(static_cast<char*>(a) + 700000));
  CHECK(__asan_address_is_poisoned(static_cast<char*>(a) + 700001));
#endif
  CHECK(emu::cudaFree(a) == emu::cudaSuccess);
  CHECK(emu::cudaFree(a) == emu::cudaErrorInvalidValue);  // double free
  CHECK(emu::cudaGetLastError() == emu::cudaErrorInvalidValue);
  CHECK(emu::cudaFree(nullptr) == emu::cudaSuccess);
  CHECK(impl::memory_in_use() == in_use);
  REQUIRE(emu::cudaMalloc(&b, 400000) == emu::cudaSuccess);
  CHECK(emu::cudaFree(b) == emu::cudaSuccess);

  impl::reset_memory_budget();
  CHECK(impl::memory_budget() == impl::config().mem_budget);
}

TEST_CASE("cuda emulator: copies must stay inside a cudaMalloc block") {
  emu::cudaGetLastError();
  float* d = nullptr;
  REQUIRE(emu::cudaMalloc(&d, 16 * sizeof(float)) == emu::cudaSuccess);
  std::vector<float> h(17, 1.f);
  CHECK(emu::cudaMemcpy(d, h.data(), 16 * sizeof(float), emu::cudaMemcpyHostToDevice) ==
        emu::cudaSuccess);
  CHECK(emu::cudaMemcpy(d + 1, h.data(), 15 * sizeof(float), emu::cudaMemcpyHostToDevice) ==
        emu::cudaSuccess);
  // One element too many, swapped arguments, a device memset past the end.
  CHECK(emu::cudaMemcpy(d, h.data(), 17 * sizeof(float), emu::cudaMemcpyHostToDevice) ==
        emu::cudaErrorInvalidValue);
  CHECK(emu::cudaMemcpy(h.data(), d, 16 * sizeof(float), emu::cudaMemcpyHostToDevice) ==
        emu::cudaErrorInvalidValue);
  CHECK(emu::cudaMemset(d + 8, 0, 9 * sizeof(float)) == emu::cudaErrorInvalidValue);
  CHECK(emu::cudaMemcpy(d, h.data(), 4, static_cast<emu::cudaMemcpyKind>(7)) ==
        emu::cudaErrorInvalidMemcpyDirection);
  CHECK(emu::cudaGetLastError() == emu::cudaErrorInvalidMemcpyDirection);  // the latest error
  CHECK(emu::cudaGetLastError() == emu::cudaSuccess);
  CHECK(emu::cudaFree(d) == emu::cudaSuccess);
}

TEST_CASE("cuda emulator: device properties describe the emulator") {
  emu::cudaGetLastError();
  int count = -1, device = -1;
  CHECK(emu::cudaGetDeviceCount(&count) == emu::cudaSuccess);
  CHECK(count == 1);
  CHECK(emu::cudaGetDevice(&device) == emu::cudaSuccess);
  CHECK(device == 0);
  CHECK(emu::cudaSetDevice(0) == emu::cudaSuccess);
  CHECK(emu::cudaSetDevice(1) == emu::cudaErrorInvalidDevice);
  CHECK(emu::cudaGetLastError() == emu::cudaErrorInvalidDevice);
  CHECK(emu::cudaGetLastError() == emu::cudaSuccess);

  emu::cudaDeviceProp prop;
  std::memset(&prop, 0x5a, sizeof prop);
  REQUIRE(emu::cudaGetDeviceProperties(&prop, 0) == emu::cudaSuccess);
  CHECK(std::string(prop.name) == "fovea CUDA emulator");
  CHECK(prop.major == 9);
  CHECK(prop.minor == 0);
  CHECK(prop.maxThreadsPerBlock == 1024);
  CHECK(prop.sharedMemPerBlock == 48 * 1024);
  CHECK(prop.warpSize == 32);
  CHECK(prop.totalGlobalMem == impl::memory_budget());
  CHECK(prop.multiProcessorCount > 0);
  int sms = 0;
  CHECK(emu::cudaDeviceGetAttribute(&sms, emu::cudaDevAttrMultiProcessorCount, 0) ==
        emu::cudaSuccess);
  CHECK(sms == prop.multiProcessorCount);
  CHECK(emu::cudaGetDeviceProperties(&prop, 1) == emu::cudaErrorInvalidDevice);
  CHECK(emu::cudaGetLastError() == emu::cudaErrorInvalidDevice);
}

TEST_CASE("cuda emulator: error names and strings follow cudart") {
  struct Known {
    emu::cudaError_t e;
    int code;
    const char* name;
    const char* text;
  };
  const Known known[] = {
      {emu::cudaSuccess, 0, "cudaSuccess", "no error"},
      {emu::cudaErrorInvalidValue, 1, "cudaErrorInvalidValue", "invalid argument"},
      {emu::cudaErrorMemoryAllocation, 2, "cudaErrorMemoryAllocation", "out of memory"},
      {emu::cudaErrorInvalidConfiguration, 9, "cudaErrorInvalidConfiguration",
       "invalid configuration argument"},
      {emu::cudaErrorNoDevice, 100, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
      {emu::cudaErrorInvalidDevice, 101, "cudaErrorInvalidDevice", "invalid device ordinal"},
      {emu::cudaErrorLaunchFailure, 719, "cudaErrorLaunchFailure", "unspecified launch failure"},
  };
  for (const Known& k : known) {
    CAPTURE(k.name);
    CHECK(int(k.e) == k.code);
    CHECK(std::string(emu::cudaGetErrorName(k.e)) == k.name);
    CHECK(std::string(emu::cudaGetErrorString(k.e)) == k.text);
  }
  CHECK(std::string(emu::cudaGetErrorName(static_cast<emu::cudaError_t>(12345))) ==
        "unrecognized error code");
}

TEST_CASE("cuda emulator: streams and events work synchronously") {
  emu::cudaGetLastError();
  const std::vector<float> x = uniform(1000, 10);
  float ms = -1.f;
  const std::vector<float> y = st::axpy_on_stream(2.f, x, &ms);
  CHECK(ms >= 0.f);
  size_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i) bad += y[i] != 2.f * x[i];
  CHECK(bad == 0);
  emu::cudaEvent_t unrecorded = nullptr, recorded = nullptr;
  REQUIRE(emu::cudaEventCreate(&unrecorded) == emu::cudaSuccess);
  REQUIRE(emu::cudaEventCreate(&recorded) == emu::cudaSuccess);
  CHECK(emu::cudaEventRecord(recorded) == emu::cudaSuccess);
  CHECK(emu::cudaEventElapsedTime(&ms, unrecorded, recorded) ==
        emu::cudaErrorInvalidResourceHandle);
  CHECK(emu::cudaGetLastError() == emu::cudaErrorInvalidResourceHandle);
  CHECK(emu::cudaEventDestroy(unrecorded) == emu::cudaSuccess);
  CHECK(emu::cudaEventDestroy(recorded) == emu::cudaSuccess);
}
