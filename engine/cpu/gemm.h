// GEMM on the CPU through CBLAS (OpenBLAS).
//   c[i] = a[i] @ b[i] + beta * c[i]   for every batch index i
// a: [..., M, K], b: [..., K, N], c: [..., M, N], all with the same batch dims (broadcast
// beforehand with expand: a batch stride of 0 is fine). The last two dims of a and b may be
// row-major or transposed (column-major) views: those are passed to BLAS as NoTrans/Trans with
// the matching leading dimension, so `matmul(x, w.t())` never copies w. Other layouts are
// copied once. c must be contiguous.
#pragma once

#include "engine/core/dispatch.h"
#include "engine/core/tensor.h"

namespace fovea {

void gemm_cpu(const Tensor& a, const Tensor& b, const Tensor& c, double beta);

// How BLAS reads the [rows, cols] matrices in the last two dims of t: as they are (row-major),
// transposed (a column-major view), or from a contiguous copy for any other layout. Shared by
// the CPU kernel and its CUDA twin (cuda/gemm.cu).
struct BlasOperand {
  Tensor t;  // the tensor BLAS reads (possibly a contiguous copy)
  bool trans = false;
  int64_t ld = 1;
};
BlasOperand blas_operand(const Tensor& t);
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, double)> gemm_kernel;

}  // namespace fovea
