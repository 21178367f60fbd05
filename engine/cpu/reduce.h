// CPU reduction kernels and the layout helper they share.
//
// Every reduction over a set of dims is computed on a [outer, inner] row view of its input:
// outer runs over the kept dims (row-major, the order of the output), inner over the reduced
// dims. reduce_rows() produces that view, copying only when the input's layout requires it.
#pragma once

#include <vector>

#include "engine/core/dispatch.h"
#include "engine/core/tensor.h"

namespace fovea {

// Shape after reducing `dims` (normalised, sorted): size-1 dims kept when keepdim.
Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim);

struct ReduceRows {
  Tensor rows;  // contiguous [outer, inner]
  int64_t outer = 1, inner = 1;
};
ReduceRows reduce_rows(const Tensor& x, const std::vector<int64_t>& dims);

// out (contiguous, outer elements) = sum of x over dims.
void sum_cpu(const Tensor& x, const Tensor& out, const std::vector<int64_t>& dims);
extern KernelSlot<void(const Tensor&, const Tensor&, const std::vector<int64_t>&)> sum_kernel;

}  // namespace fovea
