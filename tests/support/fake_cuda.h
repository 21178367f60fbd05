// A tensor on cuda:0 without memory: enough for the checks that run before any data is touched
// (device mismatches, the autograd engine's contract), in builds without CUDA too.
#pragma once

#include <memory>

#include "engine/fovea.h"

namespace fovea::test {

inline Tensor fake_cuda(const Shape& shape, DType dtype = DType::Float64) {
  return make_tensor(std::make_shared<Storage>(nullptr, 0, Device::cuda(), nullptr), shape,
                     contiguous_strides(shape), 0, dtype);
}

}  // namespace fovea::test
