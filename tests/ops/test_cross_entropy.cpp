// cross_entropy (and nll_loss): hand-computed values, agreement with the composite
// -sum(q * log_softmax), PyTorch fixtures, class axis 1 of higher-rank logits, large and
// -inf logits, gradient checks for every reduction with and without label smoothing, and
// each class of bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "engine/fovea.h"
#include "support/fixtures.h"
#include "support/compare.h"
#include "support/op_check.h"

using namespace fovea;
using fovea::test::max_diff;
using fovea::test::values;
using fovea::test::FixtureCase;

namespace {
using Xs = std::vector<Tensor>;
const double kInf = std::numeric_limits<double>::infinity();

Tensor labels(const std::vector<int64_t>& v, const Shape& shape) {
  return from_vector(v, shape);
}

// extra_inputs for the gradient checks: random class indices of `shape` in [0, k).
std::function<std::vector<Tensor>(Generator&)> random_targets(Shape shape, int64_t k) {
  return [shape, k](Generator& gen) {
    std::vector<int64_t> v(size_t(shape_numel(shape)));
    for (int64_t& t : v) t = gen.randint(k);
    return std::vector<Tensor>{from_vector(v, shape)};
  };
}

Reduction reduction_of(const std::string& name) {
  if (name == "mean") return Reduction::Mean;
  if (name == "sum") return Reduction::Sum;
  REQUIRE(name == "none");
  return Reduction::None;
}

const char* name_of(Reduction r) {
  return r == Reduction::Mean ? "mean" : r == Reduction::Sum ? "sum" : "none";
}
}  // namespace

TEST_CASE("cross_entropy: uniform logits give log K for every reduction and smoothing") {
  Tensor z = full({3, 5}, 2.5, DType::Float64);
  Tensor t = labels({0, 4, 2}, {3});
  for (double eps : {0.0, 0.1, 1.0}) {
    CAPTURE(eps);
    CHECK(cross_entropy(z, t, Reduction::Mean, eps).item() == doctest::Approx(std::log(5.0)));
    CHECK(cross_entropy(z, t, Reduction::Sum, eps).item() ==
          doctest::Approx(3 * std::log(5.0)));
    Tensor none = cross_entropy(z, t, Reduction::None, eps);
    CHECK(none.shape() == Shape{3});
    for (double v : values(none)) CHECK(v == doctest::Approx(std::log(5.0)));
  }
}

TEST_CASE("cross_entropy: hand-computed loss and gradient with label smoothing") {
  // softmax(0, log 2, log 3) = (1, 2, 3) / 6, target 2; eps = 0.3 gives q = (0.1, 0.1, 0.8).
  Tensor z = from_values({0, std::log(2.0), std::log(3.0)}, {1, 3}, DType::Float64)
                 .set_requires_grad();
  Tensor t = labels({2}, {1});
  CHECK(cross_entropy(z, t).item() == doctest::Approx(std::log(2.0)).epsilon(1e-14));
  Tensor loss = cross_entropy(z, t, Reduction::Mean, 0.3);
  CHECK(loss.grad_fn()->name() == "CrossEntropyBackward");
  const double expected = -(0.1 * std::log(1.0 / 6) + 0.1 * std::log(1.0 / 3) +
                            0.8 * std::log(0.5));
  CHECK(loss.item() == doctest::Approx(expected).epsilon(1e-14));
  loss.backward();
  const std::vector<double> dz = values(z.grad());
  CHECK(dz[0] == doctest::Approx(1.0 / 6 - 0.1).epsilon(1e-14));
  CHECK(dz[1] == doctest::Approx(1.0 / 3 - 0.1).epsilon(1e-14));
  CHECK(dz[2] == doctest::Approx(0.5 - 0.8).epsilon(1e-14));
}

