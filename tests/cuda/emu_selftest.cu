// Kernels that test the CUDA emulator itself (cuda/emu/cuemu.h), written like any cuda/*.cu file
// but compiled only by the host compiler: tests/cuda/test_emulator.cpp includes this file. Some
// kernels are wrong on purpose (each says how); the tests check that the emulator catches them.
// Host launchers throw on a failed runtime call, so a test fails with the call named.
#pragma once

#if defined(__CUDACC__)
#error "emu_selftest.cu tests the emulator; it is not built with nvcc"
#endif

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/kcompat.cuh"

FOVEA_CUDA_BEGIN
namespace emu_selftest {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorName(e) + " (" +
                             impl::last_problem() + ")");
}

// Device buffer of n elements.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) { check(cudaMalloc(&p_, n * sizeof(T)), "cudaMalloc"); }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return p_; }
  void upload(const std::vector<T>& host) {
    check(cudaMemcpy(p_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), "H2D");
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    check(cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), "D2H");
    return host;
  }

 private:
  T* p_ = nullptr;
  size_t n_;
};

// ---------------------------------------------------------------------------------- kernels
__global__ void axpy_kernel(float a, const float* __restrict__ x, float* __restrict__ y,
                            int64_t n) {
  GRID_STRIDE_LOOP(i, n) { y[i] = a * x[i] + y[i]; }
}

// One partial sum per block: grid-stride accumulation, then a shared-memory tree.
template <int BLOCK>
__global__ void tree_sum_kernel(const float* __restrict__ x, int64_t n,
                                float* __restrict__ partial) {
  BLOCK_SHARED(s, float[BLOCK]);
  float acc = 0.f;
  GRID_STRIDE_LOOP(i, n) { acc += x[i]; }
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int stride = BLOCK / 2; stride > 0; stride >>= 1) {
    if (int(threadIdx.x) < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// WRONG: the tree has no barrier between its levels.
template <int BLOCK>
__global__ void tree_sum_missing_sync_kernel(const float* x, int64_t n, float* partial) {
  __shared__ float s[BLOCK];
  float acc = 0.f;
  GRID_STRIDE_LOOP(i, n) { acc += x[i]; }
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int stride = BLOCK / 2; stride > 0; stride >>= 1) {
    if (int(threadIdx.x) < stride) s[threadIdx.x] += s[threadIdx.x + stride];
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// WRONG since Volta: the last warp's levels rely on lock-step execution instead of __syncwarp.
template <int BLOCK>
__global__ void tree_sum_warp_synchronous_kernel(const float* x, int64_t n, float* partial) {
  __shared__ float s[BLOCK];
  float acc = 0.f;
  GRID_STRIDE_LOOP(i, n) { acc += x[i]; }
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int stride = BLOCK / 2; stride > 32; stride >>= 1) {
    if (int(threadIdx.x) < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x < 32) {
    volatile float* v = s;
    const unsigned t = threadIdx.x;
    v[t] = v[t] + v[t + 32];
    v[t] = v[t] + v[t + 16];
    v[t] = v[t] + v[t + 8];
    v[t] = v[t] + v[t + 4];
    v[t] = v[t] + v[t + 2];
    v[t] = v[t] + v[t + 1];
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// WRONG: sums BLOCK slots, but is launched with fewer threads, so some slots are never written.
template <int BLOCK>
__global__ void sum_unwritten_shared_kernel(const float* x, float* out) {
  BLOCK_SHARED(s, float[BLOCK]);
  s[threadIdx.x] = x[blockIdx.x * blockDim.x + threadIdx.x];
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0.f;
    for (int k = 0; k < BLOCK; ++k) t += s[k];
    out[blockIdx.x] = t;
  }
}
// The same with plain __shared__, which the emulator does not poison.
template <int BLOCK>
__global__ void sum_unwritten_plain_shared_kernel(const float* x, float* out) {
  __shared__ float s[BLOCK];
  s[threadIdx.x] = x[blockIdx.x * blockDim.x + threadIdx.x];
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0.f;
    for (int k = 0; k < BLOCK; ++k) t += s[k];
    out[blockIdx.x] = t;
  }
}

// One value per thread; per warp: a __shfl_down_sync sum (lane 0), a __shfl_xor_sync max (all
// lanes), a __shfl_sync broadcast of lane 5, a __shfl_up_sync inclusive scan, a width-16 max
// (per half warp), and a ballot / any / all of v > 0.
struct ShuffleOut {
  float *sum, *max, *bcast, *scan, *halfmax;
  unsigned* ballot;
  int *any, *all;
};
__global__ void warp_shuffle_kernel(const float* x, ShuffleOut out) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  const unsigned lane = threadIdx.x % 32;
  const float v = x[i];
  float s = v;
  for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(kFullMask, s, off);
  if (lane == 0) out.sum[i / 32] = s;
  float m = v;
  for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(kFullMask, m, off));
  out.max[i] = m;
  out.bcast[i] = __shfl_sync(kFullMask, v, 5);
  float c = v;
  for (int off = 1; off < 32; off <<= 1) {
    const float up = __shfl_up_sync(kFullMask, c, off);
    if (int(lane) >= off) c += up;
  }
  out.scan[i] = c;
  float h = v;
  for (int off = 8; off > 0; off >>= 1) h = fmaxf(h, __shfl_xor_sync(kFullMask, h, off, 16));
  out.halfmax[i] = h;
  const unsigned b = __ballot_sync(kFullMask, v > 0.f);
  const int any = __any_sync(kFullMask, v > 0.9f);
  const int all = __all_sync(kFullMask, v > -0.99f);
  __syncwarp();
  if (lane == 0) {
    out.ballot[i / 32] = b;
    out.any[i / 32] = any;
    out.all[i / 32] = all;
  }
}

// Lanes 0-15 exchange among themselves first (an odd number of times), then the whole warp
// rotates by 16: the second exchange must still pair every lane with the right partner.
__global__ void mixed_mask_shuffle_kernel(const float* x, float* y) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  const unsigned lane = threadIdx.x % 32;
  float v = x[i];
  if (lane < 16) v = __shfl_xor_sync(0x0000ffffu, v, 1, 16);
  __syncwarp();
  y[i] = __shfl_sync(kFullMask, v, int((lane + 16) % 32));
}

