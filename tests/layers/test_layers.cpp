// Linear, Sequential, Flatten and the activation modules: init, values, errors, and the
// gradients of a small MLP (input and every parameter) against finite differences.
#include <doctest/doctest.h>

#include <cmath>

#include "layers/layers.h"
#include "support/op_check.h"

using namespace fovea;

namespace {
using Xs = std::vector<Tensor>;
using ModulePtr = std::shared_ptr<nn::Module>;
}  // namespace

TEST_CASE("Linear: default init is U(-1/sqrt(in), 1/sqrt(in)) for weight and bias") {
  manual_seed(3);
  nn::Linear lin(400, 300);
  const double bound = 1.0 / std::sqrt(400.0);  // 0.05
  CHECK(lin.weight.shape() == Shape{300, 400});
  CHECK(lin.bias.shape() == Shape{300});
  for (const Tensor& t : {lin.weight, lin.bias}) {
    const std::vector<float> v = t.to_vector<float>();
    double lo = 1, hi = -1, s = 0, s2 = 0;
    for (float x : v) lo = std::min(lo, double(x)), hi = std::max(hi, double(x)), s += x, s2 += x * x;
    CHECK(lo >= -bound);
    CHECK(hi < bound);
    // the whole interval is used: the extremes reach within 2% of the bound
    CHECK(lo < -0.98 * bound);
    CHECK(hi > 0.98 * bound);
    // variance of U(-b, b) is b^2 / 3
    CHECK(s2 / v.size() == doctest::Approx(bound * bound / 3).epsilon(0.05));
  }
  // reset_parameters with a seeded generator is reproducible
  Generator g1(9), g2(9);
  nn::Linear a(5, 4, true, DType::Float64), b(5, 4, true, DType::Float64);
  a.reset_parameters(&g1);
  b.reset_parameters(&g2);
  CHECK(a.weight.dtype() == DType::Float64);
  CHECK(a.weight.to_vector<double>() == b.weight.to_vector<double>());
  CHECK(a.bias.to_vector<double>() == b.bias.to_vector<double>());
}

