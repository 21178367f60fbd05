// gemm_rowmajor (cuda/blas.cuh): the row-major to column-major turn, one cuBLAS handle on the
// stream, every cuBLAS call checked. CUBLAS_DEFAULT_MATH keeps float products in float (no
// TF32), like the CPU's BLAS.
#include <climits>
#include <string>

#include "engine/core/error.h"
#include "cuda/kcompat.cuh"
#if FOVEA_CUDA_EMULATED
#include "cuda/emu/cublas_shim.h"
#else
#include <cublas_v2.h>
#endif
#include "cuda/check.cuh"
#include "cuda/device.cuh"
#include "cuda/blas.cuh"

#define FOVEA_CUBLAS_CHECK(expr)                                                          \
  do {                                                                                    \
    const cublasStatus_t fovea_cublas_status_ = (expr);                                   \
    FOVEA_CHECK(fovea_cublas_status_ == CUBLAS_STATUS_SUCCESS, "cuBLAS error ",           \
                cublasGetStatusName(fovea_cublas_status_), " (",                           \
                cublasGetStatusString(fovea_cublas_status_), ") in ", #expr, " at ",       \
                __FILE__, ":", __LINE__);                                                  \
  } while (0)

FOVEA_CUDA_BEGIN

namespace {

cublasHandle_t handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t created = nullptr;
    FOVEA_CUBLAS_CHECK(cublasCreate(&created));
    FOVEA_CUBLAS_CHECK(cublasSetStream(created, stream()));
    FOVEA_CUBLAS_CHECK(cublasSetMathMode(created, CUBLAS_DEFAULT_MATH));
    return created;
  }();
  return h;
}

int as_int(int64_t v, const char* what) {
  FOVEA_CHECK(v >= 0 && v <= INT_MAX, "gemm: ", what, " = ", v,
              " does not fit cuBLAS's 32-bit arguments");
  return int(v);
}

cublasOperation_t op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

}  // namespace

void gemm_rowmajor(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t strideA, const float* B, int64_t ldb,
                   int64_t strideB, float beta, float* C, int64_t ldc, int64_t strideC,
                   int64_t batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  const int m = as_int(N, "N"), n = as_int(M, "M"), k = as_int(K, "K");
  const int ld_a = as_int(lda, "lda"), ld_b = as_int(ldb, "ldb"), ld_c = as_int(ldc, "ldc");
  if (batch == 1) {
    FOVEA_CUBLAS_CHECK(cublasSgemm(handle(), op(tb), op(ta), m, n, k, &alpha, B, ld_b, A, ld_a,
                                   &beta, C, ld_c));
    return;
  }
  FOVEA_CUBLAS_CHECK(cublasSgemmStridedBatched(handle(), op(tb), op(ta), m, n, k, &alpha, B,
                                               ld_b, strideB, A, ld_a, strideA, &beta, C, ld_c,
                                               strideC, as_int(batch, "batch")));
}

FOVEA_CUDA_END