TEST_CASE("cross_entropy: equals -sum(q * log_softmax) in value and gradient") {
  Generator gen(11);
  const Tensor values0 = randn({4, 6}, DType::Float64, &gen) * 3.0;
  Tensor t = labels({5, 0, 3, 3}, {4});
  Tensor onehot = zeros({4, 6}, DType::Float64);
  for (int64_t n = 0; n < 4; ++n) onehot.select(0, n).select(0, t.at<int64_t>({n})).fill_(1);
  for (double eps : {0.0, 0.2}) {
    const Tensor q = onehot * (1 - eps) + eps / 6;
    for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
      CAPTURE(eps);
      const std::string reduction = name_of(r);
      CAPTURE(reduction);
      Tensor a = values0.clone().set_requires_grad(), b = values0.clone().set_requires_grad();
      Tensor fused = cross_entropy(a, t, r, eps);
      Tensor rows = -sum(q * log_softmax(b, 1), {1});
      Tensor composite = r == Reduction::Mean ? mean(rows) : r == Reduction::Sum ? sum(rows) : rows;
      CHECK(fused.shape() == composite.shape());
      CHECK(max_diff(fused, composite) < 1e-13);
      Tensor up = r == Reduction::None ? from_values({0.5, -1, 2, 0.25}, {4}, DType::Float64)
                                       : scalar_tensor(1.5, DType::Float64);
      fused.backward(up);
      composite.backward(up);
      CHECK(max_diff(a.grad(), b.grad()) < 1e-14);
    }
  }
}

TEST_CASE("cross_entropy: matches PyTorch fixtures (values and gradients, 1e-10)") {
  test::check_fixtures("cross_entropy", {
      {"cross_entropy",
       [](const FixtureCase& c, const Xs& x) {
         return cross_entropy(x[0], x[1], reduction_of(c.args.at("reduction")),
                              c.args.at("label_smoothing").get<double>());
       }},
      {"nll_loss",
       [](const FixtureCase& c, const Xs& x) {
         return nll_loss(x[0], x[1], reduction_of(c.args.at("reduction")));
       }},
  });
}

TEST_CASE("cross_entropy: class axis 1 of [N, K, d] logits and unbatched [K] logits") {
  Generator gen(5);
  Tensor z = randn({2, 3, 4}, DType::Float64, &gen);
  Tensor t = labels({0, 2, 1, 2, 1, 1, 0, 2}, {2, 4});
  // The same losses from [N * d, K] rows built by moving the class axis last by hand.
  Tensor rows = z.permute({0, 2, 1}).reshape({8, 3});
  Tensor none = cross_entropy(z, t, Reduction::None, 0.1);
  CHECK(none.shape() == Shape{2, 4});
  CHECK(max_diff(none.reshape({8}), cross_entropy(rows, t.reshape({8}), Reduction::None, 0.1)) ==
        0);
  CHECK(cross_entropy(z, t).item() == doctest::Approx(cross_entropy(rows, t.reshape({8})).item()));
  // Unbatched: logits [K] with a 0-d target, here element (0, 0) of the batch above.
  const Tensor logits00 = z.select(0, 0).select(1, 0);
  const Tensor target00 = scalar_tensor(0, DType::Int64);
  REQUIRE(t.at<int64_t>({0, 0}) == 0);
  Tensor single = cross_entropy(logits00, target00, Reduction::None, 0.1);
  CHECK(single.shape() == Shape{});
  CHECK(single.item() == doctest::Approx(none.at({0, 0})).epsilon(1e-14));
  CHECK(cross_entropy(logits00, target00, Reduction::Mean, 0.1).item() ==
        doctest::Approx(none.at({0, 0})).epsilon(1e-14));
}

