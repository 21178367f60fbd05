// The folding of a strided loop, shared by the CPU kernels (engine/cpu/loops.h) and the CUDA
// element-wise launcher (cuda/elementwise.cuh).
//
// A loop over `shape` with N operands, each with its own element strides (0 on broadcast
// axes), is simplified: size-1 dims are dropped and adjacent dims that every operand walks
// contiguously are merged, so a contiguous tensor of any rank becomes one flat row.
// StridedIndexer is the device-side form: at most kMaxStridedDims folded dims in fixed arrays,
// passed to a kernel by value, turning a flat index into each operand's element offset.
// C++17 and free of OpenMP: nvcc compiles it.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/hostdevice.h"
#include "engine/core/shape.h"

namespace fovea {

template <size_t N>
struct LoopPlan {
  std::vector<int64_t> sizes;  // innermost last; never empty
  std::array<std::vector<int64_t>, N> strides;
  int64_t numel = 1;
};

template <size_t N>
LoopPlan<N> make_loop_plan(const Shape& shape, const std::array<Shape, N>& strides) {
  LoopPlan<N> p;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    const bool mergeable = !p.sizes.empty() && [&] {
      for (size_t k = 0; k < N; ++k)
        if (p.strides[k].back() != strides[k][d] * shape[d]) return false;
      return true;
    }();
    if (mergeable) {
      p.sizes.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) p.strides[k].back() = strides[k][d];
    } else {
      p.sizes.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) p.strides[k].push_back(strides[k][d]);
    }
  }
  if (p.sizes.empty()) {
    p.sizes.push_back(1);
    for (size_t k = 0; k < N; ++k) p.strides[k].push_back(0);
  }
  p.numel = shape_numel(shape);
  return p;
}

constexpr int kMaxStridedDims = 8;

template <size_t N>
struct StridedIndexer {
  int ndim = 1;
  int64_t sizes[kMaxStridedDims] = {1};
  int64_t strides[N][kMaxStridedDims] = {};

  // Element offsets of flat index i (row-major over the folded sizes) for every operand.
  FOVEA_HD void offsets(int64_t i, int64_t (&off)[N]) const {
    for (size_t k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t idx = d == 0 ? i : i % sizes[d];
      i = d == 0 ? 0 : i / sizes[d];
      for (size_t k = 0; k < N; ++k) off[k] += idx * strides[k][d];
    }
  }
};

template <size_t N>
StridedIndexer<N> make_strided_indexer(const LoopPlan<N>& p, const char* op) {
  FOVEA_CHECK(p.sizes.size() <= size_t(kMaxStridedDims), op, ": a strided loop over ",
              p.sizes.size(), " dims that cannot be merged; CUDA kernels take at most ",
              kMaxStridedDims, " (make the tensor contiguous first)");
  StridedIndexer<N> ix;
  ix.ndim = int(p.sizes.size());
  for (int d = 0; d < ix.ndim; ++d) {
    ix.sizes[d] = p.sizes[d];
    for (size_t k = 0; k < N; ++k) ix.strides[k][d] = p.strides[k][d];
  }
  return ix;
}

}  // namespace fovea
