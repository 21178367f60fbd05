// SGD: three steps of torch.optim.SGD's rule (plain, momentum, dampening + weight decay,
// Nesterov) against a scalar re-statement of the rule as PyTorch documents it; the first steps
// are also worked out by hand. PyTorch's own numbers for these options are in
// test_optim_fixtures.cpp (tests/fixtures/families/optim.py).
#include <doctest/doctest.h>

#include "engine/fovea.h"

using namespace fovea;
using optim::SGD;

namespace {

// The loss sum(c * p^2) has the gradient 2 c p, so each step sees a new gradient.
const std::vector<double> kStart = {1.0, -2.0, 0.5}, kC = {0.5, 1.5, -0.25};
constexpr int kSteps = 3;

// The rule, one element at a time (torch.optim.SGD's documentation):
//   g = grad + wd p;  b = g at the first step, else momentum b + (1 - dampening) g;
//   g = g + momentum b (Nesterov) or b (momentum > 0);  p = p - lr g.
std::vector<std::vector<double>> reference_steps(const optim::SGDOptions& o) {
  std::vector<double> p = kStart, b(p.size());
  std::vector<std::vector<double>> out;
  for (int t = 0; t < kSteps; ++t) {
    for (size_t j = 0; j < p.size(); ++j) {
      double g = 2 * kC[j] * p[j] + o.weight_decay * p[j];
      if (o.momentum != 0) {
        b[j] = t == 0 ? g : o.momentum * b[j] + (1 - o.dampening) * g;
        g = o.nesterov ? g + o.momentum * b[j] : b[j];
      }
      p[j] -= o.lr * g;
    }
    out.push_back(p);
  }
  return out;
}

std::vector<std::vector<double>> three_steps(const optim::SGDOptions& options) {
  Tensor p = from_vector(kStart, {3}).set_requires_grad();
  const Tensor c = from_vector(kC, {3});
  SGD opt({p}, options);
  std::vector<std::vector<double>> out;
  for (int i = 0; i < kSteps; ++i) {
    opt.zero_grad();
    sum(c * p * p).backward();
    opt.step();
    out.push_back(p.to_vector<double>());
  }
  CHECK(opt.state(0).step == kSteps);
  return out;
}

void check_steps(const std::vector<std::vector<double>>& got,
                 const std::vector<std::vector<double>>& want) {
  REQUIRE(got.size() >= want.size());
  for (size_t s = 0; s < want.size(); ++s)
    for (size_t j = 0; j < want[s].size(); ++j) {
      CAPTURE(s);
      CAPTURE(j);
      CHECK(got[s][j] == doctest::Approx(want[s][j]).epsilon(1e-14));
    }
}

void check_against_reference(const optim::SGDOptions& options) {
  check_steps(three_steps(options), reference_steps(options));
}

}  // namespace

TEST_CASE("SGD: plain steps p -= lr * g") {
  // g = 2 c p = [1, -6, -0.25]  ->  p1 = [0.9, -1.4, 0.525]; each step scales p by 1 - 0.2 c
  check_steps(three_steps({.lr = 0.1}), {{0.9, -1.4, 0.525},
                                         {0.81, -0.98, 0.55125},
                                         {0.729, -0.686, 0.5788125}});
  check_against_reference({.lr = 0.1});
}

TEST_CASE("SGD: momentum starts its buffer at the first gradient") {
  // step 1: b = g1 = [1, -6, -0.25], p1 = [0.9, -1.4, 0.525]
  // step 2: g2 = [0.9, -4.2, -0.2625], b = 0.9 b + g2 = [1.8, -9.6, -0.4875],
  //         p2 = p1 - 0.1 b = [0.72, -0.44, 0.57375]
  check_steps(three_steps({.lr = 0.1, .momentum = 0.9}), {{0.9, -1.4, 0.525},
                                                          {0.72, -0.44, 0.57375}});
  check_against_reference({.lr = 0.1, .momentum = 0.9});
}

TEST_CASE("SGD: weight decay and dampening") {
  // step 1: g1 = 2 c p + 0.01 p = [1.01, -6.02, -0.245], b = g1, p1 = p - 0.1 g1
  check_steps(three_steps({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .dampening = 0.3}),
              {{0.899, -1.398, 0.5245}});
  check_against_reference({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .dampening = 0.3});
}

TEST_CASE("SGD: Nesterov momentum with weight decay") {
  // step 1: g1 = 2 c p + 0.1 p = [1.1, -6.2, -0.2], b = g1, p1 = p - 0.1 (g1 + 0.9 b) = p - 0.19 g1
  check_steps(three_steps({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true}),
              {{0.791, -0.822, 0.538}});
  check_against_reference({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true});
}

