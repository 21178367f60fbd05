// The memory layouts in which tests feed inputs to ops: the gradient checks
// (support/op_check.h) and the CUDA parity tests (support/cuda_parity.h).
//   contiguous  the tensor as is
//   permuted    a leaf of reversed shape, permuted back: strides run backwards (2+ dims)
//   sliced      a leaf twice as long in the last dim, every second element taken (1+ dims)
//   expanded    a leaf with size 1 in one axis, expanded: stride 0 there (so other values).
//               The axis is the first of size > 1 unless the caller names another.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "engine/core/tensor.h"

namespace fovea::test {

enum class Layout { Contiguous, Permuted, Sliced, Expanded };
const char* layout_name(Layout l);
const std::vector<Layout>& all_layouts();

// A leaf in the layout's storage shape (contiguous, on the CPU, values' dtype) and the view of
// it the op receives; nothing when the input's rank does not allow the layout. Moving the leaf
// to another device and applying `view` there builds the same layout on that device.
struct LaidOut {
  Tensor leaf;
  std::function<Tensor(const Tensor&)> view;
};
std::optional<LaidOut> lay_out(const Tensor& values, Layout layout, int64_t expand_axis = -1);

}  // namespace fovea::test
