// softmax and log_softmax: hand-computed values, agreement with a composite of exp/sum on
// every axis, PyTorch fixtures, -inf and large-magnitude inputs, the multithreaded path,
// gradient checks on every axis in four layouts, and errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <tuple>

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
}  // namespace

TEST_CASE("softmax: hand-computed values") {
  // softmax(0, log 2, log 3) = (1, 2, 3) / 6
  Tensor x = from_values({0, std::log(2.0), std::log(3.0)}, {3}, DType::Float64);
  const std::vector<double> p = values(softmax(x, 0));
  CHECK(p[0] == doctest::Approx(1.0 / 6).epsilon(1e-14));
  CHECK(p[1] == doctest::Approx(2.0 / 6).epsilon(1e-14));
  CHECK(p[2] == doctest::Approx(3.0 / 6).epsilon(1e-14));
  const std::vector<double> lp = values(log_softmax(x, -1));
  CHECK(lp[0] == doctest::Approx(-std::log(6.0)).epsilon(1e-14));
  CHECK(lp[2] == doctest::Approx(std::log(0.5)).epsilon(1e-14));
  // Equal logits: uniform, whatever their value.
  Tensor u = full({2, 4}, 7.5, DType::Float32);
  CHECK(values(softmax(u, 1)) == std::vector<double>(8, 0.25));
  CHECK(values(softmax(u, 0)) == std::vector<double>(8, 0.5));
  CHECK(softmax(x, 0).grad_fn() == nullptr);
  x.set_requires_grad();
  CHECK(softmax(x, 0).grad_fn()->name() == "SoftmaxBackward");
  CHECK(log_softmax(x, 0).grad_fn()->name() == "LogSoftmaxBackward");
}

TEST_CASE("softmax: every axis of a 3-d tensor agrees with exp(x) / sum(exp(x))") {
  Generator gen(7);
  // [3, 5, 70]: lines 70 apart span several column blocks of the kernel, the last one partial.
  for (const Shape& shape : {Shape{3, 4, 5}, Shape{3, 5, 70}}) {
    const Tensor x = randn(shape, DType::Float64, &gen);
    // The same values with reversed strides: a non-contiguous input.
    const Tensor xt = x.permute({2, 1, 0}).contiguous().permute({2, 1, 0});
    REQUIRE(!xt.is_contiguous());
    for (int64_t dim : {0, 1, 2, -1, -2, -3}) {
      const std::string shape_s = shape_str(shape);
      CAPTURE(shape_s);
      CAPTURE(dim);
      const Tensor y = softmax(x, dim);
      const Tensor reference = exp(x) / sum(exp(x), {dim}, true);
      CHECK(max_diff(y, reference) < 1e-15);
      CHECK(max_diff(sum(y, {dim}), ones(sum(y, {dim}).shape(), DType::Float64)) < 1e-15);
      CHECK(max_diff(log_softmax(x, dim), log(reference)) < 1e-14);
      CHECK(max_diff(softmax(xt, dim), y) == 0);
      CHECK(max_diff(log_softmax(xt, dim), log_softmax(x, dim)) == 0);
      // float32 runs the same kernels with double sums.
      CHECK(max_diff(softmax(x.to(DType::Float32), dim), y) < 3e-7);
      CHECK(max_diff(log_softmax(x.to(DType::Float32), dim), log_softmax(x, dim)) < 2e-6);
    }
  }
}

TEST_CASE("softmax: matches PyTorch fixtures (values and gradients, 1e-10)") {
  auto dim = [](const FixtureCase& c) { return c.args.at("dim").get<int64_t>(); };
  test::check_fixtures("softmax", {
      {"softmax", [&](const FixtureCase& c, const Xs& x) { return softmax(x[0], dim(c)); }},
      {"log_softmax",
       [&](const FixtureCase& c, const Xs& x) { return log_softmax(x[0], dim(c)); }},
  });
}