TEST_CASE("cross_entropy: logits of +-1000 give finite losses and gradients") {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (double eps : {0.0, 0.1}) {
      const std::string dtype_str = dtype_name(dtype);
      CAPTURE(dtype_str);
      CAPTURE(eps);
      Tensor z = from_values({1000, -1000, 0, -1000, 1000, 0}, {2, 3}, dtype).set_requires_grad();
      Tensor loss = cross_entropy(z, labels({0, 0}, {2}), Reduction::None, eps);
      // Row 0 predicts its target with probability 1, row 1 has it 2000 below the max.
      const std::vector<double> l = values(loss);
      CHECK(l[0] == doctest::Approx(eps / 3 * (2000 + 1000)));
      CHECK(l[1] == doctest::Approx((1 - eps) * 2000 + eps / 3 * (2000 + 1000)));
      sum(loss).backward();
      const std::vector<double> dz = values(z.grad());
      for (double g : dz) CHECK(std::isfinite(g));
      CHECK(dz[0] == doctest::Approx(1 - (1 - eps) - eps / 3));
      CHECK(dz[4] == doctest::Approx(1 - eps / 3));
    }
  }
}

TEST_CASE("cross_entropy: a -inf logit, as PyTorch treats it") {
  Tensor z = from_values({-kInf, 1, 2}, {1, 3}, DType::Float64).set_requires_grad();
  Tensor t = labels({2}, {1});
  // Without smoothing the -inf class simply has probability 0.
  Tensor loss = cross_entropy(z, t);
  CHECK(loss.item() == doctest::Approx(std::log(1 + std::exp(-1.0))));
  loss.backward();
  CHECK(z.grad().at({0, 0}) == 0);
  CHECK(z.grad().at({0, 1}) == doctest::Approx(1 / (1 + std::exp(1.0))));
  // With smoothing the target mass on the -inf class costs an infinite loss.
  CHECK(cross_entropy(z, t, Reduction::Mean, 0.1).item() == kInf);
}

TEST_CASE("cross_entropy: float32 agrees with float64") {
  Generator gen(9);
  Tensor z = randn({16, 10}, DType::Float64, &gen) * 4.0;
  Tensor t = labels({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5}, {16});
  // Both start from the same (float32-representable) logits, so only the arithmetic differs.
  Tensor z32 = z.to(DType::Float32).set_requires_grad();
  Tensor z64 = z32.detach().to(DType::Float64).set_requires_grad();
  Tensor l32 = cross_entropy(z32, t, Reduction::Mean, 0.1);
  Tensor l64 = cross_entropy(z64, t, Reduction::Mean, 0.1);
  CHECK(l32.dtype() == DType::Float32);
  CHECK(l32.item() == doctest::Approx(l64.item()).epsilon(1e-6));
  l32.backward();
  l64.backward();
  CHECK(max_diff(z32.grad(), z64.grad()) < 1e-8);
}

TEST_CASE("cross_entropy: empty batch") {
  Tensor z = zeros({0, 5}, DType::Float64);
  Tensor t = labels({}, {0});
  CHECK(cross_entropy(z, t, Reduction::Sum).item() == 0);
  CHECK(cross_entropy(z, t, Reduction::None).shape() == Shape{0});
  CHECK(nll_loss(z, t, Reduction::Sum).item() == 0);
}

TEST_CASE("nll_loss: picks -log_probs at the target") {
  Tensor x = from_values({-1, -2, -3, -4, -5, -6}, {2, 3}, DType::Float64).set_requires_grad();
  Tensor t = labels({2, 0}, {2});
  CHECK(values(nll_loss(x, t, Reduction::None)) == std::vector<double>{3, 4});
  Tensor loss = nll_loss(x, t);
  CHECK(loss.item() == 3.5);
  CHECK(loss.grad_fn()->name() == "NllLossBackward");
  loss.backward();
  CHECK(values(x.grad()) == std::vector<double>{0, 0, -0.5, -0.5, 0, 0});
  // nll_loss of log_softmax is cross_entropy.
  Generator gen(2);
  Tensor z = randn({4, 3}, DType::Float64, &gen);
  Tensor tz = labels({1, 2, 0, 1}, {4});
  CHECK(nll_loss(log_softmax(z, 1), tz).item() ==
        doctest::Approx(cross_entropy(z, tz).item()).epsilon(1e-14));
}