TEST_CASE("Linear: forward computes x W^T + b, with or without bias") {
  nn::Linear lin(3, 2, true, DType::Float64);
  {
    NoGradGuard no_grad;
    lin.weight.copy_(from_values({1, 0, 2, 0, -1, 1}, {2, 3}, DType::Float64));
    lin.bias.copy_(from_values({0.5, -1}, {2}, DType::Float64));
  }
  Tensor x = from_values({1, 2, 3, -1, 0, 4}, {2, 3}, DType::Float64);
  // row 0: [1+6, -2+3] + b; row 1: [-1+8, 0+4] + b
  CHECK(lin(x).to_vector<double>() == std::vector<double>{7.5, 0, 7.5, 3});
  CHECK(lin(x.reshape({1, 2, 3})).shape() == Shape{1, 2, 2});

  nn::Linear nobias(3, 2, false, DType::Float64);
  CHECK(!nobias.bias.defined());
  CHECK(nobias.parameters().size() == 1);
  CHECK(nobias.state_dict().keys() == std::vector<std::string>{"weight"});
  {
    NoGradGuard no_grad;
    nobias.weight.copy_(lin.weight);
  }
  CHECK(nobias(x).to_vector<double>() == std::vector<double>{7, 1, 7, 4});

  CHECK_THROWS_WITH_AS(lin(zeros({2, 4}, DType::Float64)),
                       doctest::Contains("Linear: expected input [..., 3], got float64[2, 4]"), Error);
  CHECK_THROWS_WITH_AS(nn::Linear(0, 2), doctest::Contains("Linear: in_features and out_features "
                                                           "must be positive, got 0 and 2"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::Linear(2, 2, true, DType::Int64),
                       doctest::Contains("Linear: dtype must be float32 or float64, got int64"), Error);
}

TEST_CASE("Sequential: children run in order and are named by position") {
  auto lin = std::make_shared<nn::Linear>(2, 2, true, DType::Float64);
  {
    NoGradGuard no_grad;
    lin->weight.copy_(from_values({1, -1, 2, 0}, {2, 2}, DType::Float64));
    lin->bias.copy_(from_values({0, -5}, {2}, DType::Float64));
  }
  nn::Sequential seq{std::make_shared<nn::Flatten>(), lin, std::make_shared<nn::ReLU>()};
  seq.push_back(std::make_shared<nn::Tanh>());
  CHECK(seq.size() == 4);
  CHECK(seq[1] == lin);
  CHECK(seq[3]->type_name() == "Tanh");
  Tensor x = from_values({3, 1, 1, 3}, {2, 1, 2}, DType::Float64);  // flattened to [2, 2]
  // linear: [3-1, 6-5] = [2, 1] and [1-3, 2-5] = [-2, -3]; relu then tanh
  const std::vector<double> y = seq(x).to_vector<double>();
  const std::vector<double> want{std::tanh(2.0), std::tanh(1.0), 0, 0};
  REQUIRE(y.size() == 4);
  for (size_t i = 0; i < 4; ++i) CHECK(y[i] == doctest::Approx(want[i]).epsilon(1e-15));
  CHECK(nn::Sequential().forward(x).same(x));
  CHECK_THROWS_WITH_AS(seq[4], doctest::Contains("Sequential: index 4 is out of range for 4 modules"),
                       Error);
}

TEST_CASE("Flatten: merges start_dim..end_dim") {
  Tensor x = arange(24).reshape({2, 3, 2, 2});
  CHECK(nn::Flatten()(x).shape() == Shape{2, 12});
  CHECK(nn::Flatten(0)(x).shape() == Shape{24});
  CHECK(nn::Flatten(1, 2)(x).shape() == Shape{2, 6, 2});
  CHECK(nn::Flatten()(x).to_vector<float>() == x.to_vector<float>());
}

TEST_CASE("activation modules apply their op") {
  Tensor x = from_values({-4, -1.5, -0.2, 0.3, 2, 7}, {2, 3}, DType::Float64);
  const std::vector<std::pair<ModulePtr, Tensor>> cases = {
      {std::make_shared<nn::ReLU>(), relu(x)},
      {std::make_shared<nn::Sigmoid>(), sigmoid(x)},
      {std::make_shared<nn::Tanh>(), tanh(x)},
      {std::make_shared<nn::ReLU6>(), relu6(x)},
      {std::make_shared<nn::Hardsigmoid>(), hardsigmoid(x)},
      {std::make_shared<nn::Hardswish>(), hardswish(x)},
      {std::make_shared<nn::SiLU>(), silu(x)},
      {std::make_shared<nn::GELU>(), gelu(x)},
  };
  std::vector<std::string> types;
  for (const auto& entry : cases) {
    const auto& m = entry.first;
    const Tensor& want = entry.second;
    CAPTURE(m->type_name());
    CHECK(m->forward(x).to_vector<double>() == want.to_vector<double>());
    CHECK(m->parameters().empty());
    types.push_back(m->type_name());
  }
  CHECK(types == std::vector<std::string>{"ReLU", "Sigmoid", "Tanh", "ReLU6", "Hardsigmoid",
                                          "Hardswish", "SiLU", "GELU"});
  // spot values that do not come from the op itself
  CHECK(nn::ReLU6()(x).to_vector<double>() == std::vector<double>{0, 0, 0, 0.3, 2, 6});
  CHECK(nn::Hardsigmoid()(x).at({1, 1}) == doctest::Approx(5.0 / 6));
}

TEST_CASE("gradcheck: an MLP's input and parameter gradients") {
  // Smooth activations keep finite differences exact (ReLU's kink is checked at the op level).
  auto mlp = std::make_shared<nn::Sequential>(std::initializer_list<ModulePtr>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(6, 4, true, DType::Float64),
      std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(4, 3, true, DType::Float64),
      std::make_shared<nn::SiLU>(), std::make_shared<nn::Linear>(3, 2, false, DType::Float64)});
  const auto params = mlp->named_parameters();
  REQUIRE(params.size() == 5);
  // gradcheck hands the function fresh leaves; the MLP is made to use them as its parameters.
  auto fn = [mlp, params](const Xs& x) {
    for (size_t i = 0; i < params.size(); ++i) mlp->replace_parameter(params[i].first, x[i + 1]);
    return mlp->forward(x[0]);
  };
  std::vector<Shape> shapes{{5, 2, 3}};
  for (const auto& [name, p] : params) shapes.push_back(p.shape());
  test::check_op_cases({{"mlp", shapes, fn}});
  Xs probe{randn(shapes[0], DType::Float64)};  // the replacement really reaches the layers
  for (size_t i = 1; i < shapes.size(); ++i) probe.push_back(randn(shapes[i], DType::Float64));
  fn(probe);
  for (size_t i = 0; i < params.size(); ++i) CHECK(mlp->parameters()[i].same(probe[i + 1]));

  // and the gradients land on the module's own parameters in ordinary use
  for (size_t i = 0; i < params.size(); ++i) mlp->replace_parameter(params[i].first, params[i].second);
  sum(mlp->forward(randn({5, 2, 3}, DType::Float64))).backward();
  for (const Tensor& p : mlp->parameters()) {
    REQUIRE(p.grad().defined());
    CHECK(p.grad().shape() == p.shape());
  }
}
