// Shapes, strides and the index arithmetic every op shares: dim normalisation, broadcasting,
// contiguous strides. Strides and offsets are counted in elements, not bytes.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace fovea {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
// The multi-index of element `flat` of a row-major tensor of `shape`.
Shape unravel_index(int64_t flat, const Shape& shape);

// Maps a possibly negative dim into [0, ndim); throws "op: dim 5 is out of range for a 3-d
// tensor of shape [2, 3, 4]" otherwise.
int64_t normalize_dim(int64_t dim, const Shape& shape, const char* op);
// The same for a list of dims; duplicates are an error. An empty list means "all dims".
std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, const Shape& shape,
                                    const char* op);

// NumPy/PyTorch broadcasting of two shapes; throws naming `op` and both shapes on a mismatch.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Strides that read a tensor of (shape, strides) as if it had shape `target` (stride 0 on the
// broadcast axes). `shape` must be broadcastable to `target`.
Shape broadcast_strides(const Shape& shape, const Shape& strides, const Shape& target);

// shape (or strides) with entry `dim` removed.
inline Shape without_dim(Shape s, int64_t dim) {
  s.erase(s.begin() + dim);
  return s;
}

}  // namespace fovea
