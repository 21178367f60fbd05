// Per-line algorithms written once for two schedules (softmax, log_softmax, cross-entropy).
//
// A line is n elements at base + k * stride. An algorithm is a __device__ function template over
// a line type L that asks it for reductions and loops:
//   L::max(f)   max over k of f(k) (a NaN never wins)       L::sum(f)   sum of f(k), in double
//   L::each(f)  f(k) for every k                            L::at(k)    element k's offset
//   L::leader() true in the one thread that writes the line's own results
// SeqLine is one thread walking the line in order: every line of a tensor whose softmax axis is
// not the last (neighbouring threads take neighbouring lines, so reads coalesce) and short rows.
// BlockLine<BLOCK> is a whole block on one contiguous row: each thread takes every BLOCK-th
// element and the block combines the partial results in a fixed order (block_reduce.cuh);
// every thread of the block must run the algorithm, and every thread gets each result.
#pragma once

#include "engine/kernels/softmax.h"

FOVEA_CUDA_BEGIN

struct SeqLine {
  int64_t base, stride, n;
  __device__ int64_t at(int64_t k) const { return base + k * stride; }
  __device__ bool leader() const { return true; }
  template <class F>
  __device__ float max(F f) const {
    float m = -INFINITY;
    for (int64_t k = 0; k < n; ++k) m = softmax_math::max_step(m, f(k));
    return m;
  }
  template <class F>
  __device__ double sum(F f) const {
    double s = 0;
    for (int64_t k = 0; k < n; ++k) s += f(k);
    return s;
  }
  template <class F>
  __device__ void each(F f) const {
    for (int64_t k = 0; k < n; ++k) f(k);
  }
};

struct MaxStepOp {
  __device__ float operator()(float a, float b) const { return softmax_math::max_step(a, b); }
};

template <int BLOCK>
struct BlockLine {
  int64_t base, n;
  __device__ int64_t at(int64_t k) const { return base + k; }
  __device__ bool leader() const { return threadIdx.x == 0; }
  template <class F>
  __device__ float max(F f) const {
    float m = -INFINITY;
    for (int64_t k = threadIdx.x; k < n; k += BLOCK) m = softmax_math::max_step(m, f(k));
    return block_reduce<BLOCK>(m, MaxStepOp{});
  }
  template <class F>
  __device__ double sum(F f) const {
    double s = 0;
    for (int64_t k = threadIdx.x; k < n; k += BLOCK) s += f(k);
    return block_reduce_sum<BLOCK>(s);
  }
  template <class F>
  __device__ void each(F f) const {
    for (int64_t k = threadIdx.x; k < n; k += BLOCK) f(k);
  }
};

// Lines of a contiguous [outer, d, inner] block, one thread each: line l starts at
// (l / inner) * d * inner + l % inner and steps by inner.
template <class Algo>
__global__ void seq_lines_k(int64_t lines, int64_t d, int64_t inner, Algo algo) {
  GRID_STRIDE_LOOP(l, lines) { algo(SeqLine{(l / inner) * d * inner + l % inner, inner, d}, l); }
}

// Contiguous rows of d elements, one block each.
template <int BLOCK, class Algo>
__global__ void __launch_bounds__(BLOCK) block_rows_k(int64_t rows, int64_t d, Algo algo) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x)  // uniform in the block
    algo(BlockLine<BLOCK>{r * d, d}, r);
}

constexpr int kLineBlock = 256;
constexpr int64_t kSeqLineMax = 64;  // rows longer than this get a block each

// Runs algo(line, index) on each of the outer * inner lines of d elements.
template <class Algo>
void launch_lines(const char* name, int64_t outer, int64_t d, int64_t inner, Algo algo) {
  const int64_t lines = outer * inner;
  if (lines == 0) return;
  if (inner == 1 && d > kSeqLineMax) {
    const unsigned grid = unsigned(std::min<int64_t>(outer, 4096));
    KLAUNCH(grid, kLineBlock, 0, stream(), block_rows_k<kLineBlock, Algo>)(outer, d, algo);
  } else {
    KLAUNCH(elementwise_grid(lines), kElementwiseBlock, 0, stream(), seq_lines_k<Algo>)(
        lines, d, inner, algo);
  }
  FOVEA_CUDA_LAUNCH_CHECK(name);
}

FOVEA_CUDA_END
