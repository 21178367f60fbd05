// cuemu.h -- fovea's CPU emulator for CUDA kernel source.
//
// fovea's own port of the prototype in shared/docs/cuda-emulation (README §2 and §4 there give
// the design and the measurements behind it). A cuda/*.cu file compiled by the host C++
// compiler (C++17 or later) instead of nvcc gets this header through cuda/kcompat.cuh, and its
// kernels run on the CPU: in every build, under ASan/UBSan and TSan, on machines without a GPU.
//
// The rules a kernel must follow to be emulatable (and correct on a GPU) are in cuda/README.md.
// The ones this header depends on: launch only through KLAUNCH; __syncthreads only in
// block-uniform control flow (no return before a barrier); only the *_sync warp intrinsics,
// called by every lane their mask names, and no lock-step ("warp-synchronous") code; no
// spin-waiting on other threads or blocks (a fiber is never preempted, so it would hang); no
// inline asm, textures or dynamic parallelism; per-thread local arrays well below
// CUEMU_STACK_KB; shared memory through BLOCK_SHARED / DYNAMIC_SHARED.
//
// How it runs a launch:
//  * blocks run one after another, or spread over CUEMU_THREADS OS threads; a block never leaves
//    its OS thread, so the thread_local index variables stay valid inside it;
//  * the threads of a block are cooperative fibers that switch only at __syncthreads,
//    __syncwarp and the warp intrinsics; the switch is an opaque call, so the compiler cannot
//    keep shared-memory values in registers across a barrier;
//  * warp intrinsics are barriers of the caller's warp only, so `if (threadIdx.x < 32)
//    warp_reduce(...)` works and lock-step ("warp-synchronous") code fails loudly;
//  * BLOCK_SHARED / DYNAMIC_SHARED memory is filled with 0xFF (NaN, -1) at every block start,
//    so reading shared memory nobody wrote shows up in the results;
//  * CUEMU_ORDER=fwd|rev|shuffle (or impl::set_schedule) changes the order in which threads
//    leave a barrier and the order of blocks, so a kernel whose result depends on an order it
//    does not control gives different bits under different schedules.
// Kernel bugs found while running (deadlock, divergent barrier, bad warp mask, fiber stack
// overflow, a write past shared memory) print "[cuemu] ..." and abort: they are bugs, not
// conditions to recover from. Launch configuration errors and runtime-API misuse return CUDA's
// error codes, as cudart does.
//
// Names: the CUDA-facing API (dim3, threadIdx, __shfl_down_sync, atomicAdd, cudaMalloc, ...)
// lives in fovea::cuemu, the machinery in fovea::cuemu::impl; only macros are global, so this
// header can share a binary with the real cudart. Kernel files reach the API through
// `using namespace ::fovea::cuemu;` (FOVEA_CUDA_BEGIN in kcompat.cuh).
//
// Environment (read once, at first use):
//   CUEMU_ORDER     fwd (default) | rev | shuffle
//   CUEMU_SEED      seed of the shuffle order (default 12345)
//   CUEMU_THREADS   OS threads that run blocks (default 1)
//   CUEMU_STACK_KB  stack per emulated thread (default 64; big local arrays need more)
//   CUEMU_MEM_MB    emulated device memory that cudaMalloc hands out (default 4096)
// Build: compile with -fstack-clash-protection, or a frame larger than the 256 KiB guard below
// a fiber's stack can jump over it. -DCUEMU_UCONTEXT selects the portable (10x slower)
// swapcontext switch, which is also what every non-x86-64 target gets.
#pragma once

#if defined(__CUDACC__)
#error "cuda/emu/cuemu.h is the CPU emulator; nvcc builds use the real CUDA headers (kcompat.cuh)"
#endif
#if __cplusplus < 201703L
#error "cuda/emu/cuemu.h needs C++17"
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>  // before the __noinline__ macro: libstdc++'s shared_ptr uses that spelling
#include <mutex>
#include <random>
#include <thread>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

// GCC announces sanitizers with __SANITIZE_*__, clang 14 only through __has_feature.
#if defined(__SANITIZE_ADDRESS__)
#define CUEMU_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define CUEMU_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(CUEMU_ASAN)
#define CUEMU_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(CUEMU_TSAN)
#define CUEMU_TSAN 1
#endif
#endif
#if !defined(CUEMU_ASAN)
#define CUEMU_ASAN 0
#endif
#if !defined(CUEMU_TSAN)
#define CUEMU_TSAN 0
#endif

#if CUEMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

// ThreadSanitizer mode: every emulated thread is a TSan fiber and a switch does NOT synchronise;
// only barriers (release + acquire on a sync object per barrier generation), block start and
// block end create happens-before edges. TSan then reports unsynchronised accesses between the
// threads of a block, like compute-sanitizer's racecheck. The emulator's own bookkeeping is
// hidden from TSan, or every barrier would look like a race on the scheduler's state.
#if CUEMU_TSAN
#include <sanitizer/tsan_interface.h>
namespace fovea::cuemu::impl {
extern "C" void AnnotateIgnoreReadsBegin(const char*, int);
extern "C" void AnnotateIgnoreReadsEnd(const char*, int);
extern "C" void AnnotateIgnoreWritesBegin(const char*, int);
extern "C" void AnnotateIgnoreWritesEnd(const char*, int);
}  // namespace fovea::cuemu::impl
#define CUEMU_IGN_BEGIN()                                                   \
  (::fovea::cuemu::impl::AnnotateIgnoreReadsBegin(__FILE__, __LINE__),      \
   ::fovea::cuemu::impl::AnnotateIgnoreWritesBegin(__FILE__, __LINE__))
#define CUEMU_IGN_END()                                                     \
  (::fovea::cuemu::impl::AnnotateIgnoreWritesEnd(__FILE__, __LINE__),       \
   ::fovea::cuemu::impl::AnnotateIgnoreReadsEnd(__FILE__, __LINE__))
#define CUEMU_TSAN_RELEASE(p) __tsan_release(p)
#define CUEMU_TSAN_ACQUIRE(p) __tsan_acquire(p)
#else
#define CUEMU_IGN_BEGIN() ((void)0)
#define CUEMU_IGN_END() ((void)0)
#define CUEMU_TSAN_RELEASE(p) ((void)(p))
#define CUEMU_TSAN_ACQUIRE(p) ((void)(p))
#endif

#if !defined(__x86_64__) && !defined(CUEMU_UCONTEXT)
#define CUEMU_UCONTEXT 1
#endif
#if defined(CUEMU_UCONTEXT)
#include <ucontext.h>
#endif

// A 256 KiB PROT_NONE guard below each fiber stack costs address space only. Its size sets the
// stride between stacks: a 64 KiB guard (128 KiB stride) made barriers ~30% slower, 4 KiB and
// 256 KiB did not (prototype measurements).
#ifndef CUEMU_GUARD_BYTES
#define CUEMU_GUARD_BYTES (256 * 1024)
#endif

// ------------------------------------------------------------------------------------------------
// CUDA language surface
// ------------------------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
// static: one instance shared by every fiber of the block; thread_local: once blocks run on
// several OS threads. NOT fresh per block (neither is the GPU's); BLOCK_SHARED is.
#define __shared__ static thread_local

namespace fovea::cuemu {

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
inline constexpr int warpSize = 32;

// Per OS thread; the scheduler rewrites threadIdx before it resumes a fiber. Correct only
// because fibers never migrate between OS threads (compilers cache TLS addresses).
inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

// CUDA's numeric codes, so logs and tests read the same on both builds.
enum cudaError : int {  // fixed type: any code a caller casts in is a valid value
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidSymbol = 13,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInsufficientDriver = 35,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
  cudaErrorUnknown = 999,
};
using cudaError_t = cudaError;

namespace impl {

[[noreturn]] inline void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// ------------------------------------------------------------------------------------------------
// configuration
// ------------------------------------------------------------------------------------------------
enum class Order { Forward, Reverse, Shuffle };
struct Schedule {
  Order order;
  uint64_t seed;
};

inline uint64_t env_u64(const char* name, uint64_t fallback, uint64_t lo, uint64_t hi) {
  const char* s = std::getenv(name);
  if (!s || !*s) return fallback;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  // A typo in a knob must not silently run the default configuration.
  if (*end != '\0' || v < lo || v > hi) {
    std::fprintf(stderr, "[cuemu] %s=\"%s\" is not a number in [%llu, %llu]\n", name, s,
                 static_cast<unsigned long long>(lo), static_cast<unsigned long long>(hi));
    std::abort();
  }
  return v;
}

struct Config {
  std::atomic<Order> order{Order::Forward};
  std::atomic<uint64_t> seed{12345};
  size_t stack_bytes = 64 * 1024;
  unsigned threads = 1;
  size_t mem_budget = size_t(4096) << 20;
  Config() {
    if (const char* s = std::getenv("CUEMU_ORDER"); s && *s) {
      if (!std::strcmp(s, "fwd") || !std::strcmp(s, "forward")) order = Order::Forward;
      else if (!std::strcmp(s, "rev") || !std::strcmp(s, "reverse")) order = Order::Reverse;
      else if (!std::strcmp(s, "shuffle")) order = Order::Shuffle;
      else {
        std::fprintf(stderr, "[cuemu] CUEMU_ORDER=\"%s\" is not fwd, rev or shuffle\n", s);
        std::abort();
      }
    }
    seed = env_u64("CUEMU_SEED", 12345, 0, UINT64_MAX);
    stack_bytes = size_t(env_u64("CUEMU_STACK_KB", 64, 16, 1 << 20)) * 1024;
    threads = unsigned(env_u64("CUEMU_THREADS", 1, 1, 1024));
    mem_budget = size_t(env_u64("CUEMU_MEM_MB", 4096, 1, uint64_t(1) << 24)) << 20;
  }
};
inline Config& config() {
  static Config c;
  return c;
}

// Programmatic override of CUEMU_ORDER / CUEMU_SEED; takes effect at the next launch.
inline void set_schedule(Order order, uint64_t seed) {
  config().order.store(order);
  config().seed.store(seed);
}
inline void set_schedule(Schedule s) { set_schedule(s.order, s.seed); }
inline Schedule schedule() { return Schedule{config().order.load(), config().seed.load()}; }

// Sets a schedule for a scope and puts the previous one back.
class ScopedSchedule {
 public:
  ScopedSchedule(Order order, uint64_t seed) : saved_(schedule()) { set_schedule(order, seed); }
  ~ScopedSchedule() { set_schedule(saved_); }
  ScopedSchedule(const ScopedSchedule&) = delete;
  ScopedSchedule& operator=(const ScopedSchedule&) = delete;