TEST_CASE("SGD: the momentum buffer is per-parameter state, undefined grads are skipped") {
  Tensor a = from_values({1, 2}, {2}, DType::Float64).set_requires_grad();
  Tensor b = from_values({3}, {1}, DType::Float64).set_requires_grad();
  SGD opt({a, b}, 0.5, 0.9);
  sum(a * a).backward();  // b takes no part: its grad stays undefined
  opt.step();
  CHECK(a.to_vector<double>() == std::vector<double>{0, 0});  // a - 0.5 * 2a
  CHECK(b.to_vector<double>() == std::vector<double>{3});
  CHECK(opt.state(0).tensors.at("momentum_buffer").to_vector<double>() == std::vector<double>{2, 4});
  CHECK(opt.state(1).tensors.empty());
  CHECK(opt.state(1).step == 0);
  // the gradient itself is left as backward produced it
  CHECK(a.grad().to_vector<double>() == std::vector<double>{2, 4});
  CHECK(!opt.state(0).tensors.at("momentum_buffer").same(a.grad()));
  opt.zero_grad();
  CHECK(!a.grad().defined());
}

TEST_CASE("SGD: learning rate can be read and changed between steps") {
  Tensor p = from_values({1}, {1}, DType::Float64).set_requires_grad();
  SGD opt({p}, 0.1);
  CHECK(opt.lr() == 0.1);
  opt.set_lr(0.25);
  sum(p * 4.0).backward();
  opt.step();
  CHECK(p.item() == 0);  // 1 - 0.25 * 4
  CHECK_THROWS_WITH_AS(opt.set_lr(-1), doctest::Contains("SGD: learning rate must be >= 0, got -1"),
                       Error);
}

TEST_CASE("SGD: invalid options and parameters") {
  Tensor p = ones({2}).set_requires_grad();
  CHECK_THROWS_WITH_AS(SGD({p}, 0.1, 0, 0, 0, true),
                       doctest::Contains("SGD: nesterov momentum needs momentum > 0 and dampening = 0"),
                       Error);
  CHECK_THROWS_WITH_AS(SGD({p}, 0.1, 0.9, 0, 0.1, true), doctest::Contains("nesterov"), Error);
  CHECK_THROWS_WITH_AS(SGD({p}, 0.1, -0.5), doctest::Contains("SGD: momentum must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(SGD({p}, 0.1, 0, -1), doctest::Contains("SGD: weight_decay must be >= 0"),
                       Error);
  CHECK_THROWS_WITH_AS(SGD({p}, -0.1), doctest::Contains("SGD: learning rate must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(SGD({}, 0.1), doctest::Contains("SGD: got an empty parameter list"), Error);
  CHECK_THROWS_WITH_AS(SGD({p, p}, 0.1), doctest::Contains("parameter 1 appears more than once"),
                       Error);
  CHECK_THROWS_WITH_AS(SGD({ones({2})}, 0.1),
                       doctest::Contains("SGD: parameter 0 (float32[2]) must be a float leaf "
                                         "tensor that requires grad"),
                       Error);
  CHECK_THROWS_WITH_AS(SGD({p * 2.0}, 0.1), doctest::Contains("must be a float leaf"), Error);
  CHECK_THROWS_WITH_AS(SGD({Tensor()}, 0.1), doctest::Contains("SGD: parameter 0 is undefined"), Error);
}

TEST_CASE("SGD: trains a float32 Linear model in place without breaking autograd") {
  Tensor w = zeros({1, 2}).set_requires_grad();
  Tensor x = from_values({1, 2, 3, -1}, {2, 2});
  Tensor y = from_values({5, 1}, {2, 1});  // y = x [1, 2]^T
  SGD opt({w}, 0.05, 0.5);
  double first = 0, last = 0;
  for (int i = 0; i < 200; ++i) {
    opt.zero_grad();
    Tensor d = linear(x, w) - y;
    Tensor loss = mean(d * d);
    loss.backward();
    opt.step();
    (i == 0 ? first : last) = loss.item();
  }
  CHECK(last < 1e-6 * first);
  CHECK(w.at({0, 0}) == doctest::Approx(1).epsilon(1e-3));
  CHECK(w.at({0, 1}) == doctest::Approx(2).epsilon(1e-3));
  CHECK(w.requires_grad());
  CHECK(w.is_leaf());
}