// Histogram and totals of small non-negative integers: every result is exact, whatever order
// the atomics run in (the float total stays below 2^24).
__global__ void atomics_kernel(const int* __restrict__ x, int64_t n, int* bins, float* total,
                               unsigned long long* count, int* maxv, int* minv) {
  GRID_STRIDE_LOOP(i, n) {
    atomicAdd(&bins[x[i]], 1);
    atomicAdd(total, float(x[i]));
    atomicAdd(count, 1ull);
    atomicMax(maxv, x[i]);
    atomicMin(minv, x[i]);
  }
}

// Records the order in which blocks start, threads start, and threads leave a barrier.
__global__ void order_kernel(unsigned* counters, unsigned* block_ticket, unsigned* start_ticket,
                             unsigned* release_ticket) {
  if (threadIdx.x == 0) block_ticket[blockIdx.x] = atomicAdd(&counters[0], 1u);
  const unsigned slot = blockIdx.x * blockDim.x + threadIdx.x;
  start_ticket[slot] = atomicAdd(&counters[1 + blockIdx.x], 1u);
  __syncthreads();
  release_ticket[slot] = atomicAdd(&counters[1 + gridDim.x + blockIdx.x], 1u);
}

// WRONG: threads past the end leave before the barrier the others wait at.
__global__ void early_return_kernel(const float* x, float* y, int64_t n) {
  BLOCK_SHARED(s, float[256]);
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  s[threadIdx.x] = x[i];
  __syncthreads();
  y[i] = s[(threadIdx.x + 1) % blockDim.x];
}

// WRONG: the two halves of the block wait at different barriers.
__global__ void divergent_barrier_kernel(float* y) {
  if (threadIdx.x % 2 == 0) {
    y[threadIdx.x] = 1.f;
    __syncthreads();
  } else {
    y[threadIdx.x] = 2.f;
    __syncthreads();
  }
}