 private:
  Schedule saved_;
};

inline std::atomic<uint64_t> g_launches{0};
inline std::atomic<uint64_t> g_switches{0};
// Launches that ran (a launch refused for its configuration is not counted).
inline uint64_t launch_count() { return g_launches.load(); }
inline uint64_t context_switches() { return g_switches.load(); }

// ------------------------------------------------------------------------------------------------
// the runtime's last error (per host thread, like cudart) and why it was set
// ------------------------------------------------------------------------------------------------
inline thread_local cudaError_t t_last_error = cudaSuccess;
inline thread_local char t_problem[256] = "";

inline cudaError_t fail(cudaError_t e, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// Records e as the sticky last error, with a sentence for last_problem(), and returns it.
inline cudaError_t fail(cudaError_t e, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(t_problem, sizeof t_problem, fmt, ap);
  va_end(ap);
  t_last_error = e;
  return e;
}
// What the emulator found wrong in the most recent failed runtime call or launch on this thread
// (cudart only has the error code; this names the bad value).
inline const char* last_problem() { return t_problem; }

// ------------------------------------------------------------------------------------------------
// contexts and stacks
// ------------------------------------------------------------------------------------------------
struct Ctx {
#if defined(CUEMU_UCONTEXT)
  ucontext_t uc;
#else
  void* sp = nullptr;
#endif
  const void* stack_bottom = nullptr;  // ASan fiber annotations
  size_t stack_size = 0;
  void* fake_stack = nullptr;
  void* tsan_fiber = nullptr;
};

#if !defined(CUEMU_UCONTEXT)
// raw_switch(save, to): pushes the callee-saved registers plus MXCSR and the x87 control word
// (a kernel may change rounding modes), stores rsp in *save, loads `to`, pops, returns into the
// other context. swapcontext does the same plus a sigprocmask syscall, which made it 10x slower.
__attribute__((naked, noinline)) inline void raw_switch(void** /*save*/, void* /*to*/) {
  asm volatile(
      "pushq %rbp\n\t"
      "pushq %rbx\n\t"
      "pushq %r12\n\t"
      "pushq %r13\n\t"
      "pushq %r14\n\t"
      "pushq %r15\n\t"
      "subq $8, %rsp\n\t"
      "stmxcsr (%rsp)\n\t"
      "fnstcw 4(%rsp)\n\t"
      "movq %rsp, (%rdi)\n\t"
      "movq %rsi, %rsp\n\t"
      "ldmxcsr (%rsp)\n\t"
      "fldcw 4(%rsp)\n\t"
      "addq $8, %rsp\n\t"
      "popq %r15\n\t"
      "popq %r14\n\t"
      "popq %r13\n\t"
      "popq %r12\n\t"
      "popq %rbx\n\t"
      "popq %rbp\n\t"
      "ret\n\t");
}
// A fiber's first activation "returns" here with rbx = argument and r12 = entry point.
__attribute__((naked, noinline)) inline void trampoline() {
  asm volatile(
      "movq %rbx, %rdi\n\t"
      "callq *%r12\n\t"
      "ud2\n\t");
}
#endif

inline constexpr size_t kGuardBytes = CUEMU_GUARD_BYTES;

struct Stack {
  char* base = nullptr;  // lowest usable byte; the guard lies below it
  size_t size = 0;
};

inline Stack alloc_stack(size_t bytes) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  bytes = (bytes + page - 1) / page * page;
  void* p = mmap(nullptr, bytes + kGuardBytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) fatal("mmap of a %zu-byte fiber stack failed", bytes);
  if (mprotect(p, kGuardBytes, PROT_NONE) != 0) fatal("mprotect of a fiber stack guard failed");
  return Stack{static_cast<char*>(p) + kGuardBytes, bytes};
}

inline void free_stack(Stack s) {
#if CUEMU_ASAN
  // A fiber that ended never returned from its entry frame, whose redzones stay poisoned; the
  // next mapping at this address would inherit them.
  ASAN_UNPOISON_MEMORY_REGION(s.base, s.size);
#endif
  munmap(s.base - kGuardBytes, s.size + kGuardBytes);
}

enum class FState : uint8_t { NotStarted, Ready, Running, Blocked, Done };

struct Fiber {
  Ctx ctx;
  Stack stack;
  Stack own_stack;  // TSan mode: one stack per thread, never pooled
  uint3 tid{0, 0, 0};
  unsigned linear = 0, lane = 0, warp = 0;
  FState state = FState::NotStarted;
  const char* wait_what = nullptr;  // the barrier it is blocked in, for deadlock reports
  const char* wait_file = nullptr;
  int wait_line = 0;
};

// The lanes of one warp operation (a shuffle, vote or __syncwarp with one member mask) that
// have arrived so far. Several can be pending in a warp at once: in legal code, lanes outside a
// half-warp shuffle may already wait at the next full-warp operation. Each group has its own
// exchange buffer and returns to the pool only after every member has read it, so a fast lane's
// next operation cannot overwrite a value a slow lane has yet to read.
struct WarpGroup {
  unsigned mask = 0, count = 0, readers = 0;
  const char* file = nullptr;  // the call site of the first arrival
  int line = 0;
  std::vector<unsigned> waiters;
  uint64_t vals[32];
  char tsan_sync = 0;
};

struct Warp {
  unsigned exist = 0;  // lanes that exist in this (possibly partial) warp
  std::vector<WarpGroup*> pending;
};

// One per BLOCK_SHARED declaration per OS thread.
struct SharedKey {
  uint64_t epoch = 0;
  void* ptr = nullptr;
};

struct ArenaBlock {
  size_t offset, bytes;
  const char* name;
};

struct BlockRun {
  void (*body)(void*) = nullptr;
  void* body_ctx = nullptr;
  const char* kernel_name = "";
  unsigned n = 0;
  std::vector<Fiber> fibers;
  std::vector<unsigned> start_order;
  size_t next_start = 0;
  std::vector<unsigned> ready;  // FIFO from ready_head
  size_t ready_head = 0;
  Ctx sched;
  Fiber* cur = nullptr;
  std::vector<Stack> stack_pool;
  std::vector<Stack> all_stacks;
  unsigned exited = 0;
  // block barrier
  unsigned bar_count = 0, bar_gen = 0;
  const char* bar_file = nullptr;
  int bar_line = 0;
  std::vector<unsigned> bar_waiters;
  std::vector<Warp> warps;
  std::vector<std::unique_ptr<WarpGroup>> groups;
  std::vector<WarpGroup*> free_groups;
  // shared-memory arena: dynamic shared memory at offset 0, then BLOCK_SHARED declarations
  std::vector<unsigned char> arena;
  size_t arena_used = 0, static_used = 0, dyn_bytes = 0;
  std::vector<ArenaBlock> arena_blocks;
  uint64_t epoch = 0;
  Order order = Order::Forward;
  std::mt19937_64 rng;
  uint64_t switches = 0;
  char tsan_start = 0, tsan_end = 0, tsan_bar[2] = {0, 0};

