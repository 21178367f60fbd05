#include <doctest/doctest.h>

#include "engine/fovea.h"

using namespace fovea;

TEST_CASE("smoke: add, mul, sum, backward") {
  Tensor a = from_values({1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float64).set_requires_grad();
  Tensor b = from_values({10, 20, 30}, {3}, DType::Float64).set_requires_grad();
  Tensor y = sum(mul(a, b) + a);
  CHECK(y.item() == doctest::Approx(1 * 10 + 2 * 20 + 3 * 30 + 4 * 10 + 5 * 20 + 6 * 30 + 21));
  y.backward();
  CHECK(a.grad().to_vector<double>() == std::vector<double>{11, 21, 31, 11, 21, 31});
  CHECK(b.grad().to_vector<double>() == std::vector<double>{5, 7, 9});
}