// WRONG: lanes 0-15 shuffle among themselves but read lane 20.
__global__ void shuffle_outside_mask_kernel(float* y) {
  const unsigned lane = threadIdx.x % 32;
  if (lane < 16) y[threadIdx.x] = __shfl_sync(0x0000ffffu, float(lane), 20);
}

// WRONG: one shuffle, two masks: lanes 16-31 name lanes 0-15, which name only themselves.
__global__ void disagreeing_masks_kernel(float* y) {
  const unsigned lane = threadIdx.x % 32;
  const unsigned mask = lane < 16 ? 0x0000ffffu : kFullMask;
  y[threadIdx.x] = __shfl_sync(mask, float(lane), 0);
}

// WRONG: writes one element past its shared array.
__global__ void shared_overflow_kernel(float* y) {
  BLOCK_SHARED(s, float[32]);
  float* p = s;  // through a pointer, past what UBSan's array-bounds check can see
  p[threadIdx.x + 1] = 1.f;
  __syncthreads();
  y[threadIdx.x] = s[threadIdx.x];
}

// WRONG: a frame much larger than the fiber stack.
__global__ void big_frame_kernel(float* y, size_t frame_bytes) {
  volatile char* buf = static_cast<volatile char*>(__builtin_alloca(frame_bytes));
  buf[0] = 1;  // the lowest byte lies in the guard below the stack
  y[threadIdx.x] = buf[0];
}

// y[blockIdx * blockDim + threadIdx] = v (x dimensions only).
__global__ void fill_kernel(int* y, int v) { y[blockIdx.x * blockDim.x + threadIdx.x] = v; }

// Reverses n floats through dynamic shared memory of n * 4 bytes. Tag makes each test's kernel
// its own function, so a cudaFuncSetAttribute in one test cannot leak into another.
template <int Tag>
__global__ void dynamic_reverse_kernel(const float* x, float* y, int n) {
  DYNAMIC_SHARED(buf, float);
  for (int i = threadIdx.x; i < n; i += blockDim.x) buf[i] = x[i];
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) y[i] = buf[n - 1 - i];
}

// ---------------------------------------------------------------------------------- launchers
inline std::vector<float> axpy(float a, const std::vector<float>& x, const std::vector<float>& y,
                               int grid, int block) {
  DeviceBuffer<float> dx(x), dy(y);
  KLAUNCH(grid, block, 0, nullptr, axpy_kernel)(a, dx.get(), dy.get(), int64_t(x.size()));
  check(cudaGetLastError(), "axpy_kernel");
  return dy.download();
}

enum class TreeVariant { Correct, MissingSync, WarpSynchronous };
inline constexpr int kTreeBlock = 256;

// Per-block partial sums of x with `grid` blocks of kTreeBlock threads.
inline std::vector<float> tree_partials(TreeVariant variant, const std::vector<float>& x,
                                        int grid) {
  DeviceBuffer<float> dx(x), partial(static_cast<size_t>(grid));
  const int64_t n = int64_t(x.size());
  switch (variant) {
    case TreeVariant::Correct:
      KLAUNCH(grid, kTreeBlock, 0, nullptr, tree_sum_kernel<kTreeBlock>)(dx.get(), n,
                                                                          partial.get());
      break;
    case TreeVariant::MissingSync:
      KLAUNCH(grid, kTreeBlock, 0, nullptr, tree_sum_missing_sync_kernel<kTreeBlock>)(
          dx.get(), n, partial.get());
      break;
    case TreeVariant::WarpSynchronous:
      KLAUNCH(grid, kTreeBlock, 0, nullptr, tree_sum_warp_synchronous_kernel<kTreeBlock>)(
          dx.get(), n, partial.get());
      break;
  }
  check(cudaGetLastError(), "tree sum");
  return partial.download();
}

// The full sum: the partials of a grid, then one block over the partials (the two-pass pattern).
inline float tree_sum(const std::vector<float>& x, int grid) {
  DeviceBuffer<float> dx(x), partial(static_cast<size_t>(grid)), total(1);
  KLAUNCH(grid, kTreeBlock, 0, nullptr, tree_sum_kernel<kTreeBlock>)(dx.get(), int64_t(x.size()),
                                                                      partial.get());
  KLAUNCH(1, kTreeBlock, 0, nullptr, tree_sum_kernel<kTreeBlock>)(partial.get(), int64_t(grid),
                                                                   total.get());
  check(cudaGetLastError(), "tree sum (two passes)");
  return total.download()[0];
}