  BlockRun() = default;
  BlockRun(const BlockRun&) = delete;
  BlockRun& operator=(const BlockRun&) = delete;
  ~BlockRun() {
#if CUEMU_TSAN
    for (auto& f : fibers)
      if (f.ctx.tsan_fiber) __tsan_destroy_fiber(f.ctx.tsan_fiber);
#endif
#if CUEMU_ASAN
    if (!arena.empty()) ASAN_UNPOISON_MEMORY_REGION(arena.data(), arena.size());
#endif
    for (auto& s : all_stacks) free_stack(s);
  }
};

inline thread_local BlockRun* tls_run = nullptr;
// Process-wide block counter that BLOCK_SHARED keys its cache on. A per-launch counter is not
// enough: the next launch's BlockRun lands at the same address and restarts the count, and the
// key then points into a freed arena (ASan found this in the prototype).
inline std::atomic<uint64_t> g_block_epoch{0};

[[noreturn]] inline void fatal(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "\n[cuemu] ");
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (BlockRun* r = tls_run) {
    std::fprintf(stderr, "\n[cuemu]   kernel=%s block=(%u,%u,%u)", r->kernel_name, blockIdx.x,
                 blockIdx.y, blockIdx.z);
    if (r->cur)
      std::fprintf(stderr, " thread=(%u,%u,%u)", r->cur->tid.x, r->cur->tid.y, r->cur->tid.z);
  }
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
  std::abort();
}

void fiber_main(Fiber* f);

// Not instrumented under TSan: a finishing fiber's last loads happen here, after its final
// release, and would race with the next launch reusing the BlockRun's memory.
#if CUEMU_TSAN
__attribute__((no_sanitize_thread))
#endif
inline void switch_ctx(Ctx& from, Ctx& to, bool from_is_dying = false) {
#if CUEMU_ASAN
  __sanitizer_start_switch_fiber(from_is_dying ? nullptr : &from.fake_stack, to.stack_bottom,
                                 to.stack_size);
#else
  (void)from_is_dying;
#endif
#if CUEMU_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
#if defined(CUEMU_UCONTEXT)
  swapcontext(&from.uc, &to.uc);
#else
  raw_switch(&from.sp, to.sp);
#endif
#if CUEMU_ASAN
  __sanitizer_finish_switch_fiber(from.fake_stack, nullptr, nullptr);
#endif
}

#if defined(CUEMU_UCONTEXT)
inline void uc_entry(unsigned hi, unsigned lo) {
  fiber_main(reinterpret_cast<Fiber*>((uintptr_t(hi) << 32) | uintptr_t(lo)));
}
#endif

// ------------------------------------------------------------------------------------------------
// fiber stack overflow -> a readable message
// ------------------------------------------------------------------------------------------------
// A fiber that overruns its stack hits the guard. The handler runs on an alternate signal stack
// (the faulting one is unusable), names the kernel, puts the previous handler back and returns,
// so the fault repeats into whatever handled SIGSEGV before. It is installed at the first
// launch, not at static initialisation, and checked at every launch: a test framework that
// saves and restores SIGSEGV handlers around each test would otherwise remove it for good.
// Not under ASan, whose own SIGSEGV report is better than this one.
inline struct sigaction g_old_segv;
inline std::mutex g_segv_mutex;

inline void segv_handler(int sig, siginfo_t* si, void*) {
  if (BlockRun* r = tls_run) {
    const char* a = static_cast<const char*>(si->si_addr);
    for (const Stack& s : r->all_stacks)
      if (a >= s.base - kGuardBytes && a < s.base) {
        char buf[320];
        int n = std::snprintf(buf, sizeof buf,
                              "\n[cuemu] fiber stack overflow in kernel %s: per-thread stacks are "
                              "%zu KiB (large local arrays?) -- raise CUEMU_STACK_KB\n",
                              r->kernel_name, s.size / 1024);
        if (n > 0) {
          ssize_t w = write(2, buf, size_t(n));
          (void)w;
        }
        break;
      }
  }
  sigaction(sig, &g_old_segv, nullptr);
}

inline void ensure_segv_handler() {
#if !CUEMU_ASAN
  std::lock_guard<std::mutex> lock(g_segv_mutex);
  struct sigaction cur{};
  sigaction(SIGSEGV, nullptr, &cur);
  if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == &segv_handler) return;
  struct sigaction sa{};
  sa.sa_sigaction = &segv_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &g_old_segv);
#endif
}

// Gives the calling thread an alternate signal stack for the duration of a launch if it has
// none, and removes it again: a worker thread must not exit with its alternate stack pointing
// at memory that is freed with the thread.
class AltStackScope {
 public:
  AltStackScope() {
#if !CUEMU_ASAN
    stack_t cur{};
    if (sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return;
    static thread_local std::vector<char> mem;
    if (mem.empty()) mem.resize(64 * 1024);
    stack_t ss{};
    ss.ss_sp = mem.data();
    ss.ss_size = mem.size();
    installed_ = sigaltstack(&ss, nullptr) == 0;
#endif
  }
  ~AltStackScope() {
    if (!installed_) return;
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    sigaltstack(&off, nullptr);
  }
  AltStackScope(const AltStackScope&) = delete;
  AltStackScope& operator=(const AltStackScope&) = delete;

 private:
  bool installed_ = false;
};

// ------------------------------------------------------------------------------------------------
// fibers
// ------------------------------------------------------------------------------------------------
inline void prepare_fiber(BlockRun& r, Fiber& f) {
#if CUEMU_TSAN
  // A recycled stack would look like a race between the two threads that used it, and an
  // edge that hides it would hide real races too.
  if (!f.own_stack.base) {
    f.own_stack = alloc_stack(config().stack_bytes);
    r.all_stacks.push_back(f.own_stack);
  }
  f.stack = f.own_stack;
#else
  if (r.stack_pool.empty()) {
    Stack s = alloc_stack(config().stack_bytes);
    r.all_stacks.push_back(s);
    r.stack_pool.push_back(s);
  }
  f.stack = r.stack_pool.back();
  r.stack_pool.pop_back();
#endif
  f.ctx.stack_bottom = f.stack.base;
  f.ctx.stack_size = f.stack.size;
  f.ctx.fake_stack = nullptr;
#if defined(CUEMU_UCONTEXT)
  getcontext(&f.ctx.uc);
  f.ctx.uc.uc_stack.ss_sp = f.stack.base;
  f.ctx.uc.uc_stack.ss_size = f.stack.size;
  f.ctx.uc.uc_link = nullptr;
  const uintptr_t p = reinterpret_cast<uintptr_t>(&f);
  makecontext(&f.ctx.uc, reinterpret_cast<void (*)()>(&uc_entry), 2, unsigned(p >> 32),
              unsigned(p & 0xffffffffu));
#else
  // Frame that raw_switch pops: [mxcsr|fpcw] r15 r14 r13 r12 rbx rbp ret, leaving rsp 16-aligned
  // after the ret, so fiber_main is entered as if called.
  const uintptr_t top = (reinterpret_cast<uintptr_t>(f.stack.base) + f.stack.size) & ~uintptr_t(15);
  auto* w = reinterpret_cast<uint64_t*>(top - 16 - 64);
  uint32_t mxcsr;
  uint16_t fpcw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpcw));
  std::memset(w, 0, 64);
  std::memcpy(reinterpret_cast<char*>(w), &mxcsr, 4);
  std::memcpy(reinterpret_cast<char*>(w) + 4, &fpcw, 2);
  w[4] = reinterpret_cast<uint64_t>(&fiber_main);  // r12 = entry
  w[5] = reinterpret_cast<uint64_t>(&f);           // rbx = argument
  w[7] = reinterpret_cast<uint64_t>(&trampoline);  // return address
  f.ctx.sp = w;
#endif
}

inline void make_ready(BlockRun& r, unsigned id) {
  r.fibers[id].state = FState::Ready;
  r.ready.push_back(id);
}

// Queues the threads a barrier releases, in the schedule's order.
inline void release(BlockRun& r, std::vector<unsigned>& ids) {
  switch (r.order) {
    case Order::Forward: std::sort(ids.begin(), ids.end()); break;
    case Order::Reverse: std::sort(ids.begin(), ids.end(), std::greater<unsigned>()); break;
    case Order::Shuffle: std::shuffle(ids.begin(), ids.end(), r.rng); break;
  }
  for (unsigned id : ids) make_ready(r, id);
  ids.clear();
}

inline void yield_to_scheduler(BlockRun& r) {
  ++r.switches;
  switch_ctx(r.cur->ctx, r.sched);
  // resumed by the scheduler, which has already set threadIdx and r.cur
}

inline void fiber_main(Fiber* f) {
#if CUEMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &tls_run->sched.stack_bottom,
                                  &tls_run->sched.stack_size);
#endif
  BlockRun& r = *tls_run;
  CUEMU_TSAN_ACQUIRE(&r.tsan_start);  // everything before the block started
  r.body(r.body_ctx);
  CUEMU_IGN_BEGIN();
  CUEMU_TSAN_RELEASE(&r.tsan_end);  // this thread's work, before the block ends
  f->state = FState::Done;
  ++r.exited;
  ++r.switches;
  CUEMU_IGN_END();
  switch_ctx(f->ctx, r.sched, /*from_is_dying=*/true);
  fatal("a finished fiber was resumed");
}

