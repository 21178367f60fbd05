// CPU kernels of the element-wise binary ops (math in ops/binary_functors.h).
//   binary_forward:  out = f(a, b), a and b broadcast to out's shape.
//   binary_backward: grad_elem = g * df/d(side) at every output position (side 0 = a, 1 = b);
//                    the caller sums it back to the operand's shape. `y` (the forward output)
//                    may be undefined for ops whose derivative does not use it.
//   where_forward:   out = cond != 0 ? a : b, all broadcast to out's shape.
#pragma once

#include "engine/core/dispatch.h"
#include "engine/core/tensor.h"
#include "engine/ops/binary_functors.h"

namespace fovea {

void binary_forward_cpu(BinaryKind kind, const Tensor& out, const Tensor& a, const Tensor& b);
void binary_backward_cpu(BinaryKind kind, int side, const Tensor& grad_elem, const Tensor& a,
                         const Tensor& b, const Tensor& y, const Tensor& g);
void where_forward_cpu(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);

extern KernelSlot<void(BinaryKind, const Tensor&, const Tensor&, const Tensor&)>
    binary_forward_kernel;
extern KernelSlot<void(BinaryKind, int, const Tensor&, const Tensor&, const Tensor&,
                       const Tensor&, const Tensor&)>
    binary_backward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&)>
    where_forward_kernel;

}  // namespace fovea