// Launches BLOCK-slot kernels with BLOCK / 2 threads per block; one value per block.
inline std::vector<float> sum_unwritten_shared(const std::vector<float>& x, int grid, bool plain) {
  constexpr int kSlots = 256;
  DeviceBuffer<float> dx(x), out(static_cast<size_t>(grid));
  if (plain)
    KLAUNCH(grid, kSlots / 2, 0, nullptr, sum_unwritten_plain_shared_kernel<kSlots>)(dx.get(),
                                                                                     out.get());
  else
    KLAUNCH(grid, kSlots / 2, 0, nullptr, sum_unwritten_shared_kernel<kSlots>)(dx.get(),
                                                                               out.get());
  check(cudaGetLastError(), "sum_unwritten_shared");
  return out.download();
}

struct ShuffleResults {
  std::vector<float> sum, max, bcast, scan, halfmax;
  std::vector<unsigned> ballot;
  std::vector<int> any, all;
};
inline ShuffleResults warp_shuffles(const std::vector<float>& x, int block) {
  const size_t n = x.size(), warps = n / 32;
  const int grid = int(n / size_t(block));
  DeviceBuffer<float> dx(x), sum(warps), max(n), bcast(n), scan(n), halfmax(n);
  DeviceBuffer<unsigned> ballot(warps);
  DeviceBuffer<int> any(warps), all(warps);
  const ShuffleOut out{sum.get(),     max.get(),    bcast.get(), scan.get(),
                       halfmax.get(), ballot.get(), any.get(),   all.get()};
  KLAUNCH(grid, block, 0, nullptr, warp_shuffle_kernel)(dx.get(), out);
  check(cudaGetLastError(), "warp_shuffle_kernel");
  return ShuffleResults{sum.download(),     max.download(),    bcast.download(),
                        scan.download(),    halfmax.download(), ballot.download(),
                        any.download(),     all.download()};
}

inline std::vector<float> mixed_mask_shuffles(const std::vector<float>& x, int block) {
  DeviceBuffer<float> dx(x), dy(x.size());
  KLAUNCH(int(x.size() / size_t(block)), block, 0, nullptr, mixed_mask_shuffle_kernel)(dx.get(),
                                                                                    dy.get());
  check(cudaGetLastError(), "mixed_mask_shuffle_kernel");
  return dy.download();
}

struct AtomicResults {
  std::vector<int> bins;
  float total;
  unsigned long long count;
  int maxv, minv;
};
inline AtomicResults atomics(const std::vector<int>& x, int nbins, int grid, int block) {
  DeviceBuffer<int> dx(x), bins(std::vector<int>(size_t(nbins), 0));
  DeviceBuffer<float> total(std::vector<float>{0.f});
  DeviceBuffer<unsigned long long> count(std::vector<unsigned long long>{0});
  DeviceBuffer<int> maxv(std::vector<int>{-1}), minv(std::vector<int>{1 << 30});
  KLAUNCH(grid, block, 0, nullptr, atomics_kernel)(dx.get(), int64_t(x.size()), bins.get(),
                                                   total.get(), count.get(), maxv.get(),
                                                   minv.get());
  check(cudaGetLastError(), "atomics_kernel");
  return AtomicResults{bins.download(), total.download()[0], count.download()[0],
                       maxv.download()[0], minv.download()[0]};
}

struct OrderResults {
  std::vector<unsigned> block_ticket, start_ticket, release_ticket;
};
inline OrderResults launch_order(int grid, int block) {
  DeviceBuffer<unsigned> counters(std::vector<unsigned>(1 + 2 * size_t(grid), 0u));
  DeviceBuffer<unsigned> blocks(static_cast<size_t>(grid)), starts(size_t(grid) * block),
      releases(size_t(grid) * block);
  KLAUNCH(grid, block, 0, nullptr, order_kernel)(counters.get(), blocks.get(), starts.get(),
                                                 releases.get());
  check(cudaGetLastError(), "order_kernel");
  return OrderResults{blocks.download(), starts.download(), releases.download()};
}