// ------------------------------------------------------------------------------------------------
// barriers
// ------------------------------------------------------------------------------------------------
inline void syncthreads(const char* file, int line) {
  CUEMU_IGN_BEGIN();
  BlockRun& r = *tls_run;
  Fiber* f = r.cur;
  if (r.bar_count == 0) {
    r.bar_file = file;
    r.bar_line = line;
  } else if (r.bar_line != line || std::strcmp(r.bar_file, file) != 0) {
    fatal("divergent __syncthreads: this thread is at %s:%d, others wait at %s:%d", file, line,
          r.bar_file, r.bar_line);
  }
  f->wait_what = "__syncthreads";
  f->wait_file = file;
  f->wait_line = line;
  const unsigned slot = r.bar_gen & 1u;
  r.bar_waiters.push_back(f->linear);
  if (++r.bar_count == r.n) {  // the last arrival releases everybody, itself included
    r.bar_count = 0;
    ++r.bar_gen;
    release(r, r.bar_waiters);
  } else {
    f->state = FState::Blocked;
  }
  CUEMU_TSAN_RELEASE(&r.tsan_bar[slot]);
  yield_to_scheduler(r);
  CUEMU_TSAN_ACQUIRE(&r.tsan_bar[slot]);
  CUEMU_IGN_END();
}

// Joins (or opens) the group of the lanes named in mask that exist, leaves `value` in its
// exchange buffer, and blocks until every member has arrived. The caller reads what it needs from
// the returned group and then calls warp_done.
inline WarpGroup* warp_arrive(unsigned mask, uint64_t value, const char* what, const char* file,
                              int line) {
  BlockRun& r = *tls_run;
  Fiber* f = r.cur;
  Warp& w = r.warps[f->warp];
  const unsigned eff = mask & w.exist;
  if (!((eff >> f->lane) & 1u))
    fatal("%s at %s:%d: calling lane %u is not in mask 0x%08x (existing lanes 0x%08x)", what,
          file, line, f->lane, mask, w.exist);
  WarpGroup* g = nullptr;
  for (WarpGroup* p : w.pending)
    if (p->mask == eff) g = p;
  if (!g) {
    // Lanes at the same call site that name each other with different masks cannot be right;
    // at different call sites overlapping masks are legal (see WarpGroup).
    for (WarpGroup* p : w.pending)
      if (((p->mask >> f->lane) & 1u) && p->line == line && std::strcmp(p->file, file) == 0)
        fatal("%s at %s:%d: lanes of warp %u disagree on the member mask (0x%08x vs 0x%08x)",
              what, file, line, f->warp, eff, p->mask);
    if (r.free_groups.empty()) {
      r.groups.push_back(std::make_unique<WarpGroup>());
      r.free_groups.push_back(r.groups.back().get());
    }
    g = r.free_groups.back();
    r.free_groups.pop_back();
    g->mask = eff;
    g->count = 0;
    g->file = file;
    g->line = line;
    w.pending.push_back(g);
  }
  g->vals[f->lane] = value;
  f->wait_what = what;
  f->wait_file = file;
  f->wait_line = line;
  g->waiters.push_back(f->linear);
  if (++g->count == unsigned(__builtin_popcount(eff))) {
    w.pending.erase(std::find(w.pending.begin(), w.pending.end(), g));
    g->readers = g->count;
    g->count = 0;
    release(r, g->waiters);
  } else {
    f->state = FState::Blocked;
  }
  CUEMU_TSAN_RELEASE(&g->tsan_sync);
  yield_to_scheduler(r);
  CUEMU_TSAN_ACQUIRE(&g->tsan_sync);
  return g;
}

inline void warp_done(WarpGroup* g) {
#if CUEMU_TSAN
  // Not reused under TSan: a recycled sync object would carry the previous operation's
  // releases to lanes that never synchronised with it, and hide races between them.
  (void)g;
#else
  if (--g->readers == 0) tls_run->free_groups.push_back(g);
#endif
}

// __syncwarp(mask = full) carries its call site: the macro builds one of these and calls it.
struct SyncwarpSite {
  const char* file;
  int line;
  void operator()(unsigned mask = 0xffffffffu) const {
    CUEMU_IGN_BEGIN();
    warp_done(warp_arrive(mask, 0, "__syncwarp", file, line));
    CUEMU_IGN_END();
  }
};

// Exchanges a value through the warp: leave it in the group's buffer, wait for the group, read
// the source lane's.
template <class T, class SrcFn>
inline T warp_exchange(unsigned mask, T v, SrcFn src_of, const char* what, const char* file,
                       int line) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8,
                "emulated shuffles take trivially copyable types of up to 8 bytes");
  CUEMU_IGN_BEGIN();
  uint64_t raw = 0;
  std::memcpy(&raw, &v, sizeof(T));
  WarpGroup* g = warp_arrive(mask, raw, what, file, line);
  const unsigned lane = tls_run->cur->lane;
  const int src = src_of(int(lane));
  T out = v;
  if (src >= 0 && src < 32) {
    if (!((g->mask >> src) & 1u))
      fatal("%s at %s:%d: lane %u reads lane %d, which is not in the member mask 0x%08x", what,
            file, line, lane, src, g->mask);
    std::memcpy(&out, &g->vals[src], sizeof(T));
  }
  warp_done(g);
  CUEMU_IGN_END();
  return out;
}

// The votes of the group's members; *members gets the group's mask.
inline unsigned ballot(unsigned mask, int pred, const char* what, const char* file, int line,
                       unsigned* members) {
  CUEMU_IGN_BEGIN();
  WarpGroup* g = warp_arrive(mask, pred ? 1 : 0, what, file, line);
  unsigned bits = 0;
  for (int l = 0; l < 32; ++l)
    if (((g->mask >> l) & 1u) && g->vals[l]) bits |= 1u << l;
  *members = g->mask;
  warp_done(g);
  CUEMU_IGN_END();
  return bits;
}

inline void check_width(int width, const char* what) {
  if (width <= 0 || width > 32 || (width & (width - 1)) != 0)
    fatal("%s: width %d is not a power of two in [1, 32]", what, width);
}

// ------------------------------------------------------------------------------------------------
// per-block shared arena (BLOCK_SHARED, dynamic shared memory), poisoned at every block start
// ------------------------------------------------------------------------------------------------
inline constexpr unsigned char kPoison = 0xFF;  // float and double -> NaN, integers -> -1
inline constexpr unsigned char kCanaryByte = 0xA5;
inline constexpr size_t kCanary = 32;
inline constexpr size_t kStaticSharedLimit = 48 * 1024;  // what ptxas accepts for static smem
inline constexpr size_t kMaxSharedDecls = 128;
inline constexpr size_t kDefaultDynamicLimit = 48 * 1024;
inline constexpr size_t kOptinDynamicLimit = 227 * 1024;

inline void* arena_alloc(BlockRun& r, size_t bytes, size_t align, const char* name) {
  const uintptr_t base = reinterpret_cast<uintptr_t>(r.arena.data());
  const size_t off = size_t((base + r.arena_used + align - 1) / align * align - base);
  if (off + bytes + kCanary > r.arena.size())
    fatal("BLOCK_SHARED %s: the block's shared-memory arena (%zu bytes) is full; more than %zu "
          "declarations?",
          name, r.arena.size(), kMaxSharedDecls);
  r.arena_used = off + bytes + kCanary;
  unsigned char* p = r.arena.data() + off;
#if CUEMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, bytes + kCanary);
#endif
  std::memset(p, kPoison, bytes);
  std::memset(p + bytes, kCanaryByte, kCanary);
#if CUEMU_ASAN
  ASAN_POISON_MEMORY_REGION(p + bytes, kCanary);  // ASan reports the overflowing access itself
#endif
  r.arena_blocks.push_back(ArenaBlock{off, bytes, name});
  return p;
}

template <class T>
inline T* block_shared(SharedKey* key, const char* name) {
  CUEMU_IGN_BEGIN();  // the poisoning memset is emulator work, not a kernel write
  BlockRun* r = tls_run;
  if (!r) fatal("BLOCK_SHARED %s used outside a kernel", name);
  if (key->epoch != r->epoch) {
    r->static_used += sizeof(T);
    if (r->static_used > kStaticSharedLimit)
      fatal("BLOCK_SHARED %s: static shared memory of the block exceeds %zu bytes (ptxas would "
            "refuse the kernel; use DYNAMIC_SHARED and cudaFuncSetAttribute)",
            name, kStaticSharedLimit);
    key->ptr = arena_alloc(*r, sizeof(T), alignof(T) < 16 ? 16 : alignof(T), name);
    key->epoch = r->epoch;
  }
  T* p = static_cast<T*>(key->ptr);
  CUEMU_IGN_END();
  return p;
}

inline void* dynamic_smem() {
  BlockRun* r = tls_run;
  if (!r) fatal("DYNAMIC_SHARED used outside a kernel");
  return r->arena.data();
}

