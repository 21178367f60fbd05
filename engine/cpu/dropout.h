// CPU kernel of dropout (the op is in ops/dropout.h).
//
// dropout_mask fills the contiguous `mask` (x's dtype) with 0 where an element is dropped and
// 1 / (1 - p) where it is kept, one gen.uniform() draw per element in row-major order
// (dropped when the draw is < p). A seeded generator therefore gives the same mask on every
// machine and thread count. p lies in [0, 1]; p == 1 drops every element.
#pragma once

#include "engine/core/dispatch.h"
#include "engine/core/random.h"
#include "engine/core/tensor.h"

namespace fovea {

void dropout_mask_cpu(const Tensor& mask, double p, Generator& gen);
extern KernelSlot<void(const Tensor&, double, Generator&)> dropout_mask_kernel;

}  // namespace fovea
