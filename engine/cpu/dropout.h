// CPU kernel of dropout (the op is in ops/dropout.h).
//
// dropout_mask fills the contiguous `mask` (x's dtype) with 0 where an element is dropped and
// 1 / (1 - p) where it is kept. It draws one 64-bit key from `gen` and drops element i when its
// Philox bits (engine/kernels/philox.h) fall below floor(p 2^32). The mask is a function of the
// generator's state alone: the same on every machine, thread count and device (the CUDA twin,
// cuda/dropout.cu, computes the same bits). p lies in [0, 1]; p == 1 drops every element.
#pragma once

#include "engine/core/dispatch.h"
#include "engine/core/random.h"
#include "engine/core/tensor.h"

namespace fovea {

void dropout_mask_cpu(const Tensor& mask, double p, Generator& gen);
extern KernelSlot<void(const Tensor&, double, Generator&)> dropout_mask_kernel;

}  // namespace fovea
