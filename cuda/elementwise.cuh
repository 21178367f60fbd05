// The element-wise launcher: one kernel template walks any strided (or broadcast) operands and
// hands each element's offsets to a per-op body.
//
//   struct Body { float* y; const float* x;
//                 __device__ void operator()(const int64_t (&off)[2]) const { y[off[0]] = ...; } };
//   launch_elementwise<2>("relu", y.shape(), {y.strides(), x.strides()}, Body{...});
//
// The operands' strides are folded first (engine/kernels/strided.h), so contiguous tensors of
// any rank index as one flat row. Indices are 64-bit and the loop is grid-stride: a thread may
// take several elements, and no thread talks to another.
#pragma once

#include <array>

#include "engine/kernels/strided.h"

FOVEA_CUDA_BEGIN

template <size_t N, class Body>
__global__ void elementwise_k(StridedIndexer<N> ix, int64_t n, Body body) {
  GRID_STRIDE_LOOP(i, n) {
    int64_t off[N];
    ix.offsets(i, off);
    body(off);
  }
}

template <size_t N, class Body>
void launch_elementwise(const char* name, const Shape& shape, const std::array<Shape, N>& strides,
                        const Body& body) {
  const LoopPlan<N> plan = make_loop_plan<N>(shape, strides);
  if (plan.numel == 0) return;
  const StridedIndexer<N> ix = make_strided_indexer<N>(plan, name);
  KLAUNCH(elementwise_grid(plan.numel), kElementwiseBlock, 0, stream(), elementwise_k<N, Body>)(
      ix, plan.numel, body);
  FOVEA_CUDA_LAUNCH_CHECK(name);
}

FOVEA_CUDA_END
