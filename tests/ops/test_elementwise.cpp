// Element-wise unary and binary ops: values against hand-computed results, and gradient
// checks (float64, random upstream gradient, four input layouts) for every op.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "engine/fovea.h"
#include "support/op_check.h"

using namespace fovea;
using fovea::test::Inputs;
using fovea::test::OpCase;

namespace {
using Xs = std::vector<Tensor>;
const double kInf = std::numeric_limits<double>::infinity();
}  // namespace

TEST_CASE("unary ops: values") {
  Tensor x = from_values({-4, -3, -1, 0, 0.5, 3, 7}, {7}, DType::Float64);
  auto v = [](const Tensor& t) { return t.to_vector<double>(); };
  CHECK(v(relu(x)) == std::vector<double>{0, 0, 0, 0, 0.5, 3, 7});
  CHECK(v(relu6(x)) == std::vector<double>{0, 0, 0, 0, 0.5, 3, 6});
  const std::vector<double> hsig = {0, 0, 2.0 / 6, 0.5, 3.5 / 6, 1, 1};
  const std::vector<double> hswish = {0, 0, -2.0 / 6, 0, 0.5 * 3.5 / 6, 3, 7};
  for (size_t i = 0; i < hsig.size(); ++i) {
    CHECK(v(hardsigmoid(x))[i] == doctest::Approx(hsig[i]));
    CHECK(v(hardswish(x))[i] == doctest::Approx(hswish[i]));
  }
  CHECK(v(abs(x)) == std::vector<double>{4, 3, 1, 0, 0.5, 3, 7});
  CHECK(v(clamp(x, -1, 2)) == std::vector<double>{-1, -1, -1, 0, 0.5, 2, 2});
  CHECK(v(neg(x))[0] == 4);
  CHECK(sigmoid(x).at({3}) == doctest::Approx(0.5));
  CHECK(gelu(x).at({2}) == doctest::Approx(-0.15865525393145707));  // -Phi(-1)
  CHECK(silu(x).at({4}) == doctest::Approx(0.5 / (1 + std::exp(-0.5))));
  CHECK(tanh(x).at({5}) == doctest::Approx(std::tanh(3.0)));
  CHECK(pow(x, 2.0).at({0}) == doctest::Approx(16));
  CHECK(exp(x).at({3}) == 1.0);
  Tensor p = from_values({4, 9}, {2}, DType::Float32);
  CHECK(sqrt(p).to_vector<float>() == std::vector<float>{2, 3});
  CHECK(log(exp(p)).at<float>({1}) == doctest::Approx(9));
}

TEST_CASE("unary ops: NaN passes through relu as in PyTorch") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> x(37);  // long enough for the vectorised body and a scalar tail
  for (size_t i = 0; i < x.size(); ++i) x[i] = i % 5 == 2 ? nan : (i % 2 ? -1.5 : 2.5);
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const std::vector<double> y = relu(from_values(x, {37}, dtype)).to_vector<double>();
    for (size_t i = 0; i < x.size(); ++i) {
      CAPTURE(i);
      CHECK(std::isnan(x[i]) == std::isnan(y[i]));
      if (!std::isnan(x[i])) CHECK(y[i] == std::max(x[i], 0.0));
    }
  }
}

TEST_CASE("unary ops: derivatives at the kinks follow PyTorch") {
  Tensor x = from_values({-3, 0, 3, 6}, {4}, DType::Float64).set_requires_grad();
  auto grad_of = [&](Tensor (*f)(const Tensor&)) {
    x.set_grad(Tensor());
    sum(f(x)).backward();
    return x.grad().to_vector<double>();
  };
  CHECK(grad_of(relu) == std::vector<double>{0, 0, 1, 1});
  CHECK(grad_of(relu6) == std::vector<double>{0, 0, 1, 0});
  CHECK(grad_of(abs) == std::vector<double>{-1, 0, 1, 1});
  CHECK(grad_of(hardswish) == std::vector<double>{-0.5, 0.5, 1.5, 1});
  CHECK(grad_of(hardsigmoid) == std::vector<double>{0, 1.0 / 6, 0, 0});
}

TEST_CASE("gradcheck: unary ops") {
  test::check_op_cases({
      {"neg", {{3, 4}}, [](const Xs& x) { return neg(x[0]); }},
      {"exp", {{3, 4}}, [](const Xs& x) { return exp(x[0]); }},
      {"log", {{3, 4}}, [](const Xs& x) { return log(x[0]); }, Inputs::Positive},
      {"sqrt", {{3, 4}}, [](const Xs& x) { return sqrt(x[0]); }, Inputs::Positive},
      {"abs", {{3, 4}}, [](const Xs& x) { return abs(x[0]); }, Inputs::Normal, {0}},
      {"sigmoid", {{3, 4}}, [](const Xs& x) { return sigmoid(x[0]); }},
      {"tanh", {{3, 4}}, [](const Xs& x) { return tanh(x[0]); }},
      {"relu", {{3, 4}}, [](const Xs& x) { return relu(x[0]); }, Inputs::Normal, {0}},
      {"relu6", {{3, 4}}, [](const Xs& x) { return relu6(x[0] * 4.0); }, Inputs::Normal, {0, 1.5}},
      {"hardsigmoid", {{3, 4}}, [](const Xs& x) { return hardsigmoid(x[0] * 3.0); },
       Inputs::Normal, {-1, 1}},
      {"hardswish", {{3, 4}}, [](const Xs& x) { return hardswish(x[0] * 3.0); },
       Inputs::Normal, {-1, 1}},
      {"silu", {{3, 4}}, [](const Xs& x) { return silu(x[0]); }},
      {"gelu", {{3, 4}}, [](const Xs& x) { return gelu(x[0]); }},
      {"clamp", {{3, 4}}, [](const Xs& x) { return clamp(x[0], -0.5, 0.7); }, Inputs::Normal,
       {-0.5, 0.7}},
      {"clamp min only", {{3, 4}}, [](const Xs& x) { return clamp(x[0], -0.5, kInf); },
       Inputs::Normal, {-0.5}},
      {"pow scalar", {{3, 4}}, [](const Xs& x) { return pow(x[0], 2.5); }, Inputs::Positive},
      {"pow scalar negative", {{3, 4}}, [](const Xs& x) { return pow(x[0], -1.5); },
       Inputs::Positive},
  });
}

