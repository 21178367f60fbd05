// matmul (torch.matmul semantics, GEMM through OpenBLAS) and linear.
#include <doctest/doctest.h>

#include "engine/fovea.h"
#include "support/op_check.h"

using namespace fovea;

namespace {
using Xs = std::vector<Tensor>;

// Reference product by the definition, in double, for [M, K] @ [K, N].
std::vector<double> naive_matmul(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  std::vector<double> c(size_t(M * N), 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      for (int64_t k = 0; k < K; ++k) c[i * N + j] += a.at({i, k}) * b.at({k, j});
  return c;
}

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(tol));
}
}  // namespace

TEST_CASE("matmul: values against the definition, in every operand layout") {
  Generator gen(7);
  Tensor a = randn({5, 7}, DType::Float64, &gen), b = randn({7, 3}, DType::Float64, &gen);
  const std::vector<double> want = naive_matmul(a, b);
  check_close(matmul(a, b).to_vector<double>(), want, 1e-12);
  // transposed views take BLAS's Trans path; a strided slice forces a copy
  Tensor at = a.t().contiguous().t(), bt = b.t().contiguous().t();
  check_close(matmul(at, bt).to_vector<double>(), want, 1e-12);
  Tensor wide = zeros({5, 14}, DType::Float64);
  wide.slice(1, 0, 14, 2).copy_(a);
  check_close(matmul(wide.slice(1, 0, 14, 2), b).to_vector<double>(), want, 1e-12);
  // float32 agrees with the double reference to float precision
  check_close(matmul(a.to(DType::Float32), b.to(DType::Float32)).to_vector<double>(), want, 1e-5);
}

TEST_CASE("matmul: vector and batched shapes follow torch.matmul") {
  Tensor v = from_values({1, 2, 3}, {3}, DType::Float64);
  Tensor m = arange(6, DType::Float64).reshape({3, 2});
  CHECK(matmul(v, v).dim() == 0);
  CHECK(matmul(v, v).item() == 14);
  CHECK(matmul(v, m).shape() == Shape{2});
  CHECK(matmul(v, m).to_vector<double>() == std::vector<double>{16, 22});
  CHECK(matmul(m.t(), v).to_vector<double>() == std::vector<double>{16, 22});
  Tensor a = ones({2, 1, 4, 3}, DType::Float64), b = ones({5, 3, 6}, DType::Float64);
  Tensor c = matmul(a, b);
  CHECK(c.shape() == Shape{2, 5, 4, 6});
  CHECK(c.at({1, 4, 3, 5}) == 3);
  Tensor batch = arange(12, DType::Float64).reshape({2, 2, 3});
  Tensor bb = matmul(batch, batch.transpose(1, 2));
  CHECK(bb.at({1, 0, 1}) == 6 * 9 + 7 * 10 + 8 * 11);
}

TEST_CASE("linear: x W^T + b on 2-D and 3-D inputs") {
  Tensor x = arange(6, DType::Float64).reshape({2, 3});
  Tensor w = from_values({1, 0, 0, 0, 1, 1}, {2, 3}, DType::Float64);
  Tensor b = from_values({10, 20}, {2}, DType::Float64);
  CHECK(linear(x, w, b).to_vector<double>() == std::vector<double>{10, 23, 13, 29});
  CHECK(linear(x, w).to_vector<double>() == std::vector<double>{0, 3, 3, 9});
  CHECK(linear(x.reshape({1, 2, 3}), w, b).shape() == Shape{1, 2, 2});
}

TEST_CASE("gradcheck: matmul and linear") {
  auto mm = [](const Xs& x) { return matmul(x[0], x[1]); };
  test::check_op_cases({
      {"matmul 2-D", {{3, 4}, {4, 2}}, mm},
      {"matmul batched", {{2, 3, 4}, {2, 4, 5}}, mm},
      {"matmul batch broadcast", {{2, 1, 3, 4}, {3, 4, 2}}, mm},
      {"matmul matrix @ batch", {{3, 4}, {2, 4, 2}}, mm},
      {"matmul vector @ matrix", {{4}, {4, 3}}, mm},
      {"matmul matrix @ vector", {{3, 4}, {4}}, mm},
      {"matmul dot", {{4}, {4}}, mm},
      {"matmul with transposed operand", {{4, 3}, {4, 2}},
       [](const Xs& x) { return matmul(x[0].t(), x[1]); }},
      {"linear", {{3, 4}, {2, 4}, {2}}, [](const Xs& x) { return linear(x[0], x[1], x[2]); }},
      {"linear no bias", {{3, 4}, {2, 4}}, [](const Xs& x) { return linear(x[0], x[1]); }},
      {"linear per token", {{2, 3, 4}, {5, 4}, {5}},
       [](const Xs& x) { return linear(x[0], x[1], x[2]); }},
  });
}

TEST_CASE("matmul and linear: bad shapes and dtypes are named errors") {
  Tensor a = zeros({2, 3}), b = zeros({4, 2});
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("matmul: shapes [2, 3] and [4, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 2, 3}), zeros({3, 3, 2})),
                       doctest::Contains("cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(matmul(a, zeros({3, 2}, DType::Float64)),
                       doctest::Contains("matmul: dtypes differ"), Error);
  CHECK_THROWS_WITH_AS(matmul(scalar_tensor(1), a), doctest::Contains("at least one dim"), Error);
  CHECK_THROWS_WITH_AS(linear(a, zeros({5, 4})), doctest::Contains("in_features = 4"), Error);
  CHECK_THROWS_WITH_AS(linear(a, zeros({5, 3}), zeros({4})),
                       doctest::Contains("does not match out_features = 5"), Error);
}
