// fill: every element of t (any strides) set to value.
// copy: dst[i] = convert(src[i]), src broadcast to dst's shape; dtypes may differ.
#pragma once

#include "engine/core/dispatch.h"
#include "engine/core/tensor.h"

namespace fovea {

void fill_cpu(const Tensor& t, double value);
void copy_cpu(const Tensor& dst, const Tensor& src);

extern KernelSlot<void(const Tensor&, double)> fill_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&)> copy_kernel;

}  // namespace fovea
