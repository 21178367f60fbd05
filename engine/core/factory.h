// Creating tensors: uninitialised, constant, ranges, and from host data. Random creation and
// parameter initialisers are in core/random.h.
#pragma once

#include <vector>

#include "engine/core/tensor.h"

namespace fovea {

Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::Float32,
            Device device = Device::cpu());
// A 0-d tensor holding `value`.
Tensor scalar_tensor(double value, DType dtype = DType::Float32, Device device = Device::cpu());
// [start, start+step, ...) below `end` (above it for a negative step), like torch.arange.
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::Float32,
              Device device = Device::cpu());
inline Tensor arange(double end, DType dtype = DType::Float32) { return arange(0, end, 1, dtype); }

Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);

// Copies host values (row-major) into a new tensor of `shape`; the element count must match.
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape,
                   Device device = Device::cpu());
// Converts doubles to `dtype` (handy in tests: from_values({1, 2, 3}, {3}, DType::Float64)).
Tensor from_values(const std::vector<double>& values, const Shape& shape,
                   DType dtype = DType::Float32);

}  // namespace fovea
