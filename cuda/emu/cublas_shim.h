// The cuBLAS subset fovea calls, for the CUDA emulator: a plain column-major reference with
// cuBLAS's exact semantics, so that the one place that turns fovea's row-major matrices into
// cuBLAS calls (cuda/blas.cu) runs and is tested in every CI job. Real cuBLAS runs only on a
// GPU. What it mirrors:
//   - column-major storage: element (i, j) of an m x n matrix with leading dimension ld sits
//     at p[i + j * ld];
//   - argument checks: m, n, k >= 0, lda >= max(1, transa == N ? m : k),
//     ldb >= max(1, transb == N ? k : n), ldc >= max(1, m), else CUBLAS_STATUS_INVALID_VALUE
//     and nothing is written;
//   - beta == 0 never reads C (C may hold NaN); k == 0 gives C = beta C;
//   - strided batches: matrix b of A at A + b * strideA (strideA 0: one shared matrix).
// Products accumulate in double, the rounding cuBLAS's float accumulation cannot beat: tests
// compare against the CPU's BLAS with a tolerance either way.
#pragma once

#include <cstdint>
#include <vector>

namespace fovea::cuemu {

struct cublasContext {
  cudaStream_t stream = nullptr;
  int math_mode = 0;
};
using cublasHandle_t = cublasContext*;

enum cublasStatus_t : int {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
};
enum cublasOperation_t : int { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum cublasMath_t : int { CUBLAS_DEFAULT_MATH = 0, CUBLAS_PEDANTIC_MATH = 2 };

inline const char* cublasGetStatusName(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
inline const char* cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
  }
  return "unknown error";
}

inline cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->math_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

namespace impl {

inline cublasStatus_t gemm_check(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                 int m, int n, int k, int lda, int ldb, int ldc) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  auto at_least = [](int v, int lo) { return v >= (lo > 1 ? lo : 1); };
  const bool ok = (ta == CUBLAS_OP_N || ta == CUBLAS_OP_T) &&
                  (tb == CUBLAS_OP_N || tb == CUBLAS_OP_T) && m >= 0 && n >= 0 && k >= 0 &&
                  at_least(lda, ta == CUBLAS_OP_N ? m : k) &&
                  at_least(ldb, tb == CUBLAS_OP_N ? k : n) && at_least(ldc, m);
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

// C = alpha op(A) op(B) + beta C for one column-major matrix product.
inline void gemm_reference(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           float alpha, const float* A, int lda, const float* B, int ldb,
                           float beta, float* C, int ldc) {
  std::vector<double> acc(size_t(m > 0 ? m : 0));
  for (int j = 0; j < n; ++j) {
    for (double& v : acc) v = 0;
    for (int l = 0; l < k; ++l) {
      const double b = tb == CUBLAS_OP_N ? B[l + size_t(j) * ldb] : B[j + size_t(l) * ldb];
      if (ta == CUBLAS_OP_N)
        for (int i = 0; i < m; ++i) acc[i] += double(A[i + size_t(l) * lda]) * b;
      else
        for (int i = 0; i < m; ++i) acc[i] += double(A[l + size_t(i) * lda]) * b;
    }
    float* c = C + size_t(j) * ldc;
    for (int i = 0; i < m; ++i)
      c[i] = beta == 0.f ? float(alpha * acc[i]) : float(alpha * acc[i] + double(beta) * c[i]);
  }
}

}  // namespace impl

inline cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                  int m, int n, int k, const float* alpha, const float* A,
                                  int lda, const float* B, int ldb, const float* beta, float* C,
                                  int ldc) {
  const cublasStatus_t s = impl::gemm_check(h, ta, tb, m, n, k, lda, ldb, ldc);
  if (s != CUBLAS_STATUS_SUCCESS) return s;
  impl::gemm_reference(ta, tb, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc);
  return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta,
                                                cublasOperation_t tb, int m, int n, int k,
                                                const float* alpha, const float* A, int lda,
                                                long long strideA, const float* B, int ldb,
                                                long long strideB, const float* beta, float* C,
                                                int ldc, long long strideC, int batch) {
  const cublasStatus_t s = impl::gemm_check(h, ta, tb, m, n, k, lda, ldb, ldc);
  if (s != CUBLAS_STATUS_SUCCESS) return s;
  if (batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
  for (int b = 0; b < batch; ++b)
    impl::gemm_reference(ta, tb, m, n, k, *alpha, A + b * strideA, lda, B + b * strideB, ldb,
                         *beta, C + b * strideC, ldc);
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace fovea::cuemu
