// Strided element-wise iteration shared by every CPU kernel that walks tensors element by
// element (copy, unary, binary, fill, where, ...).
//
// A loop over `shape` with N operands, each with its own element strides (0 on broadcast
// axes), is first simplified: size-1 dims are dropped and adjacent dims that every operand
// walks contiguously are merged, so a contiguous tensor of any rank becomes one flat row. The
// flat index range is then split across threads and each piece is handed to `row` as runs
// along the innermost dim:
//   row(std::array<int64_t, N> offsets, int64_t count, std::array<int64_t, N> inner_strides)
// with offsets in elements relative to each operand's base pointer. Kernels write a fast path
// for inner strides of 1 (vectorisable) and a general strided path.
#pragma once

#include <array>
#include <vector>

#include "engine/core/parallel.h"
#include "engine/core/shape.h"
#include "engine/kernels/strided.h"

namespace fovea {

// Runs `row` over the flat range [begin, end) of the plan.
template <size_t N, typename RowFn>
void run_loop_range(const LoopPlan<N>& p, int64_t begin, int64_t end, RowFn& row) {
  const size_t nd = p.sizes.size();
  const int64_t inner = p.sizes.back();
  std::array<int64_t, N> inner_strides, off{};
  for (size_t k = 0; k < N; ++k) inner_strides[k] = p.strides[k].back();
  // Decompose the starting flat index into an outer multi-index and a column.
  std::vector<int64_t> idx(nd, 0);
  int64_t rest = begin / inner;
  int64_t col = begin % inner;
  for (size_t d = nd - 1; d-- > 0;) {
    idx[d] = rest % p.sizes[d];
    rest /= p.sizes[d];
  }
  for (size_t k = 0; k < N; ++k) {
    off[k] = col * inner_strides[k];
    for (size_t d = 0; d + 1 < nd; ++d) off[k] += idx[d] * p.strides[k][d];
  }
  int64_t pos = begin;
  while (pos < end) {
    const int64_t count = std::min(inner - col, end - pos);
    row(off, count, inner_strides);
    pos += count;
    if (pos >= end) break;
    // Next row: undo the column walk, then step the outer odometer.
    for (size_t k = 0; k < N; ++k) off[k] -= col * inner_strides[k];
    col = 0;
    for (size_t d = nd - 1; d-- > 0;) {
      ++idx[d];
      for (size_t k = 0; k < N; ++k) off[k] += p.strides[k][d];
      if (idx[d] < p.sizes[d]) break;
      for (size_t k = 0; k < N; ++k) off[k] -= idx[d] * p.strides[k][d];
      idx[d] = 0;
    }
  }
}

template <size_t N, typename RowFn>
void for_each_strided(const Shape& shape, const std::array<Shape, N>& strides, RowFn&& row) {
  const LoopPlan<N> p = make_loop_plan<N>(shape, strides);
  parallel_for(p.numel, 1, [&](int64_t b, int64_t e) { run_loop_range<N>(p, b, e, row); });
}

}  // namespace fovea
