// CPU kernels of the element-wise unary ops (math in ops/unary_functors.h).
//   unary_forward:  y = f(x)
//   unary_backward: dx = f'(x, y) * g      (x, y, g and dx all of dx's shape)
#pragma once

#include "engine/core/dispatch.h"
#include "engine/core/tensor.h"
#include "engine/ops/unary_functors.h"

namespace fovea {

void unary_forward_cpu(const UnaryOp& op, const Tensor& y, const Tensor& x);
void unary_backward_cpu(const UnaryOp& op, const Tensor& dx, const Tensor& x, const Tensor& y,
                        const Tensor& g);

extern KernelSlot<void(const UnaryOp&, const Tensor&, const Tensor&)> unary_forward_kernel;
extern KernelSlot<void(const UnaryOp&, const Tensor&, const Tensor&, const Tensor&,
                       const Tensor&)>
    unary_backward_kernel;

}  // namespace fovea
