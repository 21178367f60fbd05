// The GEMM path on CUDA: the emulator's cuBLAS shim against a plain row-major reference (every
// transpose and leading-dimension case, beta, k = 0, bad arguments), and matmul / linear on
// the device against the CPU's BLAS (transposed views, broadcast and non-foldable batches,
// forward and backward).
//
// Tolerance for matmul: abs 1e-5 + rel 1e-5: float products summed over K <= 67 in different
// orders (the CPU's BLAS, the shim in double, cuBLAS in float with FMA).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/fovea.h"
#include "support/cuda_parity.h"

#include "cuda/kcompat.cuh"
#include "cuda/emu/cublas_shim.h"
#include "cuda/blas.cuh"

using namespace fovea;
using test::random_index;
using test::random_values;

namespace {

constexpr test::Tolerance kGemm{1e-5, 1e-5};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  for (float& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = float(seed >> 8) / float(1 << 24) - 0.5f;
  }
  return v;
}

}  // namespace

TEST_CASE("cuda gemm: the cuBLAS shim follows column-major semantics for every transpose") {
  using namespace fovea::cuemu;
  cublasHandle_t h = nullptr;
  REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
  const int m = 5, n = 3, k = 4, pad = 2;
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      // Column-major storage with padded leading dimensions.
      const int lda = (ta ? k : m) + pad, ldb = (tb ? n : k) + pad, ldc = m + pad;
      const std::vector<float> A = random_floats(size_t(lda) * (ta ? m : k), 1 + ta);
      const std::vector<float> B = random_floats(size_t(ldb) * (tb ? k : n), 3 + tb);
      std::vector<float> C(size_t(ldc) * n, std::numeric_limits<float>::quiet_NaN());
      const float alpha = 1.5f, beta = 0.f;
      REQUIRE(cublasSgemm(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m,
                          n, k, &alpha, A.data(), lda, B.data(), ldb, &beta, C.data(), ldc) ==
              CUBLAS_STATUS_SUCCESS);
      for (int i = 0; i < m; ++i) {
        for (int j = 0; j < n; ++j) {
          double want = 0;
          for (int l = 0; l < k; ++l) {
            const double a = ta ? A[l + size_t(i) * lda] : A[i + size_t(l) * lda];
            const double b = tb ? B[j + size_t(l) * ldb] : B[l + size_t(j) * ldb];
            want += a * b;
          }
          INFO("ta ", ta, " tb ", tb, " i ", i, " j ", j);
          CHECK(C[i + size_t(j) * ldc] == doctest::Approx(alpha * want).epsilon(1e-6));
        }
        // beta == 0 never reads C, and the padding rows stay untouched (NaN).
        CHECK(std::isnan(C[m + size_t(0) * ldc]));
      }
    }
  }
  // beta scales C; k = 0 gives beta C.
  std::vector<float> C = {1, 2, 3, 4};
  const float one = 1.f, two = 2.f;
  REQUIRE(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 0, &one, nullptr, 2, nullptr, 1, &two,
                      C.data(), 2) == CUBLAS_STATUS_SUCCESS);
  CHECK(C == std::vector<float>{2, 4, 6, 8});
  // cuBLAS's argument checks: lda below m (no transpose) is refused and nothing is written.
  CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 3, 2, 2, &one, C.data(), 2, C.data(), 2, &two,
                    C.data(), 3) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(C == std::vector<float>{2, 4, 6, 8});
  CHECK(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS);
}

TEST_CASE("cuda gemm: a wrong leading dimension is an error naming cuBLAS's status") {
  test::CudaDevice cuda;
  if (!cuda.ok() || !cuda.emulated()) return;
  Tensor a = zeros({4, 3}, DType::Float32, cuda.device()), c = zeros({4, 4}, DType::Float32, cuda.device());
  const float* pa = a.device_data<float>();
  // Row-major A (4 x 3) needs lda >= 3; 2 makes the column-major call's ldb < k.
  CHECK_THROWS_WITH_AS(cuda_emu::gemm_rowmajor(false, true, 4, 4, 3, 1.f, pa, 2, 0, pa, 3, 0, 0.f,
                                               c.device_data<float>(), 4, 0, 1),
                       doctest::Contains("CUBLAS_STATUS_INVALID_VALUE"), Error);
}

TEST_CASE("cuda parity: matmul and linear with transposed views and batches") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  for (int64_t m : {1, 7, 33})
    for (int64_t n : {1, 7, 33})
      for (int64_t k : {1, 7, 67}) {
        const std::string what = "matmul " + std::to_string(m) + "x" + std::to_string(k) + " @ " +
                                 std::to_string(k) + "x" + std::to_string(n);
        test::check_op_parity({what, [](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); },
                               {random_values({m, k}, uint64_t(m * 100 + k)),
                                random_values({k, n}, uint64_t(n * 100 + k))},
                               kGemm},
                              cuda);
      }
  // x @ w^T without a copy (w transposed view), with a bias.
  test::check_op_parity({"linear [5, 7] x [3, 7]^T + b",
                         [](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); },
                         {random_values({5, 7}, 1), random_values({3, 7}, 2), random_values({3}, 3)},
                         kGemm},
                        cuda);
  // Broadcast batch (b shared: stride 0) and a batch whose dims do not fold into one stride.
  test::check_op_parity({"batched matmul broadcast",
                         [](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); },
                         {random_values({2, 3, 5, 4}, 4), random_values({4, 6}, 5)}, kGemm},
                        cuda);
  test::check_op_parity({"batched matmul unfoldable batch",
                         [](const std::vector<Tensor>& x) {
                           return matmul(x[0].permute({1, 0, 2, 3}), x[1]);
                         },
                         {random_values({3, 2, 5, 4}, 6), random_values({2, 3, 4, 6}, 7)}, kGemm},
                        cuda);
}
