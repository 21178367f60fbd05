// Element-wise unary ops. Each records UnaryBackward (named "<op>Backward") when its input
// requires a gradient. Forward and derivative formulas: ops/unary_functors.h.
#pragma once

#include "engine/core/tensor.h"
#include "engine/ops/unary_functors.h"

namespace fovea {

Tensor unary(const UnaryOp& op, const Tensor& x);  // the one entry all of the below use

Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor relu6(const Tensor& x);
Tensor hardsigmoid(const Tensor& x);  // relu6(x + 3) / 6
Tensor hardswish(const Tensor& x);    // x * relu6(x + 3) / 6
Tensor silu(const Tensor& x);         // x * sigmoid(x)
Tensor gelu(const Tensor& x);         // exact erf form: x * Phi(x)
// min <= max; pass -inf / +inf (std::numeric_limits<double>::infinity()) for one side only.
Tensor clamp(const Tensor& x, double min, double max);
Tensor pow(const Tensor& x, double exponent);

}  // namespace fovea