TEST_CASE("softmax: -inf entries, as PyTorch treats them") {
  // Row 0 is entirely -inf (NaN), row 1 has one -inf (probability 0 there).
  Tensor x = from_values({-kInf, -kInf, -kInf, -kInf, 0, 0}, {2, 3}, DType::Float64)
                 .set_requires_grad();
  Tensor y = softmax(x, 1);
  Tensor ly = log_softmax(x, 1);
  for (int64_t k = 0; k < 3; ++k) {
    CHECK(std::isnan(y.at({0, k})));
    CHECK(std::isnan(ly.at({0, k})));
  }
  CHECK(values(y.select(0, 1)) == std::vector<double>{0, 0.5, 0.5});
  CHECK(ly.at({1, 0}) == -kInf);
  CHECK(ly.at({1, 1}) == doctest::Approx(std::log(0.5)));
  sum(y.select(0, 1) * from_values({1, 2, 3}, {3}, DType::Float64)).backward();
  // dx = y * (g - sum(g y)): 0 at the -inf entry, +-0.25 elsewhere; the NaN row stays NaN
  // even under a zero upstream gradient, as in PyTorch.
  CHECK(values(x.grad().select(0, 1)) == std::vector<double>{0, -0.25, 0.25});
  for (int64_t k = 0; k < 3; ++k) CHECK(std::isnan(x.grad().at({0, k})));
}

TEST_CASE("softmax: long float32 lines (8 lanes and a tail) with -inf and NaN entries") {
  // 19 elements: two lanes' worth of 8 and a tail of 3. Row 0 has -inf in a lane and in the
  // tail, row 1 a NaN in the tail (the whole line is NaN), row 2 only -inf (NaN, as above).
  std::vector<double> v(3 * 19);
  for (int64_t k = 0; k < 19; ++k) v[size_t(k)] = v[size_t(19 + k)] = 0.1 * double(k);
  v[3] = v[17] = -kInf;
  v[19 + 18] = std::nan("");
  for (int64_t k = 0; k < 19; ++k) v[size_t(38 + k)] = -kInf;
  const Tensor x32 = from_values(v, {3, 19}, DType::Float32);
  const Tensor x64 = from_values(v, {3, 19}, DType::Float64);
  for (const auto& results :
       {std::tuple{"softmax", softmax(x32, 1), softmax(x64, 1)},
        std::tuple{"log_softmax", log_softmax(x32, 1), log_softmax(x64, 1)}}) {
    const char* name = std::get<0>(results);
    const Tensor& y32 = std::get<1>(results);
    const Tensor& y64 = std::get<2>(results);
    CAPTURE(name);
    for (int64_t k = 0; k < 19; ++k) {
      CAPTURE(k);
      const double a = y32.at({0, k}), b = y64.at({0, k});
      if (std::isinf(b)) CHECK(a == b);
      else CHECK(a == doctest::Approx(b).epsilon(1e-6));
      CHECK(std::isnan(y32.at({1, k})));
      CHECK(std::isnan(y32.at({2, k})));
    }
  }
  CHECK(softmax(x32, 1).at({0, 3}) == 0);
  CHECK(softmax(x32, 1).at({0, 17}) == 0);
}

TEST_CASE("softmax: logits of +-1000 stay finite in float32 and float64") {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const std::string dtype_str = dtype_name(dtype);
    CAPTURE(dtype_str);
    Tensor x = from_values({1000, 1000, -1000, 1000, -1000, 0}, {2, 3}, dtype);
    const std::vector<double> y = values(softmax(x, 1));
    CHECK(y == std::vector<double>{0.5, 0.5, 0, 1, 0, 0});
    const std::vector<double> ly = values(log_softmax(x, 1));
    CHECK(ly[0] == doctest::Approx(-std::log(2.0)));
    CHECK(ly[2] == doctest::Approx(-2000 - std::log(2.0)));
    CHECK(ly[3] == 0);
    CHECK(ly[4] == -2000);
    CHECK(ly[5] == -1000);
    Tensor leaf = x.detach().set_requires_grad();
    sum(log_softmax(leaf, 0) * 0.5).backward();
    for (double g : values(leaf.grad())) CHECK(std::isfinite(g));
  }
}

