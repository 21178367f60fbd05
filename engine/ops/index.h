// Indexing along one dim with an int64 index tensor (spec §22.6: embedding lookups, gathers
// by relative offset). Indices are in [0, size) of the indexed dim; a negative or too large
// value is an error naming the value and its position in `index`, and nothing is read or
// written out of bounds. Duplicate indices are allowed: the gathers read the same element
// several times, and the scatters (and so the gathers' backwards) ADD every contribution.
// Data may be any dtype (int64 too); gradients flow to float inputs only, never to `index`.
//
//   index_select(x, d, index)   index 1-D of length k; y has x's shape with size k at d
//       y[.., i, ..] = x[.., index[i], ..]
//       dx = index_add(zeros(x.shape), d, index, dy)
//
//   gather(x, d, index)         index has x's number of dims, index.size(e) <= x.size(e)
//                               for e != d (torch.gather); y has index's shape
//       y[p] = x[p with coordinate d replaced by index[p]]
//       dx = scatter_add(zeros(x.shape), d, index, dy)
//
//   index_add(self, d, index, src)   index 1-D of length k, src = self's shape with size k at d
//       y = self;  y[.., index[i], ..] += src[.., i, ..]
//       dself = dy,  dsrc = index_select(dy, d, index)
//
//   scatter_add(self, d, index, src)  index, self and src have one number of dims;
//                               index.size(e) <= src.size(e) for every e, and
//                               index.size(e) <= self.size(e) for e != d (torch.scatter_add)
//       y = self;  y[p with coordinate d replaced by index[p]] += src[p]  for p in index
//       dself = dy,  dsrc = gather(dy, d, index) where index reaches, 0 elsewhere in src
//
// All four are out of place. On the CPU, float32 scatters accumulate in double.
#pragma once

#include "engine/core/tensor.h"

namespace fovea {

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);

}  // namespace fovea