inline void check_canaries(BlockRun& r) {
#if CUEMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(r.arena.data(), r.arena.size());
#endif
  for (const ArenaBlock& b : r.arena_blocks) {
    const unsigned char* c = r.arena.data() + b.offset + b.bytes;
    for (size_t i = 0; i < kCanary; ++i)
      if (c[i] != kCanaryByte)
        fatal("%s overflow: the kernel wrote past its %zu bytes of shared memory", b.name,
              b.bytes);
  }
}

// ------------------------------------------------------------------------------------------------
// running a block / a grid
// ------------------------------------------------------------------------------------------------
inline void report_deadlock(const BlockRun& r) {
  // Up to three distinct wait sites, so a mix of barrier and warp waits is visible.
  struct Site {
    const char *what, *file;
    int line;
    unsigned count;
  };
  Site sites[3];
  unsigned nsites = 0, blocked = 0;
  for (const Fiber& f : r.fibers) {
    if (f.state != FState::Blocked) continue;
    ++blocked;
    unsigned i = 0;
    while (i < nsites && !(sites[i].line == f.wait_line && sites[i].what == f.wait_what &&
                           std::strcmp(sites[i].file, f.wait_file) == 0))
      ++i;
    if (i < nsites) ++sites[i].count;
    else if (nsites < 3) sites[nsites++] = Site{f.wait_what, f.wait_file, f.wait_line, 1};
  }
  char more[400] = "";
  size_t used = 0;
  for (unsigned i = 1; i < nsites && used < sizeof more; ++i) {
    int k = std::snprintf(more + used, sizeof more - used, "; %u wait at %s:%d (%s)",
                          sites[i].count, sites[i].file, sites[i].line, sites[i].what);
    if (k < 0) break;
    used += size_t(k);
  }
  const Site s0 = nsites ? sites[0] : Site{"?", "?", 0, 0};
  fatal("deadlock: %u of %u threads exited while %u wait at %s:%d (%s)%s (an early return before "
        "a barrier, or a barrier inside divergent code)",
        r.exited, r.n, blocked, s0.file, s0.line, s0.what, more);
}

inline void run_block(BlockRun& r) {
  CUEMU_IGN_BEGIN();  // scheduler bookkeeping is invisible to TSan
  r.epoch = ++g_block_epoch;
  r.next_start = 0;
  r.ready.clear();
  r.ready_head = 0;
  r.exited = 0;
  r.bar_count = 0;
  r.bar_waiters.clear();
  for (auto& w : r.warps) w.pending.clear();
#if !CUEMU_TSAN
  r.free_groups.clear();
  for (auto& g : r.groups) r.free_groups.push_back(g.get());
#endif
  for (auto& f : r.fibers) f.state = FState::NotStarted;
  r.arena_used = 0;
  r.static_used = 0;
  r.arena_blocks.clear();
#if CUEMU_ASAN
  // Shared memory no declaration owns is unaddressable.
  ASAN_POISON_MEMORY_REGION(r.arena.data(), r.arena.size());
#endif
  if (r.dyn_bytes) arena_alloc(r, r.dyn_bytes, 16, "DYNAMIC_SHARED");
  if (r.order == Order::Shuffle) std::shuffle(r.start_order.begin(), r.start_order.end(), r.rng);
  CUEMU_TSAN_RELEASE(&r.tsan_start);

  for (;;) {
    Fiber* f;
    if (r.ready_head < r.ready.size()) {
      f = &r.fibers[r.ready[r.ready_head++]];
    } else if (r.next_start < r.n) {
      f = &r.fibers[r.start_order[r.next_start++]];
      prepare_fiber(r, *f);
    } else {
      break;
    }
    if (r.ready_head == r.ready.size()) {
      r.ready.clear();
      r.ready_head = 0;
    }
    r.cur = f;
    threadIdx = f->tid;
    f->state = FState::Running;
    ++r.switches;
    switch_ctx(r.sched, f->ctx);
#if !CUEMU_TSAN
    // A thread that ran to completion gives its stack straight back, so a barrier-free kernel
    // needs one stack however large its block is.
    if (f->state == FState::Done) r.stack_pool.push_back(f->stack);
#endif
  }
  r.cur = nullptr;
  CUEMU_TSAN_ACQUIRE(&r.tsan_end);
  if (r.exited != r.n) report_deadlock(r);
  check_canaries(r);
  CUEMU_IGN_END();
}

struct LaunchDesc {
  dim3 grid, block;
  size_t smem;
  const char* name;
  void (*body)(void*);
  void* ctx;
  uintptr_t key;  // the kernel's address, for cudaFuncSetAttribute
};

// The order in which a launch's blocks run: position p -> linear block index. Shuffle is a
// seeded bijection on the next power of two, cycle-walked into [0, nb), so huge grids need no
// table.
struct BlockOrder {
  Order order;
  uint64_t nb, mask, mul1, add1, mul2, add2;
  unsigned shift;
  BlockOrder(Order o, uint64_t nblocks, uint64_t seed) : order(o), nb(nblocks) {
    unsigned bits = 0;
    while ((uint64_t(1) << bits) < nb) ++bits;
    mask = bits >= 64 ? ~uint64_t(0) : (uint64_t(1) << bits) - 1;
    shift = bits / 2 + 1;
    std::mt19937_64 g(seed ^ 0x9e3779b97f4a7c15ull);
    mul1 = g() | 1u;
    add1 = g();
    mul2 = g() | 1u;
    add2 = g();
  }
  uint64_t step(uint64_t x) const {
    x = (x * mul1 + add1) & mask;
    x ^= x >> shift;
    x = (x * mul2 + add2) & mask;
    x ^= x >> shift;
    return x;
  }
  uint64_t operator()(uint64_t p) const {
    switch (order) {
      case Order::Forward: return p;
      case Order::Reverse: return nb - 1 - p;
      case Order::Shuffle: break;
    }
    uint64_t x = step(p);
    while (x >= nb) x = step(x);
    return x;
  }
};

inline void run_blocks_on_this_thread(const LaunchDesc& d, const BlockOrder& order, uint64_t first,
                                      uint64_t last, unsigned worker) {
  AltStackScope alt;
  BlockRun r;
  tls_run = &r;
  const Schedule sched = schedule();
  r.order = sched.order;
  r.rng.seed(sched.seed + 0x100000001b3ull * worker);
  r.body = d.body;
  r.body_ctx = d.ctx;
  r.kernel_name = d.name;
  r.n = d.block.x * d.block.y * d.block.z;
  r.fibers.resize(r.n);
  r.warps.resize((r.n + 31) / 32);
  for (unsigned i = 0; i < r.n; ++i) {
    Fiber& f = r.fibers[i];
    f.linear = i;
    f.tid = uint3{i % d.block.x, (i / d.block.x) % d.block.y, i / (d.block.x * d.block.y)};
    f.lane = i % 32;
    f.warp = i / 32;
    r.warps[f.warp].exist |= 1u << f.lane;
#if CUEMU_TSAN
    f.ctx.tsan_fiber = __tsan_create_fiber(0);
    char nm[64];
    std::snprintf(nm, sizeof nm, "cuda thread (%u,%u,%u)", f.tid.x, f.tid.y, f.tid.z);
    __tsan_set_fiber_name(f.ctx.tsan_fiber, nm);
#endif
  }
#if CUEMU_TSAN
  r.sched.tsan_fiber = __tsan_get_current_fiber();
#endif
  r.start_order.resize(r.n);
  for (unsigned i = 0; i < r.n; ++i)
    r.start_order[i] = sched.order == Order::Reverse ? r.n - 1 - i : i;
  r.dyn_bytes = d.smem;
  r.arena.assign(d.smem + kCanary + kStaticSharedLimit + kMaxSharedDecls * (kCanary + 16), 0);
  blockDim = d.block;
  gridDim = d.grid;
  const uint64_t gx = d.grid.x, gy = d.grid.y;
  for (uint64_t p = first; p < last; ++p) {
    const uint64_t b = order(p);
    blockIdx = uint3{unsigned(b % gx), unsigned((b / gx) % gy), unsigned(b / (gx * gy))};
    run_block(r);
  }
  g_switches += r.switches;
  tls_run = nullptr;
}

inline std::mutex& func_attr_mutex() {
  static std::mutex* m = new std::mutex;  // never destroyed: launches may run during exit
  return *m;
}
inline std::unordered_map<uintptr_t, size_t>& func_max_dynamic_smem() {
  static auto* m = new std::unordered_map<uintptr_t, size_t>;
  return *m;
}

