// Element-wise binary ops with NumPy/PyTorch broadcasting. Both operands must have the same
// dtype and device (no implicit promotion: convert with .to(dtype)). A broadcast operand's
// gradient is summed back to its own shape by sum_to (ops/reduce.h).
// Scalar forms wrap the scalar in a 0-d tensor of the other operand's dtype.
#pragma once

#include "engine/core/tensor.h"
#include "engine/ops/binary_functors.h"

namespace fovea {

Tensor binary(BinaryKind kind, const Tensor& a, const Tensor& b);  // the one shared entry

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);   // a^b; the gradient wrt b needs a > 0
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);

// Comparisons: 1 where true, 0 elsewhere, in the inputs' dtype; never differentiable.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

// out = cond != 0 ? a : b, all three broadcast together; cond may be float or int64 and gets
// no gradient.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

Tensor scalar_like(double value, const Tensor& like);  // 0-d tensor, like's dtype and device

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

}  // namespace fovea
