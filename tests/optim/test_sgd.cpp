// SGD: three steps of torch.optim.SGD's rule (plain, momentum, dampening + weight decay,
// Nesterov), against values from PyTorch 1.13 and checked by hand for the first two.
#include <doctest/doctest.h>

#include "engine/fovea.h"

using namespace fovea;
using optim::SGD;

namespace {

// The loss sum(c * p^2) has the gradient 2 c p, so each step sees a new gradient.
// The fixtures below were produced with (/usr/bin/python3, torch 1.13):
//
//   import torch
//   def run(**kw):
//       p = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
//       c = torch.tensor([0.5, 1.5, -0.25], dtype=torch.float64)
//       opt = torch.optim.SGD([p], **kw)
//       for _ in range(3):
//           opt.zero_grad(); (c * p * p).sum().backward(); opt.step()
//           print(["%.17g" % v for v in p.detach()])
//   run(lr=0.1); run(lr=0.1, momentum=0.9)
//   run(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)
//   run(lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True)
std::vector<std::vector<double>> three_steps(const optim::SGDOptions& options) {
  Tensor p = from_values({1.0, -2.0, 0.5}, {3}, DType::Float64).set_requires_grad();
  const Tensor c = from_values({0.5, 1.5, -0.25}, {3}, DType::Float64);
  SGD opt({p}, options);
  std::vector<std::vector<double>> out;
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    sum(c * p * p).backward();
    opt.step();
    out.push_back(p.to_vector<double>());
  }
  CHECK(opt.state(0).step == 3);
  return out;
}

void check_steps(const std::vector<std::vector<double>>& got,
                 const std::vector<std::vector<double>>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t s = 0; s < got.size(); ++s)
    for (size_t j = 0; j < got[s].size(); ++j) {
      CAPTURE(s);
      CAPTURE(j);
      CHECK(got[s][j] == doctest::Approx(want[s][j]).epsilon(1e-14));
    }
}

}  // namespace

TEST_CASE("SGD: plain steps p -= lr * g") {
  // g = 2 c p = [1, -6, -0.25]  ->  p1 = [0.9, -1.4, 0.525]; each step scales p by 1 - 0.2 c
  check_steps(three_steps({.lr = 0.1}), {{0.9, -1.4, 0.525},
                                         {0.81, -0.98, 0.55125},
                                         {0.729, -0.686, 0.5788125}});
}

TEST_CASE("SGD: momentum starts its buffer at the first gradient") {
  // step 1: b = g1 = [1, -6, -0.25], p1 = [0.9, -1.4, 0.525]
  // step 2: g2 = [0.9, -4.2, -0.2625], b = 0.9 b + g2 = [1.8, -9.6, -0.4875],
  //         p2 = p1 - 0.1 b = [0.72, -0.44, 0.57375]
  check_steps(three_steps({.lr = 0.1, .momentum = 0.9}),
              {{0.9, -1.4, 0.525},
               {0.72, -0.44, 0.57375},
               {0.486, 0.55600000000000027, 0.64631249999999996}});
}

TEST_CASE("SGD: weight decay and dampening") {
  check_steps(three_steps({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .dampening = 0.3}),
              {{0.89900000000000002, -1.3979999999999999, 0.52449999999999997},
               {0.74454070000000006, -0.56164139999999985, 0.56454034999999991},
               {0.5528883025100001, 0.30941918298000026, 0.61994039900499986}});
}

TEST_CASE("SGD: Nesterov momentum with weight decay") {
  check_steps(three_steps({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true}),
              {{0.79099999999999993, -0.82199999999999984, 0.53800000000000003},
               {0.53658099999999986, 0.16435800000000012, 0.59508800000000006},
               {0.27376747099999987, 0.72593533800000021, 0.67232588800000004}});
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