TEST_CASE("softmax: 0-d and empty inputs") {
  Tensor s = scalar_tensor(3.0, DType::Float64);
  CHECK(softmax(s, 0).item() == 1);
  CHECK(softmax(s, -1).shape() == Shape{});
  CHECK(log_softmax(s, 0).item() == 0);
  CHECK(softmax(zeros({0, 3}), 1).shape() == Shape{0, 3});
  CHECK(log_softmax(zeros({3, 0}), 1).shape() == Shape{3, 0});
}

TEST_CASE("softmax: two threads give the same result as one") {
  // Large enough for parallel_for to split the work on every axis: rows for the last axis,
  // column blocks (two per outer index for dim 1, one partial) otherwise; forward and backward.
  Generator gen(3);
  Tensor x = randn({9, 301, 45}, DType::Float32, &gen);
  Tensor g = randn({9, 301, 45}, DType::Float32, &gen);
  auto run = [&](int threads, int64_t dim, bool log) {
    const int before = get_num_threads();
    set_num_threads(threads);
    Tensor leaf = x.detach().set_requires_grad();
    Tensor y = log ? log_softmax(leaf, dim) : softmax(leaf, dim);
    y.backward(g);
    set_num_threads(before);
    return std::make_pair(y.detach(), leaf.grad());
  };
  for (int64_t dim : {0, 1, 2}) {
    for (bool log : {false, true}) {
      CAPTURE(dim);
      CAPTURE(log);
      const auto one = run(1, dim, log), two = run(2, dim, log);
      CHECK(max_diff(one.first, two.first) == 0);
      CHECK(max_diff(one.second, two.second) == 0);
    }
  }
}

TEST_CASE("gradcheck: softmax and log_softmax on every axis of a 3-d input") {
  std::vector<test::OpCase> cases;
  for (int64_t dim : {0, 1, 2, -1}) {
    const std::string d = std::to_string(dim);
    cases.push_back({"softmax dim " + d, {{2, 3, 4}},
                     [dim](const Xs& x) { return softmax(x[0], dim); }});
    cases.push_back({"log_softmax dim " + d, {{2, 3, 4}},
                     [dim](const Xs& x) { return log_softmax(x[0], dim); }});
  }
  // Expanding along the softmax axis would make the check vacuous (gradients sum to 0 there).
  for (test::OpCase& c : cases) c.expand_axis = c.name.find("dim 0") != std::string::npos ? 1 : 0;
  cases.push_back({"softmax of scaled logits dim 1", {{3, 5}},
                   [](const Xs& x) { return softmax(x[0] * 4.0, 1); }});
  // No expanded layout: an input constant along either axis makes this composite constant
  // (log_softmax over dim 0, then softmax over dim 1), a check that would compare zeros.
  cases.push_back({.name = "log_softmax then softmax",
                   .shapes = {{3, 4}},
                   .fn = [](const Xs& x) { return softmax(log_softmax(x[0], 0), 1); },
                   .layouts = {test::Layout::Contiguous, test::Layout::Permuted,
                               test::Layout::Sliced}});
  test::check_op_cases(cases);
}

TEST_CASE("softmax: errors") {
  Tensor x = zeros({2, 3});
  CHECK_THROWS_WITH_AS(softmax(x, 2), doctest::Contains("softmax: dim 2 is out of range"),
                       Error);
  CHECK_THROWS_WITH_AS(log_softmax(x, -3),
                       doctest::Contains("log_softmax: dim -3 is out of range"), Error);
  CHECK_THROWS_WITH_AS(softmax(scalar_tensor(1.0), 1),
                       doctest::Contains("softmax: dim 1 is out of range for a 0-d tensor"),
                       Error);
  Tensor i = from_vector<int64_t>({1, 2, 3}, {3});
  CHECK_THROWS_WITH_AS(softmax(i, 0),
                       doctest::Contains("softmax: expected a float32 or float64 tensor"), Error);
  CHECK_THROWS_WITH_AS(log_softmax(i, 0),
                       doctest::Contains("log_softmax: expected a float32 or float64 tensor"),
                       Error);
  CHECK_THROWS_WITH_AS(softmax(Tensor(), 0), doctest::Contains("softmax: got an undefined"),
                       Error);
}
