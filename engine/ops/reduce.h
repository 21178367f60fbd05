// Reductions over any set of dims. `dims` empty means every dim; negative dims count from the
// end; keepdim leaves each reduced dim in place with size 1.
#pragma once

#include <vector>

#include "engine/core/tensor.h"

namespace fovea {

// y = sum_{dims} x.            dx = broadcast(dy)
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// y = sum_{dims} x / n.        dx = broadcast(dy) / n,  n = number of reduced elements
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);

// Sums x down to `shape`, the inverse of broadcasting `shape` up to x.shape(): the leading
// extra dims and every dim where shape has 1 are summed. Returns x itself when the shapes match.
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace fovea