TEST_CASE("binary ops: broadcasting values") {
  Tensor a = from_values({1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float64);
  Tensor col = from_values({10, 20}, {2, 1}, DType::Float64);
  CHECK((a + col).to_vector<double>() == std::vector<double>{11, 12, 13, 24, 25, 26});
  CHECK((col - a).to_vector<double>() == std::vector<double>{9, 8, 7, 16, 15, 14});
  CHECK((a / 2.0).at({1, 2}) == 3);
  CHECK((2.0 - a).at({0, 0}) == 1);
  CHECK(maximum(a, col / 5.0).to_vector<double>() == std::vector<double>{2, 2, 3, 4, 5, 6});
  CHECK(minimum(a, scalar_like(3.5, a)).to_vector<double>() ==
        std::vector<double>{1, 2, 3, 3.5, 3.5, 3.5});
  CHECK(pow(a, scalar_like(2, a)).at({1, 1}) == doctest::Approx(25));
  CHECK(gt(a, scalar_like(3, a)).to_vector<double>() == std::vector<double>{0, 0, 0, 1, 1, 1});
  CHECK(eq(a, col / 10.0).to_vector<double>() == std::vector<double>{1, 0, 0, 0, 0, 0});
  CHECK(le(a, col / 5.0).to_vector<double>() == std::vector<double>{1, 1, 0, 1, 0, 0});
  Tensor w = where(gt(a, scalar_like(2.5, a)), a, col);
  CHECK(w.to_vector<double>() == std::vector<double>{10, 10, 3, 4, 5, 6});
  Tensor i = from_vector<int64_t>({1, 2, 3}, {3});
  CHECK((i * i).to_vector<int64_t>() == std::vector<int64_t>{1, 4, 9});
}

TEST_CASE("gradcheck: binary ops with broadcasting in both directions") {
  auto add_ = [](const Xs& x) { return add(x[0], x[1]); };
  auto mul_ = [](const Xs& x) { return mul(x[0], x[1]); };
  test::check_op_cases({
      {"add same shape", {{3, 4}, {3, 4}}, add_},
      {"add rhs broadcast", {{2, 3, 4}, {3, 1}}, add_},
      {"add lhs broadcast", {{3, 1}, {2, 3, 4}}, add_},
      {"add both broadcast", {{2, 1, 4}, {3, 1}}, add_},
      {"sub both broadcast", {{2, 1, 4}, {3, 1}}, [](const Xs& x) { return sub(x[0], x[1]); }},
      {"mul rhs broadcast", {{2, 3, 4}, {4}}, mul_},
      {"mul lhs broadcast", {{3, 1}, {2, 3, 4}}, mul_},
      {"div", {{2, 3}, {2, 3}}, [](const Xs& x) { return div(x[0], x[1]); }, Inputs::Positive},
      {"div broadcast", {{2, 3, 2}, {3, 1}}, [](const Xs& x) { return div(x[0], x[1]); },
       Inputs::Positive},
      {"pow tensor", {{2, 3}, {2, 3}}, [](const Xs& x) { return pow(x[0], x[1]); },
       Inputs::Positive},
      {"pow broadcast", {{2, 3}, {3}}, [](const Xs& x) { return pow(x[0], x[1]); },
       Inputs::Positive},
      {"maximum", {{2, 3, 4}, {3, 4}}, [](const Xs& x) { return maximum(x[0], x[1]); }},
      {"minimum", {{3, 4}, {2, 3, 4}}, [](const Xs& x) { return minimum(x[0], x[1]); }},
      {"where", {{2, 3}, {3}}, [](const Xs& x) {
         Tensor cond = from_values({1, 0, 1, 0, 0, 1}, {2, 3}, DType::Float64);
         return where(cond, x[0], x[1]);
       }},
      {"scalar ops chain", {{3, 4}}, [](const Xs& x) { return (2.0 - x[0] * 3.0) / 4.0 + 1.0; }},
      {"x divided into scalar", {{3, 4}}, [](const Xs& x) { return 2.0 / x[0]; },
       Inputs::Positive},
      {"same tensor twice", {{3, 4}}, [](const Xs& x) { return mul(x[0], x[0]); }},
  });
}

TEST_CASE("maximum/minimum split the gradient on ties, as PyTorch does") {
  Tensor a = from_values({1, 2}, {2}, DType::Float64).set_requires_grad();
  Tensor b = from_values({1, 3}, {2}, DType::Float64).set_requires_grad();
  sum(maximum(a, b)).backward();
  CHECK(a.grad().to_vector<double>() == std::vector<double>{0.5, 0});
  CHECK(b.grad().to_vector<double>() == std::vector<double>{0.5, 1});
}
