// Adam and AdamW: steps computed by hand (a constant gradient, weight decay coupled and
// decoupled, amsgrad's running maximum), state and step counts, float32 training, errors.
// The PyTorch comparisons are in test_optim_fixtures.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/fovea.h"

using namespace fovea;
using optim::Adam;
using optim::AdamW;

namespace {

// lr g / (|g| + eps): the move of Adam's every step under a constant gradient g, since then
// m_hat = g and v_hat = g^2 exactly (up to rounding) at every step.
double adam_move(double lr, double g, double eps = 1e-8) { return lr * g / (std::abs(g) + eps); }

Tensor param(std::vector<double> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return from_values(v, {n}, DType::Float64).set_requires_grad();
}

}  // namespace

TEST_CASE("Adam: a constant gradient moves each element by lr g / (|g| + eps) per step") {
  Tensor p = param({1, -2, 0.5, 3});
  const std::vector<double> g = {0.5, -0.25, 1e-8, -4};
  Adam opt({p}, {.lr = 0.1});
  std::vector<double> want = {1, -2, 0.5, 3};
  for (int step = 1; step <= 3; ++step) {
    p.set_grad(from_values(g, {4}, DType::Float64));
    opt.step();
    for (size_t j = 0; j < 4; ++j) {
      want[j] -= adam_move(0.1, g[j]);
      CAPTURE(step);
      CAPTURE(j);
      CHECK(p.to_vector<double>()[j] == doctest::Approx(want[j]).epsilon(1e-14));
    }
  }
  // The third element's g is near eps: its move is lr / 2, not lr.
  CHECK(0.5 - p.to_vector<double>()[2] == doctest::Approx(3 * 0.05).epsilon(1e-12));
  CHECK(opt.state(0).step == 3);
  // m = (1 - 0.9^3) g, v = (1 - 0.999^3) g^2 after three equal gradients
  const std::vector<double> m = opt.state(0).tensors.at("exp_avg").to_vector<double>();
  const std::vector<double> v = opt.state(0).tensors.at("exp_avg_sq").to_vector<double>();
  CHECK(m[0] == doctest::Approx((1 - 0.729) * 0.5).epsilon(1e-14));
  CHECK(v[3] == doctest::Approx((1 - std::pow(0.999, 3)) * 16).epsilon(1e-12));
  CHECK(opt.state(0).tensors.count("max_exp_avg_sq") == 0);
}

TEST_CASE("Adam: weight decay is added to the gradient, AdamW decays the parameter itself") {
  // Adam: g' = g + wd p0 = [0.5 + 0.1, -0.25 - 0.2]; one step moves by lr g' / (|g'| + eps).
  Tensor a = param({1, -2});
  Adam adam({a}, {.lr = 0.1, .weight_decay = 0.1});
  a.set_grad(from_values({0.5, -0.25}, {2}, DType::Float64));
  adam.step();
  CHECK(a.to_vector<double>()[0] == doctest::Approx(1 - adam_move(0.1, 0.6)).epsilon(1e-14));
  CHECK(a.to_vector<double>()[1] == doctest::Approx(-2 - adam_move(0.1, -0.45)).epsilon(1e-14));

  // AdamW: p = p (1 - lr wd) - lr g / (|g| + eps), the decay independent of the gradient.
  Tensor w = param({1, -2});
  AdamW adamw({w}, {.lr = 0.1, .weight_decay = 0.1});
  std::vector<double> want = {1, -2};
  for (int step = 0; step < 2; ++step) {
    w.set_grad(from_values({0.5, -0.25}, {2}, DType::Float64));
    adamw.step();
    want = {want[0] * 0.99 - adam_move(0.1, 0.5), want[1] * 0.99 - adam_move(0.1, -0.25)};
  }
  CHECK(w.to_vector<double>()[0] == doctest::Approx(want[0]).epsilon(1e-14));
  CHECK(w.to_vector<double>()[1] == doctest::Approx(want[1]).epsilon(1e-14));
  CHECK(adamw.name() == "AdamW");
}

