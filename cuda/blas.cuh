// The one door to cuBLAS (or, on the emulator, to its column-major shim cuda/emu/cublas_shim.h).
// fovea's matrices are row-major; cuBLAS's are column-major. A row-major M x N matrix with
// leading dimension ld is, in the same memory, the column-major N x M transpose, so
//   row-major   C = op(A) op(B)                  (C: M x N)
//   is          C^T = op(B)^T op(A)^T            column-major (N x M)
//   i.e.        cublasSgemm(opB, opA, N, M, K, alpha, B, ldb, A, lda, beta, C, ldc)
// with opX = T exactly when X is handed over transposed. This file and blas.cu are the only
// code that knows; tests/cuda/test_parity_gemm.cpp checks it against the CPU's BLAS.
#pragma once

#include <cstdint>

FOVEA_CUDA_BEGIN

// Row-major C_i = alpha op(A_i) op(B_i) + beta C_i for i < batch, matrix i of X at
// X + i * strideX (stride 0: every i shares one matrix). ta / tb: A / B are given transposed
// (their memory holds A^T / B^T row-major). beta == 0 never reads C.
void gemm_rowmajor(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t strideA, const float* B, int64_t ldb,
                   int64_t strideB, float beta, float* C, int64_t ldc, int64_t strideC,
                   int64_t batch);

FOVEA_CUDA_END