TEST_CASE("gradcheck: cross_entropy for every reduction, with and without smoothing") {
  std::vector<test::OpCase> cases;
  for (double eps : {0.0, 0.1}) {
    for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
      const std::string name = std::string("cross_entropy ") + name_of(r) + " eps " +
                               std::to_string(eps);
      cases.push_back({name, {{4, 5}},
                       [r, eps](const Xs& x) { return cross_entropy(x[0], x[1], r, eps); },
                       test::Inputs::Normal, {}, random_targets({4}, 5)});
    }
  }
  cases.push_back({"cross_entropy [2, 3, 4] class axis 1", {{2, 3, 4}},
                   [](const Xs& x) { return cross_entropy(x[0], x[1], Reduction::Mean, 0.1); },
                   test::Inputs::Normal, {}, random_targets({2, 4}, 3)});
  cases.push_back({"cross_entropy [2, 3, 4] none", {{2, 3, 4}},
                   [](const Xs& x) { return cross_entropy(x[0], x[1], Reduction::None); },
                   test::Inputs::Normal, {}, random_targets({2, 4}, 3)});
  cases.push_back({"cross_entropy unbatched [5]", {{5}},
                   [](const Xs& x) { return cross_entropy(x[0], x[1], Reduction::Mean, 0.1); },
                   test::Inputs::Normal, {}, random_targets({}, 5),
                   // one axis, the class axis: an expanded input would give a zero gradient
                   {test::Layout::Contiguous, test::Layout::Sliced}});
  cases.push_back({"nll_loss mean", {{4, 5}},
                   [](const Xs& x) { return nll_loss(x[0], x[1]); }, test::Inputs::Normal, {},
                   random_targets({4}, 5)});
  cases.push_back({"nll_loss none of log_softmax", {{4, 5}},
                   [](const Xs& x) { return nll_loss(log_softmax(x[0], 1), x[1], Reduction::None); },
                   test::Inputs::Normal, {}, random_targets({4}, 5)});
  test::check_op_cases(cases);
}

TEST_CASE("cross_entropy: errors") {
  Tensor z = zeros({4, 5});
  Tensor t = labels({0, 1, 2, 3}, {4});
  CHECK_THROWS_WITH_AS(cross_entropy(z, t.to(DType::Float32)),
                       doctest::Contains("cross_entropy: target must hold int64 class indices, "
                                         "got float32[4]"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(z, labels({0, 1, 5, 3}, {4})),
                       doctest::Contains("cross_entropy: target value 5 at index [2] is out of "
                                         "range for 5 classes"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3, 2}), labels({0, 1, -1, 0}, {2, 2})),
                       doctest::Contains("cross_entropy: target value -1 at index [1, 0]"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(z, labels({0, 1, 2}, {3})),
                       doctest::Contains("cross_entropy: target int64[3] does not match "
                                         "logits float32[4, 5]"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3, 4}), labels({0, 1}, {2})),
                       doctest::Contains("expected target shape [2, 4]"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(z, t, Reduction::Mean, -0.1),
                       doctest::Contains("cross_entropy: label_smoothing must lie in [0, 1], "
                                         "got -0.1"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(z, t, Reduction::Mean, 1.5),
                       doctest::Contains("cross_entropy: label_smoothing must lie in [0, 1]"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(z, t, Reduction::Mean, std::nan("")),
                       doctest::Contains("cross_entropy: label_smoothing must lie in [0, 1]"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({0, 5}), labels({}, {0})),
                       doctest::Contains("cross_entropy: the mean over an empty target"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(labels({0, 1}, {1, 2}), labels({0}, {1})),
                       doctest::Contains("cross_entropy: expected a float32 or float64 tensor"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(scalar_tensor(1.0), labels({0}, {1})),
                       doctest::Contains("cross_entropy: logits float32[] has no class "
                                         "axis"),
                       Error);
  CHECK_THROWS_WITH_AS(nll_loss(z, labels({0, 9, 0, 0}, {4})),
                       doctest::Contains("nll_loss: target value 9 at index [1]"), Error);
}