TEST_CASE("AdamW: PyTorch's default weight decay 1e-2, Adam's is 0") {
  Tensor a = param({1}), b = param({1});
  AdamW adamw({a}, {.lr = 0.5});
  Adam adam({b}, {.lr = 0.5});
  CHECK(adamw.options().weight_decay == 1e-2);
  CHECK(adam.options().weight_decay == 0);
  CHECK(adamw.group_options(0) == nlohmann::json{{"lr", 0.5},
                                                 {"betas", {0.9, 0.999}},
                                                 {"eps", 1e-8},
                                                 {"weight_decay", 1e-2},
                                                 {"amsgrad", false}});
  a.set_grad(zeros({1}, DType::Float64));  // only the decay moves it: 1 * (1 - 0.5 * 0.01)
  adamw.step();
  CHECK(a.item() == doctest::Approx(0.995).epsilon(1e-15));
}

TEST_CASE("Adam: amsgrad divides by the running maximum of v") {
  // g1 = 1, g2 = 0.01: v1 = 1e-3, v2 = 0.999e-3 + 1e-7 < v1, so amsgrad keeps v1.
  auto two_steps = [](bool amsgrad) {
    Tensor p = param({0});
    Adam opt({p}, {.lr = 0.1, .amsgrad = amsgrad});
    for (double g : {1.0, 0.01}) {
      p.set_grad(from_values({g}, {1}, DType::Float64));
      opt.step();
    }
    return std::make_pair(p.item(), opt.state(0).tensors);
  };
  const double m2 = 0.9 * 0.1 + 0.1 * 0.01, v1 = 1e-3, v2 = 0.999 * 1e-3 + 1e-3 * 1e-4;
  const double bc1 = 1 - 0.81, bc2 = 1 - 0.999 * 0.999;
  const double p1 = -adam_move(0.1, 1.0);
  const auto [with, state] = two_steps(true);
  const auto [without, _] = two_steps(false);
  CHECK(with == doctest::Approx(p1 - 0.1 * (m2 / bc1) / (std::sqrt(v1 / bc2) + 1e-8)).epsilon(1e-13));
  CHECK(without == doctest::Approx(p1 - 0.1 * (m2 / bc1) / (std::sqrt(v2 / bc2) + 1e-8)).epsilon(1e-13));
  CHECK(state.at("max_exp_avg_sq").item() == doctest::Approx(v1).epsilon(1e-15));
  CHECK(state.at("exp_avg_sq").item() == doctest::Approx(v2).epsilon(1e-15));
}

TEST_CASE("Adam: bias correction counts each parameter's own steps") {
  // b misses the first step, so its first update is a first step (a move of lr), as in PyTorch.
  Tensor a = param({0}), b = param({0});
  Adam opt({a, b}, {.lr = 0.1});
  a.set_grad(ones({1}, DType::Float64));
  opt.step();
  a.set_grad(ones({1}, DType::Float64));
  b.set_grad(ones({1}, DType::Float64));
  opt.step();
  CHECK(opt.state(0).step == 2);
  CHECK(opt.state(1).step == 1);
  CHECK(b.item() == doctest::Approx(-adam_move(0.1, 1)).epsilon(1e-14));
  CHECK(a.item() == doctest::Approx(-2 * adam_move(0.1, 1)).epsilon(1e-14));
}

TEST_CASE("Adam: non-contiguous gradients, the gradient is left untouched") {
  Tensor p = zeros({2, 3}, DType::Float64).set_requires_grad();
  Tensor q = zeros({2, 3}, DType::Float64).set_requires_grad();
  const Tensor g = from_values({1, -2, 3, -4, 5, -6}, {3, 2}, DType::Float64).t();
  REQUIRE(!g.is_contiguous());
  Adam a({p}, {.lr = 0.1, .weight_decay = 0.01}), b({q}, {.lr = 0.1, .weight_decay = 0.01});
  for (int i = 0; i < 2; ++i) {
    p.set_grad(g);
    q.set_grad(g.contiguous());
    a.step();
    b.step();
  }
  CHECK(p.to_vector<double>() == q.to_vector<double>());
  CHECK(g.to_vector<double>() == std::vector<double>{1, 3, 5, -2, -4, -6});
}

