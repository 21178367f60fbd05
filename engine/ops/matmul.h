// Matrix products.
//
// matmul(a, b): torch.matmul semantics.
//   1-D @ 1-D -> 0-d dot product;  2-D @ 2-D -> [M, N];
//   a 1-D operand is promoted to a matrix ([K] -> [1, K] on the left, [K, 1] on the right)
//   and the added dim is removed from the result;
//   N-D operands are batches of matrices whose batch dims broadcast: [B, 1, M, K] @ [H, K, N]
//   -> [B, H, M, N].
//   Backward: dA = g @ B^T, dB = A^T @ g, each summed back over broadcast batch dims.
//   Transposed views (x.transpose(-1, -2)) are read by GEMM directly, without a copy.
//
// linear(x, W, b): y = x W^T + b, x [..., in], W [out, in], b [out] (optional): PyTorch's
//   nn.functional.linear, applied to every row of x (per token / per pixel for N-D x).
//   Backward: dx = g W, dW = g^T x (over all rows), db = sum of g over all rows.
#pragma once

#include "engine/core/tensor.h"

namespace fovea {

Tensor matmul(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace fovea