// The checks cudart makes before a launch; failing ones become the launch's error.
inline bool launch_config_ok(const LaunchDesc& d) {
  const dim3 b = d.block, g = d.grid;
  const uint64_t threads = uint64_t(b.x) * b.y * b.z;
  if (threads == 0 || threads > 1024) {
    fail(cudaErrorInvalidConfiguration, "%s: block (%u,%u,%u) has %llu threads (1 to 1024)",
         d.name, b.x, b.y, b.z, static_cast<unsigned long long>(threads));
    return false;
  }
  if (b.x > 1024 || b.y > 1024 || b.z > 64) {
    fail(cudaErrorInvalidConfiguration, "%s: block (%u,%u,%u) exceeds (1024,1024,64)", d.name, b.x,
         b.y, b.z);
    return false;
  }
  if (g.x == 0 || g.y == 0 || g.z == 0 || g.x > 2147483647u || g.y > 65535 || g.z > 65535) {
    fail(cudaErrorInvalidConfiguration, "%s: grid (%u,%u,%u) is empty or exceeds "
         "(2^31-1,65535,65535)", d.name, g.x, g.y, g.z);
    return false;
  }
  size_t limit = kDefaultDynamicLimit;
  {
    std::lock_guard<std::mutex> lock(func_attr_mutex());
    auto it = func_max_dynamic_smem().find(d.key);
    if (it != func_max_dynamic_smem().end()) limit = std::max(limit, it->second);
  }
  if (d.smem > limit) {
    fail(cudaErrorInvalidConfiguration, "%s: %zu bytes of dynamic shared memory exceed the "
         "kernel's limit of %zu (cudaFuncSetAttribute raises it to %zu)",
         d.name, d.smem, limit, kOptinDynamicLimit);
    return false;
  }
  return true;
}

#if CUEMU_ASAN
// With ASAN_OPTIONS=detect_stack_use_after_return=1 every fiber would get its own fake stack
// (an mmap of hundreds of KiB, unmapped when the fiber ends): a 256-thread block with barriers
// maps and unmaps ~100 MiB, and the emulated suite took 15 minutes instead of seconds under
// ASan, almost all of it in the kernel. Kernel code therefore runs without fake stacks (no
// use-after-return checks inside kernels; host code keeps them).
extern "C" int __asan_option_detect_stack_use_after_return;
struct NoFakeStacks {
  int saved = __asan_option_detect_stack_use_after_return;
  NoFakeStacks() { __asan_option_detect_stack_use_after_return = 0; }
  ~NoFakeStacks() { __asan_option_detect_stack_use_after_return = saved; }
};
#else
struct NoFakeStacks {
  NoFakeStacks() {}  // user-provided: a guard variable of this type is not "unused"
};
#endif

inline void launch(const LaunchDesc& d) {
  if (tls_run) fatal("kernel %s launched from device code (dynamic parallelism is not emulated)",
                     d.name);
  if (!launch_config_ok(d)) return;
  ensure_segv_handler();
  ++g_launches;
  const NoFakeStacks no_fake_stacks;  // for the whole launch
  const uint64_t nb = uint64_t(d.grid.x) * d.grid.y * d.grid.z;
  const Schedule sched = schedule();
  const BlockOrder order(sched.order, nb, sched.seed);
  const unsigned T = unsigned(std::min<uint64_t>(config().threads, nb));
  if (T <= 1) {
    run_blocks_on_this_thread(d, order, 0, nb, 0);
    return;
  }
  // Blocks are independent by CUDA's contract: each worker takes a contiguous range of
  // positions in the block order; the fibers of a block stay on their worker.
  std::vector<std::thread> workers;
  workers.reserve(T);
  for (unsigned t = 0; t < T; ++t) {
    const uint64_t a = nb * t / T, b = nb * (t + 1) / T;
    workers.emplace_back([&d, &order, a, b, t] { run_blocks_on_this_thread(d, order, a, b, t); });
  }
  for (auto& w : workers) w.join();
}

// kernel<<<grid, block, smem, stream>>>(args...) for the emulator.
template <class... P>
struct Launch {
  void (*k)(P...);
  dim3 g, b;
  size_t smem;
  const char* name;
  template <class... A>
  void operator()(A&&... a) const {
    static_assert(sizeof...(A) == sizeof...(P), "wrong number of kernel arguments");
    using Args = std::tuple<std::decay_t<P>...>;
    Args args(std::forward<A>(a)...);
    struct Call {
      void (*k)(P...);
      Args* args;
    } call{k, &args};
    // std::apply hands each thread its own copies of the by-value parameters, as CUDA does.
    LaunchDesc d{g, b, smem, name,
                 [](void* p) {
                   auto* c = static_cast<Call*>(p);
                   std::apply(c->k, *c->args);
                 },
                 &call, reinterpret_cast<uintptr_t>(k)};
    launch(d);
  }
};
template <class... P>
inline Launch<P...> make_launch(void (*k)(P...), dim3 g, dim3 b, size_t smem, const char* name) {
  return Launch<P...>{k, g, b, smem, name};
}

// ------------------------------------------------------------------------------------------------
// emulated device memory
// ------------------------------------------------------------------------------------------------
// Blocks are exact-size, 256-aligned heap blocks: rounding the size up would hide off-by-one
// kernel accesses from ASan. The side table keys blocks by the complement of their address, so
// LeakSanitizer does not see the table as a reference and still reports device memory that the
// program lost. The complement reverses the order, which the range lookup accounts for.
struct MemState {
  std::mutex m;
  std::map<uintptr_t, size_t> blocks;  // ~address -> size
  size_t in_use = 0;
  size_t budget = config().mem_budget;
};
inline MemState& mem() {
  static MemState* s = new MemState;  // never destroyed: frees may run during exit
  return *s;
}

// Whether [p, p + n) lies inside one live block.
inline bool is_device_range(const void* p, size_t n) {
  MemState& s = mem();
  std::lock_guard<std::mutex> lock(s.m);
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = s.blocks.lower_bound(~a);  // the smallest ~base >= ~a is the largest base <= a
  if (it == s.blocks.end()) return false;
  const uintptr_t base = ~it->first;
  return a - base <= it->second && n <= it->second - (a - base);
}

inline void set_memory_budget(size_t bytes) {
  std::lock_guard<std::mutex> lock(mem().m);
  mem().budget = bytes;
}
inline void reset_memory_budget() { set_memory_budget(config().mem_budget); }
inline size_t memory_budget() {
  std::lock_guard<std::mutex> lock(mem().m);
  return mem().budget;
}
inline size_t memory_in_use() {
  std::lock_guard<std::mutex> lock(mem().m);
  return mem().in_use;
}

struct Stream {
  unsigned flags;
};
struct Event {
  std::chrono::steady_clock::time_point t;
  bool recorded;
  unsigned flags;
};

}  // namespace impl

// ------------------------------------------------------------------------------------------------
// device intrinsics
// ------------------------------------------------------------------------------------------------
// Warp operations take their call site as defaulted trailing parameters, so deadlock and mask
// reports name the kernel's line rather than this header's.
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }

template <class T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = warpSize,
                     const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  impl::check_width(width, "__shfl_sync");
  return impl::warp_exchange(
      mask, v, [=](int lane) { return (lane & ~(width - 1)) + (src & (width - 1)); },
      "__shfl_sync", file, line);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize,
                        const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  impl::check_width(width, "__shfl_up_sync");
  return impl::warp_exchange(
      mask, v,
      [=](int lane) { return (lane & (width - 1)) < int(delta) ? -1 : lane - int(delta); },
      "__shfl_up_sync", file, line);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize,
                          const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  impl::check_width(width, "__shfl_down_sync");
  return impl::warp_exchange(
      mask, v,
      [=](int lane) { return (lane & (width - 1)) + int(delta) >= width ? -1 : lane + int(delta); },
      "__shfl_down_sync", file, line);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize,
                         const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  impl::check_width(width, "__shfl_xor_sync");
  return impl::warp_exchange(
      mask, v,
      [=](int lane) {
        const int s = lane ^ lane_mask;
        return s >= (lane & ~(width - 1)) + width ? -1 : s;
      },
      "__shfl_xor_sync", file, line);
}
inline unsigned __ballot_sync(unsigned mask, int pred, const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
  unsigned members = 0;
  return impl::ballot(mask, pred, "__ballot_sync", file, line, &members);
}
inline int __any_sync(unsigned mask, int pred, const char* file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
  unsigned members = 0;
  return impl::ballot(mask, pred, "__any_sync", file, line, &members) != 0;
}
inline int __all_sync(unsigned mask, int pred, const char* file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
  unsigned members = 0;
  const unsigned bits = impl::ballot(mask, pred, "__all_sync", file, line, &members);
  return bits == members;
}
// Every existing lane: the emulator has no divergence to report, and code that needs the
// real active mask is warp-synchronous code, which cuda/README.md forbids.
inline unsigned __activemask() {
  impl::BlockRun* r = impl::tls_run;
  return r && r->cur ? r->warps[r->cur->warp].exist : 0u;
}

// ------------------------------------------------------------------------------------------------
// atomics: real atomics, so blocks on several OS threads (CUEMU_THREADS > 1) stay correct
// ------------------------------------------------------------------------------------------------
namespace impl {
template <class T, class Op>
inline T atomic_rmw(T* p, Op op) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "atomics on 4- and 8-byte types only");
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  U* up = reinterpret_cast<U*>(p);
  U old = __atomic_load_n(up, __ATOMIC_RELAXED), next;
  T o, n;
  do {
    std::memcpy(&o, &old, sizeof(T));
    n = op(o);
    std::memcpy(&next, &n, sizeof(T));
  } while (!__atomic_compare_exchange_n(up, &old, next, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
  return o;
}
}  // namespace impl

inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicAdd(unsigned* p, unsigned v) {
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
inline float atomicAdd(float* p, float v) {
  return impl::atomic_rmw(p, [v](float a) { return a + v; });
}
inline double atomicAdd(double* p, double v) {
  return impl::atomic_rmw(p, [v](double a) { return a + v; });
}
inline int atomicSub(int* p, int v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicSub(unsigned* p, unsigned v) {
  return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST);
}
inline int atomicMax(int* p, int v) {
  return impl::atomic_rmw(p, [v](int a) { return a > v ? a : v; });
}
inline unsigned atomicMax(unsigned* p, unsigned v) {
  return impl::atomic_rmw(p, [v](unsigned a) { return a > v ? a : v; });
}
inline long long atomicMax(long long* p, long long v) {
  return impl::atomic_rmw(p, [v](long long a) { return a > v ? a : v; });
}
inline unsigned long long atomicMax(unsigned long long* p, unsigned long long v) {
  return impl::atomic_rmw(p, [v](unsigned long long a) { return a > v ? a : v; });
}
inline int atomicMin(int* p, int v) {
  return impl::atomic_rmw(p, [v](int a) { return a < v ? a : v; });
}
inline unsigned atomicMin(unsigned* p, unsigned v) {
  return impl::atomic_rmw(p, [v](unsigned a) { return a < v ? a : v; });
}
inline long long atomicMin(long long* p, long long v) {
  return impl::atomic_rmw(p, [v](long long a) { return a < v ? a : v; });
}
inline unsigned long long atomicMin(unsigned long long* p, unsigned long long v) {
  return impl::atomic_rmw(p, [v](unsigned long long a) { return a < v ? a : v; });
}
inline int atomicAnd(int* p, int v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicAnd(unsigned* p, unsigned v) {
  return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST);
}
inline int atomicOr(int* p, int v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicOr(unsigned* p, unsigned v) {
  return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST);
}
inline int atomicXor(int* p, int v) { return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicXor(unsigned* p, unsigned v) {
  return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST);
}
inline int atomicExch(int* p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicExch(unsigned* p, unsigned v) {
  return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
inline unsigned long long atomicExch(unsigned long long* p, unsigned long long v) {
  return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
inline float atomicExch(float* p, float v) {
  return impl::atomic_rmw(p, [v](float) { return v; });
}
inline int atomicCAS(int* p, int cmp, int v) {
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
inline unsigned atomicCAS(unsigned* p, unsigned cmp, unsigned v) {
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long cmp,
                                    unsigned long long v) {
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}

// ------------------------------------------------------------------------------------------------
// math and bit intrinsics. The fast-math variants are the precise functions here, so results
// differ from a GPU's in the last bits: tests compare with tolerances.
// ------------------------------------------------------------------------------------------------
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __powf(float a, float b) { return std::pow(a, b); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __saturatef(float x) { return x > 0.f ? (x < 1.f ? x : 1.f) : 0.f; }  // NaN -> 0
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
// The bits of one type read as another of the same size (CUDA's __float_as_int family).
template <class To, class From>
inline To bits_as(From x) {
  static_assert(sizeof(To) == sizeof(From), "bits_as: sizes differ");
  To to;
  std::memcpy(&to, &x, sizeof to);
  return to;
}
inline int __float_as_int(float x) { return bits_as<int>(x); }
inline unsigned __float_as_uint(float x) { return bits_as<unsigned>(x); }
inline float __int_as_float(int i) { return bits_as<float>(i); }
inline float __uint_as_float(unsigned i) { return bits_as<float>(i); }
inline long long __double_as_longlong(double x) { return bits_as<long long>(x); }
inline double __longlong_as_double(long long i) { return bits_as<double>(i); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
  return (x >> 16) | (x << 16);
}

// ------------------------------------------------------------------------------------------------
// host runtime API (device memory is host memory; everything is synchronous)
// ------------------------------------------------------------------------------------------------
using cudaStream_t = impl::Stream*;
using cudaEvent_t = impl::Event*;

enum cudaMemcpyKind : int {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaFuncAttribute : int {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};
enum cudaDeviceAttr : int {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxBlockDimX = 2,
  cudaDevAttrMaxBlockDimY = 3,
  cudaDevAttrMaxBlockDimZ = 4,
  cudaDevAttrMaxGridDimX = 5,
  cudaDevAttrMaxGridDimY = 6,
  cudaDevAttrMaxGridDimZ = 7,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};
inline constexpr unsigned cudaStreamDefault = 0x00;
inline constexpr unsigned cudaStreamNonBlocking = 0x01;
inline constexpr unsigned cudaEventDefault = 0x00;
inline constexpr unsigned cudaEventBlockingSync = 0x01;
inline constexpr unsigned cudaEventDisableTiming = 0x02;

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int regsPerBlock;
  int warpSize;
  size_t memPitch;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  size_t totalConstMem;
  int major;
  int minor;
  int multiProcessorCount;
  int maxThreadsPerMultiProcessor;
  size_t sharedMemPerMultiprocessor;
  size_t sharedMemPerBlockOptin;
  int l2CacheSize;
  int concurrentKernels;
  int unifiedAddressing;
};

inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidSymbol: return "cudaErrorInvalidSymbol";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorUnknown: return "cudaErrorUnknown";
  }
  return "unrecognized error code";  // cudart's answer for a number it does not know
}
// cudart's wording.
inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidSymbol: return "invalid device symbol";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver:
      return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorUnknown: return "unknown error";
  }
  return "unrecognized error code";
}

// The last error stays until it is read: launches and calls that succeed do not clear it.
inline cudaError_t cudaGetLastError() {
  const cudaError_t e = impl::t_last_error;
  impl::t_last_error = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError() { return impl::t_last_error; }

// ---- device
// A fixed SM count, not the host's core count: launchers that size grids from it must give the
// same grid, and so the same float summation order, on every machine.
inline constexpr int kEmulatedMultiProcessors = 16;

inline cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return impl::fail(cudaErrorInvalidValue, "cudaGetDeviceCount: count is null");
  *count = 1;
  return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int* device) {
  if (!device) return impl::fail(cudaErrorInvalidValue, "cudaGetDevice: device is null");
  *device = 0;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int device) {
  if (device != 0)
    return impl::fail(cudaErrorInvalidDevice, "cudaSetDevice(%d): the emulator has device 0 only",
                      device);
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop) return impl::fail(cudaErrorInvalidValue, "cudaGetDeviceProperties: prop is null");
  if (device != 0)
    return impl::fail(cudaErrorInvalidDevice,
                      "cudaGetDeviceProperties(%d): the emulator has device 0 only", device);
  std::memset(prop, 0, sizeof *prop);
  std::snprintf(prop->name, sizeof prop->name, "%s", "fovea CUDA emulator");
  prop->totalGlobalMem = impl::memory_budget();
  prop->sharedMemPerBlock = impl::kDefaultDynamicLimit;
  prop->regsPerBlock = 65536;
  prop->warpSize = warpSize;
  prop->memPitch = 2147483647;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  prop->totalConstMem = 65536;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = kEmulatedMultiProcessors;
  prop->maxThreadsPerMultiProcessor = 2048;
  prop->sharedMemPerMultiprocessor = 228 * 1024;
  prop->sharedMemPerBlockOptin = impl::kOptinDynamicLimit;
  prop->l2CacheSize = 50 * 1024 * 1024;
  prop->concurrentKernels = 1;
  prop->unifiedAddressing = 1;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return impl::fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: value is null");
  if (device != 0)
    return impl::fail(cudaErrorInvalidDevice,
                      "cudaDeviceGetAttribute: the emulator has device 0 only");
  int v = -1;
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: v = 1024; break;
    case cudaDevAttrMaxBlockDimX: v = 1024; break;
    case cudaDevAttrMaxBlockDimY: v = 1024; break;
    case cudaDevAttrMaxBlockDimZ: v = 64; break;
    case cudaDevAttrMaxGridDimX: v = 2147483647; break;
    case cudaDevAttrMaxGridDimY: v = 65535; break;
    case cudaDevAttrMaxGridDimZ: v = 65535; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: v = int(impl::kDefaultDynamicLimit); break;
    case cudaDevAttrWarpSize: v = warpSize; break;
    case cudaDevAttrMultiProcessorCount: v = kEmulatedMultiProcessors; break;
    case cudaDevAttrComputeCapabilityMajor: v = 9; break;
    case cudaDevAttrComputeCapabilityMinor: v = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: v = int(impl::kOptinDynamicLimit); break;
  }
  if (v >= 0) {
    *value = v;
    return cudaSuccess;
  }
  return impl::fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: attribute %d is not emulated",
                    int(attr));
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

