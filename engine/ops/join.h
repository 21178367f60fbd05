// Joining and splitting tensors along one dim (spec §22.6). The gradient is the inverse
// movement: what cat glues together its backward cuts apart, and the reverse.
//
//   cat(xs, d)      y = [x_0 | x_1 | ...] along d; every x_i has the same shape outside d
//                   dx_i = narrow(dy, d, offset_i, x_i.size(d))
//   stack(xs, d)    y = cat(unsqueeze(x_i, d)), all x_i of one shape; d in [-(n+1), n]
//                   dx_i = select(dy, d, i)          (through the unsqueeze and cat nodes)
//
// The splitting ops return VIEWS of x (narrow / select, no copy). Their autograd therefore
// comes from the view nodes (NarrowBackward / SelectBackward write each piece's gradient into
// a zero tensor of x's shape); gradients of several pieces add up in x.grad, and pieces that
// get no gradient contribute zeros. Writing into a piece in place writes into x.
//   split(x, s, d)          pieces of size s along d; the last one holds the remainder
//                           (torch.split with an int). s > 0.
//   split_sizes(x, ss, d)   pieces of the given sizes; they must sum to x.size(d)
//   chunk(x, c, d)          torch.chunk: pieces of ceil(x.size(d) / c), so there may be fewer
//                           than c; a dim of size 0 gives c empty pieces
//   unbind(x, d)            x.size(d) pieces select(x, d, i), each without dim d
//
// Any dtype (int64 too); a gradient is recorded only for float inputs that require one.
#pragma once

#include <vector>

#include "engine/core/tensor.h"

namespace fovea {

Tensor cat(const std::vector<Tensor>& xs, int64_t dim);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim);
std::vector<Tensor> split_sizes(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim);
std::vector<Tensor> unbind(const Tensor& x, int64_t dim);

}  // namespace fovea