TEST_CASE("Adam and AdamW: train a float32 Linear model") {
  for (bool decoupled : {false, true}) {
    CAPTURE(decoupled);
    Tensor w = zeros({1, 2}).set_requires_grad();
    const Tensor x = from_values({1, 2, 3, -1}, {2, 2});
    const Tensor y = from_values({5, 1}, {2, 1});  // y = x [1, 2]^T
    std::unique_ptr<optim::Optimizer> opt;
    if (decoupled)
      opt = std::make_unique<AdamW>(std::vector<Tensor>{w}, optim::AdamWOptions{.lr = 0.05, .weight_decay = 0});
    else
      opt = std::make_unique<Adam>(std::vector<Tensor>{w}, optim::AdamOptions{.lr = 0.05});
    double first = 0, last = 0;
    for (int i = 0; i < 500; ++i) {
      opt->zero_grad();
      const Tensor d = linear(x, w) - y;
      const Tensor loss = mean(d * d);
      loss.backward();
      opt->step();
      (i == 0 ? first : last) = loss.item();
    }
    CHECK(last < 1e-6 * first);
    CHECK(w.at({0, 0}) == doctest::Approx(1).epsilon(1e-3));
    CHECK(w.at({0, 1}) == doctest::Approx(2).epsilon(1e-3));
    CHECK(w.is_leaf());
    CHECK(w.dtype() == DType::Float32);
  }
}

TEST_CASE("Adam and AdamW: invalid options") {
  Tensor p = ones({2}).set_requires_grad();
  CHECK_THROWS_WITH_AS(Adam({p}, {.lr = -1e-3}),
                       doctest::Contains("Adam: learning rate must be >= 0, got -0.001"), Error);
  CHECK_THROWS_WITH_AS(Adam({p}, {.betas = {1.0, 0.999}}),
                       doctest::Contains("Adam: beta1 must lie in [0, 1), got 1"), Error);
  CHECK_THROWS_WITH_AS(Adam({p}, {.betas = {0.9, -0.1}}),
                       doctest::Contains("Adam: beta2 must lie in [0, 1), got -0.1"), Error);
  CHECK_THROWS_WITH_AS(Adam({p}, {.eps = 0}), doctest::Contains("Adam: eps must be > 0, got 0"),
                       Error);
  CHECK_THROWS_WITH_AS(AdamW({p}, {.eps = -1e-8}),
                       doctest::Contains("AdamW: eps must be > 0, got -1e-08"), Error);
  CHECK_THROWS_WITH_AS(AdamW({p}, {.weight_decay = -0.01}),
                       doctest::Contains("AdamW: weight_decay must be >= 0, got -0.01"), Error);
  CHECK_THROWS_WITH_AS(Adam(std::vector<optim::ParamGroup>{{{p}, {{"betas", {0.9}}}}}),
                       doctest::Contains("Adam: group 0: option 'betas' must have the kind of its "
                                         "default [0.9,0.999], got [0.9]"),
                       Error);
  CHECK_THROWS_WITH_AS(Adam(std::vector<optim::ParamGroup>{{{p}, {{"amsgrad", 1}}}}),
                       doctest::Contains("option 'amsgrad' must have the kind of its default false"),
                       Error);
  CHECK_THROWS_WITH_AS(AdamW(std::vector<optim::ParamGroup>{{{p}, {{"momentum", 0.9}}}}),
                       doctest::Contains("AdamW: group 0: unknown option 'momentum' (AdamW's "
                                         "options: amsgrad, betas, eps, lr, weight_decay)"),
                       Error);
  // A non-contiguous leaf cannot be updated by the fused kernel.
  Tensor t = ones({3, 2}).t().set_requires_grad();
  Adam opt({t});
  t.set_grad(ones({2, 3}));
  CHECK_THROWS_WITH_AS(opt.step(),
                       doctest::Contains("Adam: parameter 0 (float32[2, 3]) is not contiguous"),
                       Error);
}
