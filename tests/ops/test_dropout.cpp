// dropout: identity in eval and at p = 0, inverted scaling of the kept elements, statistics of
// the mask over a large tensor, the exact gradient g * mask, reproducibility from a seed,
// p = 1, a gradient check with a fixed mask, and errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "engine/fovea.h"
#include "support/op_check.h"

using namespace fovea;

namespace {
using Xs = std::vector<Tensor>;
using Vec = std::vector<double>;
Vec v(const Tensor& t) { return t.to_vector<double>(); }
}  // namespace

TEST_CASE("dropout: eval and p = 0 return the input itself") {
  Tensor x = randn({3, 4}).set_requires_grad();
  CHECK(dropout(x, 0.5, false).same(x));
  CHECK(dropout(x, 1.0, false).same(x));
  CHECK(dropout(x, 0.0, true).same(x));
}

TEST_CASE("dropout: kept elements are scaled by 1 / (1 - p), the gradient is g * mask exactly") {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (double p : {0.1, 0.5, 0.75}) {
      const std::string dtype_str = dtype_name(dtype);
      CAPTURE(dtype_str);
      CAPTURE(p);
      Generator gen(42);
      // Values in [1, 2): a kept element is never 0, so y != 0 identifies the mask.
      Tensor x = (rand({50, 40}, dtype, &gen) + 1.0).set_requires_grad();
      Tensor y = dropout(x, p, true, &gen);
      CHECK(y.grad_fn()->name() == "DropoutBackward");
      const Tensor g = randn({50, 40}, dtype, &gen);
      y.backward(g);
      const Vec xs = v(x), ys = v(y), gs = v(g), dx = v(x.grad());
      size_t kept = 0;
      for (size_t i = 0; i < xs.size(); ++i) {
        const bool keep = ys[i] != 0;
        kept += keep;
        // The scale and products in the tensor's own precision: exact equality.
        if (dtype == DType::Float32) {
          const float scale = float(1.0 / (1.0 - p));
          CHECK(ys[i] == (keep ? double(float(xs[i]) * scale) : 0.0));
          CHECK(dx[i] == (keep ? double(float(gs[i]) * scale) : 0.0));
        } else {
          const double scale = 1.0 / (1.0 - p);
          CHECK(ys[i] == (keep ? xs[i] * scale : 0.0));
          CHECK(dx[i] == (keep ? gs[i] * scale : 0.0));
        }
      }
      CHECK(kept > 0);
      CHECK(kept < xs.size());
    }
  }
}

TEST_CASE("dropout: over a large tensor the mean is kept and the fraction of zeros is p") {
  const int64_t n = 400000;
  Generator gen(7);
  const Tensor x = rand({n}, DType::Float64, &gen) + 0.5;  // U[0.5, 1.5): E[x^2] = 13/12
  const double mean_x = mean(x).item();
  for (double p : {0.1, 0.5, 0.8}) {
    CAPTURE(p);
    const Tensor y = dropout(x, p, true, &gen);
    const Vec ys = v(y);
    double zeros = 0;
    for (double e : ys) zeros += e == 0;
    // Five standard deviations of each estimate: the fraction is a binomial proportion,
    // mean(y) - mean(x) has variance E[x^2] p / (1 - p) / n.
    const double sd_fraction = std::sqrt(p * (1 - p) / double(n));
    const double sd_mean = std::sqrt(13.0 / 12 * p / (1 - p) / double(n));
    CHECK(std::abs(zeros / double(n) - p) < 5 * sd_fraction);
    CHECK(std::abs(mean(y).item() - mean_x) < 5 * sd_mean);
  }
}

TEST_CASE("dropout: the same seed gives the same mask") {
  const Tensor x = ones({64, 64}, DType::Float64);
  Generator a(123), b(123), c(124);
  const Vec ya = v(dropout(x, 0.5, true, &a));
  CHECK(ya == v(dropout(x, 0.5, true, &b)));
  CHECK(ya != v(dropout(x, 0.5, true, &c)));
  // The generator advances: the next mask from the same generator differs.
  CHECK(ya != v(dropout(x, 0.5, true, &a)));
  // Without a generator, the process-wide one: reproducible through manual_seed.
  manual_seed(99);
  const Vec d1 = v(dropout(x, 0.3, true));
  manual_seed(99);
  CHECK(d1 == v(dropout(x, 0.3, true)));
  // The mask does not depend on the thread count (counter-based draws: element i has its own).
  const int before = get_num_threads();
  set_num_threads(1);
  Generator e(5);
  const Vec one = v(dropout(ones({300, 300}), 0.4, true, &e));
  set_num_threads(2);
  Generator f(5);
  const Vec two = v(dropout(ones({300, 300}), 0.4, true, &f));
  set_num_threads(before);
  CHECK(one == two);
}

TEST_CASE("dropout: p = 1 gives zeros and a zero gradient") {
  Tensor x = randn({4, 5}, DType::Float64).set_requires_grad();
  Tensor y = dropout(x, 1.0, true);
  CHECK(v(y) == Vec(20, 0.0));
  y.backward(ones_like(y));
  CHECK(v(x.grad()) == Vec(20, 0.0));
}

TEST_CASE("gradcheck: dropout with a fixed mask") {
  // A generator seeded inside the function gives every evaluation the same mask.
  test::check_op_cases({
      {"dropout p 0.3",
       {{3, 4, 5}},
       [](const Xs& x) {
         Generator gen(31);
         return dropout(x[0], 0.3, true, &gen);
       }},
      {"dropout p 0.5 after a product",
       {{4, 6}, {4, 6}},
       [](const Xs& x) {
         Generator gen(32);
         return dropout(x[0] * x[1], 0.5, true, &gen);
       }},
  });
}

TEST_CASE("dropout: errors") {
  const Tensor x = zeros({2, 3});
  for (double p : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    CHECK_THROWS_WITH_AS(dropout(x, p, true),
                         doctest::Contains("dropout: probability p must lie in [0, 1], got"),
                         Error);
    CHECK_THROWS_WITH_AS(dropout(x, p, false), doctest::Contains("dropout: probability p"), Error);
  }
  CHECK_THROWS_WITH_AS(dropout(x, 2, true),
                       "dropout: probability p must lie in [0, 1], got 2 (input float32[2, 3])",
                       Error);
  CHECK_THROWS_WITH_AS(dropout(from_vector<int64_t>({1, 2}, {2}), 0.5, true),
                       doctest::Contains("dropout: expected a float32 or float64 tensor"), Error);
  CHECK_THROWS_WITH_AS(dropout(Tensor(), 0.5, true),
                       doctest::Contains("dropout: got an undefined tensor"), Error);
}