// The broken launches below abort the process when the emulator catches them.
inline void early_return_before_barrier(int64_t n) {
  DeviceBuffer<float> x(std::vector<float>(size_t(n), 1.f)), y(static_cast<size_t>(n));
  const int grid = int((n + 255) / 256);
  KLAUNCH(grid, 256, 0, nullptr, early_return_kernel)(x.get(), y.get(), n);
  check(cudaDeviceSynchronize(), "early_return_kernel");
}
inline void divergent_barrier() {
  DeviceBuffer<float> y(64);
  KLAUNCH(1, 64, 0, nullptr, divergent_barrier_kernel)(y.get());
}
inline void shuffle_outside_mask() {
  DeviceBuffer<float> y(32);
  KLAUNCH(1, 32, 0, nullptr, shuffle_outside_mask_kernel)(y.get());
}
inline void disagreeing_masks() {
  DeviceBuffer<float> y(32);
  KLAUNCH(1, 32, 0, nullptr, disagreeing_masks_kernel)(y.get());
}
inline void shared_overflow() {
  DeviceBuffer<float> y(32);
  KLAUNCH(1, 32, 0, nullptr, shared_overflow_kernel)(y.get());
}
inline void big_frame(size_t frame_bytes) {
  DeviceBuffer<float> y(1);
  KLAUNCH(1, 1, 0, nullptr, big_frame_kernel)(y.get(), frame_bytes);
}

// Launches fill_kernel without checking, so the caller sees the launch's error itself.
inline void launch_fill(dim3 grid, dim3 block, int* y, int v) {
  KLAUNCH(grid, block, 0, nullptr, fill_kernel)(y, v);
}

// Runs dynamic_reverse_kernel<Tag> over smem_bytes / 4 floats; launch errors are left for the
// caller to read.
template <int Tag>
inline std::vector<float> dynamic_reverse(const std::vector<float>& x, size_t smem_bytes) {
  DeviceBuffer<float> dx(x), dy(std::vector<float>(x.size(), 0.f));
  KLAUNCH(1, 128, smem_bytes, nullptr, dynamic_reverse_kernel<Tag>)(dx.get(), dy.get(),
                                                                    int(x.size()));
  return dy.download();
}
template <int Tag>
inline cudaError_t set_dynamic_smem_limit(int bytes) {
  return cudaFuncSetAttribute(dynamic_reverse_kernel<Tag>,
                              cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

// H2D, axpy and D2H on a stream of its own, timed with events.
inline std::vector<float> axpy_on_stream(float a, const std::vector<float>& x, float* elapsed_ms) {
  cudaStream_t stream = nullptr;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  cudaEvent_t start = nullptr, stop = nullptr;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  DeviceBuffer<float> dx(x.size()), dy(x.size());
  const size_t bytes = x.size() * sizeof(float);
  check(cudaEventRecord(start, stream), "cudaEventRecord");
  check(cudaMemcpyAsync(dx.get(), x.data(), bytes, cudaMemcpyHostToDevice, stream), "H2D");
  check(cudaMemsetAsync(dy.get(), 0, bytes, stream), "cudaMemsetAsync");
  KLAUNCH(4, 64, 0, stream, axpy_kernel)(a, dx.get(), dy.get(), int64_t(x.size()));
  check(cudaGetLastError(), "axpy_kernel");
  std::vector<float> y(x.size());
  check(cudaMemcpyAsync(y.data(), dy.get(), bytes, cudaMemcpyDeviceToHost, stream), "D2H");
  check(cudaEventRecord(stop, stream), "cudaEventRecord");
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  check(cudaEventSynchronize(stop), "cudaEventSynchronize");
  check(cudaEventElapsedTime(elapsed_ms, start, stop), "cudaEventElapsedTime");
  check(cudaEventDestroy(start), "cudaEventDestroy");
  check(cudaEventDestroy(stop), "cudaEventDestroy");
  check(cudaStreamDestroy(stream), "cudaStreamDestroy");
  return y;
}

}  // namespace emu_selftest
FOVEA_CUDA_END
