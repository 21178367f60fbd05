// Softmax and log-softmax along one axis (any axis; negative dims count from the end). The
// output has x's shape and dtype; a 0-d input is treated as one element (its softmax is 1).
//
//   softmax:      y = exp(x - m) / sum_dim exp(x - m),  m = max_dim x
//                 dx = y * (g - sum_dim(g * y))
//   log_softmax:  y = (x - m) - log(sum_dim exp(x - m))
//                 dx = g - exp(y) * sum_dim(g)
//
// Subtracting the max keeps both finite for any finite input (logits of +-1000 included).
// A line that is entirely -inf gives NaN, like PyTorch; -inf entries next to finite ones give
// probability 0 (log-probability -inf).
#pragma once

#include <cstdint>

#include "engine/core/tensor.h"

namespace fovea {

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

}  // namespace fovea