// ---- memory
inline cudaError_t cudaMalloc(void** p, size_t n) {
  if (!p) return impl::fail(cudaErrorInvalidValue, "cudaMalloc: devPtr is null");
  *p = nullptr;  // also on failure, so callers' "maybe uninitialized" analysis stays quiet
  if (n == 0) return cudaSuccess;
  impl::MemState& s = impl::mem();
  std::lock_guard<std::mutex> lock(s.m);
  const size_t free_bytes = s.budget > s.in_use ? s.budget - s.in_use : 0;
  if (n > free_bytes)
    return impl::fail(cudaErrorMemoryAllocation,
                      "cudaMalloc(%zu): %zu of the emulated device's %zu bytes are in use "
                      "(CUEMU_MEM_MB)",
                      n, s.in_use, s.budget);
  void* q = nullptr;
  if (posix_memalign(&q, 256, n) != 0)
    return impl::fail(cudaErrorMemoryAllocation, "cudaMalloc(%zu): the host is out of memory", n);
  s.blocks.emplace(~reinterpret_cast<uintptr_t>(q), n);
  s.in_use += n;
  *p = q;
  return cudaSuccess;
}
template <class T>
inline cudaError_t cudaMalloc(T** p, size_t n) {
  return cudaMalloc(reinterpret_cast<void**>(p), n);
}
inline cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  impl::MemState& s = impl::mem();
  std::lock_guard<std::mutex> lock(s.m);
  auto it = s.blocks.find(~reinterpret_cast<uintptr_t>(p));
  if (it == s.blocks.end())
    return impl::fail(cudaErrorInvalidValue,
                      "cudaFree(%p): not a live block from cudaMalloc (double free?)", p);
  s.in_use -= it->second;
  s.blocks.erase(it);
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMallocHost(void** p, size_t n) {
  if (!p) return impl::fail(cudaErrorInvalidValue, "cudaMallocHost: ptr is null");
  *p = nullptr;
  void* q = nullptr;
  if (posix_memalign(&q, 256, n ? n : 1) != 0)
    return impl::fail(cudaErrorMemoryAllocation, "cudaMallocHost(%zu): out of host memory", n);
  *p = q;
  return cudaSuccess;
}
template <class T>
inline cudaError_t cudaMallocHost(T** p, size_t n) {
  return cudaMallocHost(reinterpret_cast<void**>(p), n);
}
inline cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (!free_bytes || !total_bytes)
    return impl::fail(cudaErrorInvalidValue, "cudaMemGetInfo: an output is null");
  impl::MemState& s = impl::mem();
  std::lock_guard<std::mutex> lock(s.m);
  *total_bytes = s.budget;
  *free_bytes = s.budget > s.in_use ? s.budget - s.in_use : 0;
  return cudaSuccess;
}

// Device memory is host memory here, so a copy in the wrong direction would just work; the
// device side of every copy and memset must lie inside one block from cudaMalloc, which catches
// swapped arguments and ranges that run past a block.
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault)
    return impl::fail(cudaErrorInvalidMemcpyDirection, "cudaMemcpy: kind %d", int(kind));
  if (n == 0) return cudaSuccess;
  if (!dst || !src) return impl::fail(cudaErrorInvalidValue, "cudaMemcpy: a pointer is null");
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (dst_dev && !impl::is_device_range(dst, n))
    return impl::fail(cudaErrorInvalidValue,
                      "cudaMemcpy: destination [%p, +%zu) is not inside one cudaMalloc block", dst,
                      n);
  if (src_dev && !impl::is_device_range(src, n))
    return impl::fail(cudaErrorInvalidValue,
                      "cudaMemcpy: source [%p, +%zu) is not inside one cudaMalloc block", src, n);
  std::memcpy(dst, src, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind,
                                   cudaStream_t = nullptr) {
  return cudaMemcpy(dst, src, n, kind);
}
inline cudaError_t cudaMemset(void* dst, int value, size_t n) {
  if (n == 0) return cudaSuccess;
  if (!impl::is_device_range(dst, n))
    return impl::fail(cudaErrorInvalidValue,
                      "cudaMemset: [%p, +%zu) is not inside one cudaMalloc block", dst, n);
  std::memset(dst, value, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* dst, int value, size_t n, cudaStream_t = nullptr) {
  return cudaMemset(dst, value, n);
}
// __constant__ variables are plain globals here.
template <class T>
inline cudaError_t cudaMemcpyToSymbol(T& symbol, const void* src, size_t n, size_t offset = 0,
                                      cudaMemcpyKind = cudaMemcpyHostToDevice) {
  if (offset > sizeof(T) || n > sizeof(T) - offset)
    return impl::fail(cudaErrorInvalidValue, "cudaMemcpyToSymbol: %zu bytes at offset %zu of a "
                      "%zu-byte symbol", n, offset, sizeof(T));
  std::memcpy(reinterpret_cast<char*>(&symbol) + offset, src, n);
  return cudaSuccess;
}
template <class T>
inline cudaError_t cudaMemcpyFromSymbol(void* dst, const T& symbol, size_t n, size_t offset = 0,
                                        cudaMemcpyKind = cudaMemcpyDeviceToHost) {
  if (offset > sizeof(T) || n > sizeof(T) - offset)
    return impl::fail(cudaErrorInvalidValue, "cudaMemcpyFromSymbol: %zu bytes at offset %zu of a "
                      "%zu-byte symbol", n, offset, sizeof(T));
  std::memcpy(dst, reinterpret_cast<const char*>(&symbol) + offset, n);
  return cudaSuccess;
}

// ---- streams and events (work is done when the call returns)
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  if (!stream) return impl::fail(cudaErrorInvalidValue, "cudaStreamCreate: stream is null");
  if (flags & ~cudaStreamNonBlocking)
    return impl::fail(cudaErrorInvalidValue, "cudaStreamCreateWithFlags: flags 0x%x", flags);
  *stream = new impl::Stream{flags};
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}
inline cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!stream)
    return impl::fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: the default stream");
  delete stream;
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }

inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  if (!event) return impl::fail(cudaErrorInvalidValue, "cudaEventCreate: event is null");
  *event = new impl::Event{std::chrono::steady_clock::time_point(), false, flags};
  return cudaSuccess;
}
inline cudaError_t cudaEventCreate(cudaEvent_t* event) {
  return cudaEventCreateWithFlags(event, cudaEventDefault);
}
inline cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t = nullptr) {
  if (!event) return impl::fail(cudaErrorInvalidResourceHandle, "cudaEventRecord: null event");
  event->t = std::chrono::steady_clock::now();
  event->recorded = true;
  return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!event)
    return impl::fail(cudaErrorInvalidResourceHandle, "cudaEventSynchronize: null event");
  return cudaSuccess;
}
inline cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }
inline cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t event, unsigned = 0) {
  return cudaEventSynchronize(event);
}
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return impl::fail(cudaErrorInvalidValue, "cudaEventElapsedTime: ms is null");
  if (!start || !end || !start->recorded || !end->recorded ||
      ((start->flags | end->flags) & cudaEventDisableTiming))
    return impl::fail(cudaErrorInvalidResourceHandle,
                      "cudaEventElapsedTime: an event is null, unrecorded or has no timing");
  *ms = std::chrono::duration<float, std::milli>(end->t - start->t).count();
  return cudaSuccess;
}
inline cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (!event) return impl::fail(cudaErrorInvalidResourceHandle, "cudaEventDestroy: null event");
  delete event;
  return cudaSuccess;
}

// ---- kernel attributes
// Only the dynamic shared-memory limit is kept: launches above 48 KiB need it, as on a GPU.
template <class T>
inline cudaError_t cudaFuncSetAttribute(T* entry, cudaFuncAttribute attr, int value) {
  static_assert(std::is_function<T>::value, "cudaFuncSetAttribute takes a kernel");
  if (!entry)
    return impl::fail(cudaErrorInvalidDeviceFunction, "cudaFuncSetAttribute: null kernel");
  if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) {
    if (value < -1 || value > 100)
      return impl::fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: carveout %d", value);
    return cudaSuccess;
  }
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize)
    return impl::fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: attribute %d is not emulated",
                      int(attr));
  if (value < 0 || size_t(value) > impl::kOptinDynamicLimit)
    return impl::fail(cudaErrorInvalidValue,
                      "cudaFuncSetAttribute: %d bytes of dynamic shared memory (at most %zu)",
                      value, impl::kOptinDynamicLimit);
  std::lock_guard<std::mutex> lock(impl::func_attr_mutex());
  impl::func_max_dynamic_smem()[reinterpret_cast<uintptr_t>(entry)] = size_t(value);
  return cudaSuccess;
}

}  // namespace fovea::cuemu

// ------------------------------------------------------------------------------------------------
// barrier macros: they pass the call site, so divergent barriers can be named
// ------------------------------------------------------------------------------------------------
#define __syncthreads() ::fovea::cuemu::impl::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) (::fovea::cuemu::impl::SyncwarpSite{__FILE__, __LINE__}(__VA_ARGS__))
