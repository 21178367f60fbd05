// Block-wide reductions for kernels that give one block a row (sums, norms, softmax, ...).
//
//   const double total = block_reduce_sum<256>(partial);   // every thread gets the total
//
// Every thread of the block must call it, in block-uniform control flow; BLOCK must equal
// blockDim.x (a multiple of 32, at most 1024; launchers pass the same constant). The order of
// the additions is fixed (a shuffle tree within each warp, then the warps' sums in warp order),
// so the result does not depend on how threads are scheduled: the emulator's schedule check
// demands exactly that.
#pragma once

FOVEA_CUDA_BEGIN

template <int BLOCK, class T, class Combine>
__device__ __forceinline__ T block_reduce(T v, Combine combine) {
  static_assert(BLOCK % 32 == 0 && BLOCK <= 1024, "block_reduce: BLOCK must be whole warps");
  BLOCK_SHARED(warp_results, T[BLOCK / 32]);
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
  for (int offset = 16; offset > 0; offset >>= 1)
    v = combine(v, __shfl_down_sync(kFullMask, v, offset));
  if (lane == 0) warp_results[warp] = v;
  __syncthreads();
  T total = warp_results[0];
  for (int w = 1; w < BLOCK / 32; ++w) total = combine(total, warp_results[w]);
  __syncthreads();  // the next call may overwrite warp_results
  return total;
}

struct SumOp {
  template <class T>
  __device__ T operator()(T a, T b) const { return a + b; }
};

template <int BLOCK, class T>
__device__ __forceinline__ T block_reduce_sum(T v) {
  return block_reduce<BLOCK>(v, SumOp{});
}

FOVEA_CUDA_END
