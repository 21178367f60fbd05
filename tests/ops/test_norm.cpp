// batch_norm, group_norm and layer_norm: hand-computed values, running statistics after two
// training steps, eval mode, agreement with a composite of mean/var ops (values and gradients)
// on [N, C], [N, C, L] and [N, C, H, W], PyTorch fixtures (outputs, gradients, running stats),
// float32 accuracy, the multithreaded path, gradient checks in four layouts, and errors.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>

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
using Vec = std::vector<double>;

Vec v(const Tensor& t) { return t.to_vector<double>(); }
Tensor f64(const Vec& values, const Shape& shape) {
  return from_values(values, shape, DType::Float64);
}

void check_values(const Tensor& t, const Vec& expected, double tol = 1e-14) {
  const Vec got = v(t);
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == doctest::Approx(expected[i]).epsilon(tol));
  }
}

// The optional parameter i of a fixture or gradcheck case.
Tensor opt(const Xs& x, size_t i) { return i < x.size() ? x[i] : Tensor(); }

// [C] -> [1, C, 1, ...] for broadcasting against an [N, C, *] tensor of `ndim` dims.
Tensor per_channel(const Tensor& p, int64_t ndim) {
  Shape s(size_t(ndim), 1);
  s[1] = p.numel();
  return p.reshape(s);
}

// Composite references built from mean / var (biased) / sqrt, differentiable by autograd.
Tensor normalize(const Tensor& x, const std::vector<int64_t>& dims, double eps) {
  return (x - mean(x, dims, true)) / sqrt(var(x, dims, 0, true) + eps);
}
Tensor affine(const Tensor& xh, const Tensor& w, const Tensor& b, int64_t ndim) {
  return xh * per_channel(w, ndim) + per_channel(b, ndim);
}
Tensor batch_norm_reference(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  std::vector<int64_t> dims = {0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return affine(normalize(x, dims, eps), w, b, x.dim());
}
Tensor group_norm_reference(const Tensor& x, int64_t groups, const Tensor& w, const Tensor& b,
                            double eps) {
  const Tensor grouped = x.reshape({x.size(0), groups, -1});
  return affine(normalize(grouped, {2}, eps).reshape(x.shape()), w, b, x.dim());
}

// Output and input gradients of f on fresh leaves holding `values`, under upstream g.
struct Run {
  Tensor y;
  Xs grads;
};
Run run(const std::function<Tensor(const Xs&)>& f, const Xs& values, const Tensor& g) {
  Xs leaves;
  for (const Tensor& t : values) leaves.push_back(t.detach().clone().set_requires_grad());
  Run r{f(leaves), {}};
  r.y.backward(g);
  for (const Tensor& l : leaves) r.grads.push_back(l.grad());
  r.y = r.y.detach();
  return r;
}

void check_same_run(const Run& a, const Run& b, double tol) {
  CHECK(max_diff(a.y, b.y) <= tol);
  REQUIRE(a.grads.size() == b.grads.size());
  for (size_t i = 0; i < a.grads.size(); ++i) {
    CAPTURE(i);
    CHECK(max_diff(a.grads[i], b.grads[i]) <= tol);
  }
}
}  // namespace

TEST_CASE("batch_norm: hand-computed values in training, statistics over N") {
  // Channel 0 holds {0, 0, 2, 2} (mean 1, biased var 1), channel 1 {-4, 4, -4, 4} (mean 0,
  // var 16): with eps = 0, x^ is +-1 exactly.
  Tensor x = f64({0, -4, 0, 4, 2, -4, 2, 4}, {4, 2}).set_requires_grad();
  Tensor w = f64({2, 0.5}, {2}).set_requires_grad(), b = f64({1, -1}, {2}).set_requires_grad();
  Tensor y = batch_norm(x, Tensor(), Tensor(), w, b, true, 0.1, 0.0);
  CHECK(v(y) == Vec{-1, -1.5, -1, -0.5, 3, -1.5, 3, -0.5});
  CHECK(y.grad_fn()->name() == "BatchNormBackward");
  // A uniform upstream gradient: the output is invariant to shifts of x, so dx = 0, and
  // dweight = sum x^ = 0, dbias = N.
  y.backward(ones({4, 2}, DType::Float64));
  CHECK(max_diff(x.grad(), zeros({4, 2}, DType::Float64)) < 1e-15);
  CHECK(v(w.grad()) == Vec{0, 0});
  CHECK(v(b.grad()) == Vec{4, 4});
  // The default eps = 1e-5 enters under the square root.
  const Vec y_eps = v(batch_norm(x.detach(), Tensor(), Tensor(), Tensor(), Tensor(), true));
  CHECK(y_eps[0] == doctest::Approx(-1 / std::sqrt(1 + 1e-5)).epsilon(1e-15));
  CHECK(y_eps[1] == doctest::Approx(-4 / std::sqrt(16 + 1e-5)).epsilon(1e-15));
}

TEST_CASE("batch_norm: running statistics after two training steps (unbiased variance)") {
  // x[n][c][l], N = 2, C = 2, L = 2: channel 0 holds {1, 2, 3, 4} (mean 2.5, sum of squared
  // deviations 5, unbiased var 5/3), channel 1 {0, 2, 4, 6} (mean 3, 20, 20/3). The second
  // batch is 2x: means 5 and 6, unbiased vars 20/3 and 80/3.
  const Tensor x1 = f64({1, 2, 0, 2, 3, 4, 4, 6}, {2, 2, 2});
  const Tensor x2 = x1 * 2.0;
  for (double m : {0.1, 0.01}) {
    CAPTURE(m);
    for (DType dtype : {DType::Float64, DType::Float32}) {
      const double tol = dtype == DType::Float64 ? 1e-15 : 1e-6;
      Tensor rm = zeros({2}, dtype), rv = ones({2}, dtype);
      batch_norm(x1.to(dtype), rm, rv, Tensor(), Tensor(), true, m);
      const double rv1_0 = (1 - m) * 1 + m * 5.0 / 3, rv1_1 = (1 - m) * 1 + m * 20.0 / 3;
      check_values(rm, {m * 2.5, m * 3}, tol);
      check_values(rv, {rv1_0, rv1_1}, tol);
      batch_norm(x2.to(dtype), rm, rv, Tensor(), Tensor(), true, m);
      const Vec rm2 = {(1 - m) * m * 2.5 + m * 5, (1 - m) * m * 3 + m * 6};
      const Vec rv2 = {(1 - m) * rv1_0 + m * 20.0 / 3, (1 - m) * rv1_1 + m * 80.0 / 3};
      check_values(rm, rm2, tol);
      check_values(rv, rv2, tol);
      // Eval now normalises with exactly these statistics.
      const Tensor y = batch_norm(x1.to(dtype), rm, rv, Tensor(), Tensor(), false);
      const Vec xs = v(x1), ys = v(y);
      for (size_t i = 0; i < xs.size(); ++i) {
        const size_t c = (i / 2) % 2;
        CHECK(ys[i] == doctest::Approx((xs[i] - rm2[c]) / std::sqrt(rv2[c] + 1e-5))
                           .epsilon(dtype == DType::Float64 ? 1e-14 : 1e-5));
      }
    }
  }
  // Only the running stats that are defined are updated; none at all is fine too.
  Tensor rm = zeros({2}, DType::Float64);
  batch_norm(x1, rm, Tensor(), Tensor(), Tensor(), true);
  check_values(rm, {0.25, 0.3});
  CHECK(v(batch_norm(x1, Tensor(), Tensor(), Tensor(), Tensor(), true)) ==
        v(batch_norm(x1, zeros({2}, DType::Float64), ones({2}, DType::Float64), Tensor(), Tensor(),
                     true)));
}

TEST_CASE("batch_norm: eval uses the running statistics and the affine backward") {
  // eps = 0 and running_var 4 / 0.25 give rstd 0.5 / 2 exactly.
  const Tensor rm = f64({1, -1}, {2}), rv = f64({4, 0.25}, {2});
  Tensor x = f64({3, -1, 5, 0, -1, -2}, {3, 2}).set_requires_grad();
  Tensor w = f64({2, 3}, {2}).set_requires_grad(), b = f64({0.5, 1}, {2}).set_requires_grad();
  Tensor y = batch_norm(x, rm, rv, w, b, false, 0.1, 0.0);
  // x^ = (x - rm) * rstd: {1, 0, 2, 2, -1, -2}
  CHECK(v(y) == Vec{2.5, 1, 4.5, 7, -1.5, -5});
  y.backward(f64({1, 2, 3, 4, 5, 6}, {3, 2}));
  CHECK(v(x.grad()) == Vec{1, 12, 3, 24, 5, 36});  // g * w * rstd
  CHECK(v(w.grad()) == Vec{1 * 1 + 3 * 2 + 5 * -1, 2 * 0 + 4 * 2 + 6 * -2});
  CHECK(v(b.grad()) == Vec{9, 12});
  // Running stats are left alone, and the batch's own statistics play no part: one sample is
  // normalised like the same sample inside a batch.
  CHECK(v(rm) == Vec{1, -1});
  CHECK(v(rv) == Vec{4, 0.25});
  CHECK(v(batch_norm(x.detach().narrow(0, 1, 1), rm, rv, w, b, false, 0.1, 0.0)) == Vec{4.5, 7});
}

TEST_CASE("batch_norm: [N, C], [N, C, L] and [N, C, H, W] agree with mean/var composites") {
  Generator gen(11);
  for (const Shape& shape : {Shape{5, 3}, Shape{4, 3, 6}, Shape{2, 3, 4, 5}}) {
    const std::string s = shape_str(shape);
    CAPTURE(s);
    const Tensor x = randn(shape, DType::Float64, &gen) * 3.0 + 1.0;
    const Tensor w = randn({3}, DType::Float64, &gen), b = randn({3}, DType::Float64, &gen);
    const Tensor g = randn(shape, DType::Float64, &gen);
    const Run fused =
        run([](const Xs& t) { return batch_norm(t[0], Tensor(), Tensor(), t[1], t[2], true); },
            {x, w, b}, g);
    const Run composite =
        run([](const Xs& t) { return batch_norm_reference(t[0], t[1], t[2], 1e-5); }, {x, w, b}, g);
    check_same_run(fused, composite, 1e-13);
    // A non-contiguous input (reversed strides) gives the same values.
    std::vector<int64_t> rev;
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) rev.push_back(d);
    const Tensor x_rev = x.permute(rev).contiguous().permute(rev);
    REQUIRE(!x_rev.is_contiguous());
    CHECK(max_diff(batch_norm(x_rev, Tensor(), Tensor(), w, b, true), fused.y) == 0);
    // Eval against (x - rm) / sqrt(rv + eps) * w + b.
    const Tensor rm = randn({3}, DType::Float64, &gen), rv = rand({3}, DType::Float64, &gen) + 0.5;
    const Tensor expected = affine(
        (x - per_channel(rm, x.dim())) / sqrt(per_channel(rv, x.dim()) + 1e-5), w, b, x.dim());
    CHECK(max_diff(batch_norm(x, rm, rv, w, b, false), expected) < 1e-14);
  }
}

TEST_CASE("batch_norm: one value per channel is an error in training only (spec 0.1)") {
  // The SK fuse layer and AFF's global branch apply BN to [N, C, 1, 1]: it normalises over N.
  const Tensor x = f64({1, 2, 3}, {1, 3, 1, 1});
  CHECK_THROWS_WITH_AS(
      batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true),
      "batch_norm: expected more than 1 value per channel when training, got input of shape "
      "[1, 3, 1, 1]",
      Error);
  CHECK_THROWS_WITH_AS(
      batch_norm(f64({1, 2}, {1, 2}), Tensor(), Tensor(), Tensor(), Tensor(), true),
      doctest::Contains("more than 1 value per channel"), Error);
  const Tensor rm = zeros({3}, DType::Float64), rv = ones({3}, DType::Float64);
  CHECK(max_diff(batch_norm(x, rm, rv, Tensor(), Tensor(), false), x / std::sqrt(1 + 1e-5)) <
        1e-15);
  // N = 2 is enough; N = 1 with a spatial extent too.
  const Tensor two = f64({1, 2, 3, 5, 4, 1}, {2, 3, 1, 1});
  check_values(batch_norm(two, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 0.0),
               {-1, -1, 1, 1, 1, -1});
  CHECK(batch_norm(f64({1, 2}, {1, 1, 2}), Tensor(), Tensor(), Tensor(), Tensor(), true).shape() ==
        Shape{1, 1, 2});
}

TEST_CASE("batch_norm: float32 accumulates its statistics in double") {
  // 65536 values per channel around 100: float32 running sums would be off by far more than
  // the tolerance; float32 in, double sums, gives the float64 result to float precision.
  Generator gen(5);
  const Tensor x = (randn({64, 2, 32, 32}, DType::Float64, &gen) + 100.0).to(DType::Float32);
  const Tensor g = randn({64, 2, 32, 32}, DType::Float32, &gen);
  const Tensor w = f64({1.5, -0.5}, {2}), b = f64({0.1, 0.2}, {2});
  auto f = [](const Xs& t) { return batch_norm(t[0], Tensor(), Tensor(), t[1], t[2], true); };
  const Run r32 = run(f, {x, w.to(DType::Float32), b.to(DType::Float32)}, g);
  const Run r64 = run(f, {x.to(DType::Float64), w, b}, g.to(DType::Float64));
  CHECK(max_diff(r32.y, r64.y) < 1e-5);
  CHECK(max_diff(r32.grads[0], r64.grads[0]) < 1e-5);
  // dweight and dbias sum 65536 terms of size ~1, so they are ~256 (sqrt of the count); the
  // float32 run's x^ uses the mean rounded to float32 (up to 4e-6 off), hence 1e-5 of that.
  for (size_t i : {size_t(1), size_t(2)}) {
    const Vec a = v(r32.grads[i]), e = v(r64.grads[i]);
    for (size_t c = 0; c < 2; ++c) CHECK(std::abs(a[c] - e[c]) < 1e-5 * 256);
  }
  Tensor rm = zeros({2}), rv = ones({2});
  batch_norm(x, rm, rv, Tensor(), Tensor(), true, 1.0);
  CHECK(v(rm)[0] == doctest::Approx(v(mean(x.to(DType::Float64), {0, 2, 3}))[0]).epsilon(1e-7));
}

TEST_CASE("group_norm: hand-computed values") {
  // Group 0 = channels 0, 1 = {0, 0, 2, 2} (x^ = -1, -1, 1, 1); group 1 = channels 2, 3 =
  // {1, 5, 1, 5} (mean 3, var 4; x^ = -1, 1, -1, 1). eps = 0.
  Tensor x = f64({0, 0, 2, 2, 1, 5, 1, 5}, {1, 4, 2});
  const Tensor w = f64({1, 2, 3, 4}, {4}), b = f64({0, 0.5, -1, 1}, {4});
  CHECK(v(group_norm(x, 2, w, b, 0.0)) == Vec{-1, -1, 2.5, 2.5, -4, 2, -3, 5});
  CHECK(v(group_norm(x, 2, Tensor(), Tensor(), 0.0)) == Vec{-1, -1, 1, 1, -1, 1, -1, 1});
  // Each sample has its own statistics: a second sample of 10x the values normalises alike.
  const Tensor two = cat({x, x * 10.0}, 0);
  check_values(group_norm(two, 2, w, b, 0.0),
               {-1, -1, 2.5, 2.5, -4, 2, -3, 5, -1, -1, 2.5, 2.5, -4, 2, -3, 5});
  Tensor leaf = x.detach().set_requires_grad();
  CHECK(group_norm(leaf, 2, w, b).grad_fn()->name() == "GroupNormBackward");
}

TEST_CASE("group_norm: groups 1, 2 and C agree with composites, group_norm(1) with layer_norm") {
  Generator gen(13);
  for (const Shape& shape : {Shape{3, 4}, Shape{2, 4, 5}, Shape{2, 4, 3, 2}}) {
    const std::string s = shape_str(shape);
    CAPTURE(s);
    const Tensor x = randn(shape, DType::Float64, &gen) * 2.0 - 1.0;
    const Tensor w = randn({4}, DType::Float64, &gen), b = randn({4}, DType::Float64, &gen);
    const Tensor g = randn(shape, DType::Float64, &gen);
    for (int64_t groups : {1, 2, 4}) {
      CAPTURE(groups);
      const Run fused =
          run([groups](const Xs& t) { return group_norm(t[0], groups, t[1], t[2]); }, {x, w, b}, g);
      const Run composite = run(
          [groups](const Xs& t) { return group_norm_reference(t[0], groups, t[1], t[2], 1e-5); },
          {x, w, b}, g);
      check_same_run(fused, composite, 1e-13);
    }
    // groups == 1 without affine is layer_norm over everything but N.
    const Shape rest(shape.begin() + 1, shape.end());
    CHECK(max_diff(group_norm(x, 1, Tensor(), Tensor()), layer_norm(x, rest, Tensor(), Tensor())) <
          1e-15);
  }
}

TEST_CASE("layer_norm: hand-computed values") {
  // Row 0 {0, 0, 2, 2}: x^ = -1, -1, 1, 1; row 1 {1, 5, 1, 5}: x^ = -1, 1, -1, 1. eps = 0.
  Tensor x = f64({0, 0, 2, 2, 1, 5, 1, 5}, {2, 4});
  const Tensor w = f64({1, 2, 3, 4}, {4}), b = f64({0, 0, 0, 1}, {4});
  CHECK(v(layer_norm(x, {4}, w, b, 0.0)) == Vec{-1, -2, 3, 5, -1, 2, -3, 5});
  // Over the last two dims of [1, 2, 4]: one group of 8 with mean 2, var 28 / 8.
  const Vec y = v(layer_norm(x.reshape({1, 2, 4}), {2, 4}, Tensor(), Tensor(), 0.0));
  CHECK(y[0] == doctest::Approx(-2 / std::sqrt(3.5)).epsilon(1e-15));
  CHECK(y[5] == doctest::Approx(3 / std::sqrt(3.5)).epsilon(1e-15));
  // eps = 1e-6 (timm's ViT) enters under the square root.
  CHECK(v(layer_norm(x, {4}, Tensor(), Tensor(), 1e-6))[0] ==
        doctest::Approx(-1 / std::sqrt(1 + 1e-6)).epsilon(1e-15));
  Tensor leaf = x.detach().set_requires_grad();
  CHECK(layer_norm(leaf, {4}, w, b).grad_fn()->name() == "LayerNormBackward");
}

TEST_CASE("layer_norm: last dim and last two dims agree with mean/var composites") {
  Generator gen(17);
  const Shape shape{2, 3, 4};
  const Tensor x = randn(shape, DType::Float64, &gen) + 0.5;
  const Tensor g = randn(shape, DType::Float64, &gen);
  for (const Shape& ns : {Shape{4}, Shape{3, 4}, Shape{2, 3, 4}}) {
    const std::string s = shape_str(ns);
    CAPTURE(s);
    const Tensor w = randn(ns, DType::Float64, &gen), b = randn(ns, DType::Float64, &gen);
    std::vector<int64_t> dims;
    for (int64_t d = 3 - int64_t(ns.size()); d < 3; ++d) dims.push_back(d);
    const Run fused =
        run([&](const Xs& t) { return layer_norm(t[0], ns, t[1], t[2]); }, {x, w, b}, g);
    const Run composite =
        run([&](const Xs& t) { return normalize(t[0], dims, 1e-5) * t[1] + t[2]; }, {x, w, b}, g);
    check_same_run(fused, composite, 1e-13);
  }
}

TEST_CASE("norm: matches PyTorch fixtures (values, gradients and running stats, 1e-10)") {
  auto num = [](const FixtureCase& c, const char* key) { return c.args.at(key).get<double>(); };
  test::check_fixtures(
      "norm", {
                  {"batch_norm",
                   [&](const FixtureCase& c, const Xs& x) {
                     Tensor rm = test::fixture_tensor(c.args.at("running_mean"));
                     Tensor rv = test::fixture_tensor(c.args.at("running_var"));
                     Tensor y = batch_norm(x[0], rm, rv, opt(x, 1), opt(x, 2),
                                           c.args.at("training").get<bool>(), num(c, "momentum"),
                                           num(c, "eps"));
                     test::check_close(rm, test::fixture_tensor(c.args.at("running_mean_after")),
                                       1e-10, c.name + ": running_mean");
                     test::check_close(rv, test::fixture_tensor(c.args.at("running_var_after")),
                                       1e-10, c.name + ": running_var");
                     return y;
                   }},
                  {"group_norm",
                   [&](const FixtureCase& c, const Xs& x) {
                     return group_norm(x[0], c.args.at("groups").get<int64_t>(), opt(x, 1),
                                       opt(x, 2), num(c, "eps"));
                   }},
                  {"layer_norm",
                   [&](const FixtureCase& c, const Xs& x) {
                     return layer_norm(x[0], c.args.at("normalized_shape").get<Shape>(), opt(x, 1),
                                       opt(x, 2), num(c, "eps"));
                   }},
              });
}

TEST_CASE("norm: gradients only for the inputs that need them") {
  Generator gen(19);
  Tensor x = randn({3, 2, 4}, DType::Float64, &gen);
  Tensor w = randn({2}, DType::Float64, &gen).set_requires_grad();
  Tensor b = randn({2}, DType::Float64, &gen);
  for (int op = 0; op < 3; ++op) {
    CAPTURE(op);
    w.set_grad(Tensor());
    const Tensor y = op == 0   ? batch_norm(x, Tensor(), Tensor(), w, b, true)
                     : op == 1 ? group_norm(x, 2, w, b)
                               : layer_norm(x.transpose(1, 2), {2}, w, b);
    y.backward(ones_like(y));
    CHECK(w.grad().defined());
    CHECK(!x.grad().defined());
    CHECK(!b.grad().defined());
  }
  // No input requires grad: nothing is recorded.
  CHECK(batch_norm(x, Tensor(), Tensor(), Tensor(), b, true).grad_fn() == nullptr);
  // The saved input is checked against in-place changes before backward.
  Tensor leaf = randn({3, 2}, DType::Float64, &gen).set_requires_grad();
  Tensor h = leaf * 1.0;
  Tensor y = batch_norm(h, Tensor(), Tensor(), Tensor(), Tensor(), true);
  {
    NoGradGuard no_grad;
    h.mul_(2.0);
  }
  CHECK_THROWS_WITH_AS(y.backward(ones_like(y)), doctest::Contains("modified in place"), Error);
}

TEST_CASE("norm: two threads give the same result as one") {
  Generator gen(23);
  const Tensor x4 = randn({8, 64, 16, 16}, DType::Float32, &gen);
  const Tensor g4 = randn({8, 64, 16, 16}, DType::Float32, &gen);
  const Tensor w = randn({64}, DType::Float32, &gen), b = randn({64}, DType::Float32, &gen);
  const Tensor rm = randn({64}, DType::Float32, &gen), rv = rand({64}, DType::Float32, &gen) + 0.5;
  const Tensor x2 = randn({512, 256}, DType::Float32, &gen);
  const Tensor g2 = randn({512, 256}, DType::Float32, &gen);
  const Tensor w2 = randn({256}, DType::Float32, &gen), b2 = randn({256}, DType::Float32, &gen);
  auto threads = [](int n, const std::function<Run()>& body) {
    const int before = get_num_threads();
    set_num_threads(n);
    Run r = body();
    set_num_threads(before);
    return r;
  };
  const std::vector<std::function<Run()>> bodies = {
      [&] {
        return run(
            [](const Xs& t) { return batch_norm(t[0], Tensor(), Tensor(), t[1], t[2], true); },
            {x4, w, b}, g4);
      },
      [&] {
        return run([&](const Xs& t) { return batch_norm(t[0], rm, rv, t[1], t[2], false); },
                   {x4, w, b}, g4);
      },
      [&] {
        return run([](const Xs& t) { return group_norm(t[0], 8, t[1], t[2]); }, {x4, w, b}, g4);
      },
      [&] {
        return run([](const Xs& t) { return layer_norm(t[0], {256}, t[1], t[2]); }, {x2, w2, b2},
                   g2);
      },
  };
  for (size_t i = 0; i < bodies.size(); ++i) {
    CAPTURE(i);
    check_same_run(threads(1, bodies[i]), threads(2, bodies[i]), 0.0);
  }
}

TEST_CASE("norm: empty batches give empty outputs and gradients") {
  const Tensor w = ones({3}, DType::Float64), b = zeros({3}, DType::Float64);
  Tensor x = zeros({0, 3, 4}, DType::Float64).set_requires_grad();
  const std::vector<Tensor> ys = {batch_norm(x, zeros({3}, DType::Float64),
                                             ones({3}, DType::Float64), w, b, false),
                                  group_norm(x, 3, w, b), layer_norm(x, {4}, Tensor(), Tensor())};
  for (const Tensor& y : ys) {
    CHECK(y.shape() == Shape{0, 3, 4});
    y.backward(zeros({0, 3, 4}, DType::Float64));
    CHECK(x.grad().shape() == Shape{0, 3, 4});
  }
  // Training on an empty batch has no statistics to use.
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), w, b, true),
                       doctest::Contains("more than 1 value per channel"), Error);
}

TEST_CASE("gradcheck: batch_norm in training and eval, with and without affine") {
  std::vector<test::OpCase> cases;
  for (const Shape& shape : {Shape{4, 3}, Shape{3, 2, 4}, Shape{2, 3, 2, 3}}) {
    const std::string s = shape_str(shape);
    const int64_t c = shape[1];
    cases.push_back({"batch_norm train " + s, {shape, {c}, {c}}, [](const Xs& x) {
                       return batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], true);
                     }});
    cases.push_back({"batch_norm train no affine " + s, {shape}, [](const Xs& x) {
                       return batch_norm(x[0], Tensor(), Tensor(), Tensor(), Tensor(), true);
                     }});
    // Running stats are constants of the function in eval (and ignored by it in training).
    auto stats = [c] {
      return std::make_pair(arange(0, double(c), 1, DType::Float64) * 0.3 - 0.2,
                            arange(0, double(c), 1, DType::Float64) * 0.5 + 0.7);
    };
    cases.push_back({"batch_norm eval " + s, {shape, {c}, {c}}, [stats](const Xs& x) {
                       auto [rm, rv] = stats();
                       return batch_norm(x[0], rm, rv, x[1], x[2], false);
                     }});
    cases.push_back({"batch_norm eval no affine " + s, {shape}, [stats](const Xs& x) {
                       auto [rm, rv] = stats();
                       return batch_norm(x[0], rm, rv, Tensor(), Tensor(), false);
                     }});
    cases.push_back(
        {"batch_norm train, running stats updated " + s, {shape, {c}}, [stats](const Xs& x) {
           auto [rm, rv] = stats();
           return batch_norm(x[0], rm, rv, x[1], Tensor(), true, 0.01);
         }});
  }
  // Batch statistics sum the gradient to 0 over N: expand along the channels instead.
  for (test::OpCase& c : cases) c.expand_axis = 1;
  test::check_op_cases(cases);
}

TEST_CASE("gradcheck: group_norm with groups 1, 2 and C, with and without affine") {
  std::vector<test::OpCase> cases;
  for (const Shape& shape : {Shape{2, 4, 3}, Shape{2, 4, 2, 3}}) {
    const std::string s = shape_str(shape);
    for (int64_t groups : {1, 2, 4}) {
      const std::string name = "group_norm " + s + " groups " + std::to_string(groups);
      cases.push_back({name, {shape, {4}, {4}}, [groups](const Xs& x) {
                         return group_norm(x[0], groups, x[1], x[2]);
                       }});
      cases.push_back({name + " no affine", {shape}, [groups](const Xs& x) {
                         return group_norm(x[0], groups, Tensor(), Tensor());
                       }});
    }
  }
  cases.push_back({"group_norm [3, 6] groups 3 (no spatial dims)",
                   {{3, 6}, {6}, {6}},
                   [](const Xs& x) { return group_norm(x[0], 3, x[1], x[2]); }});
  test::check_op_cases(cases);
}

TEST_CASE("gradcheck: layer_norm over the last dim and the last two dims") {
  std::vector<test::OpCase> cases;
  for (const Shape& ns : {Shape{4}, Shape{3, 4}}) {
    const std::string s = shape_str(ns);
    cases.push_back({"layer_norm [2, 3, 4] over " + s, {{2, 3, 4}, ns, ns}, [ns](const Xs& x) {
                       return layer_norm(x[0], ns, x[1], x[2]);
                     }});
    cases.push_back({"layer_norm [2, 3, 4] over " + s + " no affine",
                     {{2, 3, 4}},
                     [ns](const Xs& x) { return layer_norm(x[0], ns, Tensor(), Tensor()); }});
    cases.push_back({"layer_norm [2, 3, 4] over " + s + " weight only, eps 1e-6",
                     {{2, 3, 4}, ns},
                     [ns](const Xs& x) { return layer_norm(x[0], ns, x[1], Tensor(), 1e-6); }});
  }
  cases.push_back({"layer_norm [3, 5] over [5]", {{3, 5}, {5}, {5}}, [](const Xs& x) {
                     return layer_norm(x[0], {5}, x[1], x[2]);
                   }});
  test::check_op_cases(cases);
}

TEST_CASE("norm: errors") {
  const Tensor x = zeros({2, 3});
  const Tensor c3 = ones({3}), c4 = ones({4});
  // Wrong ndim.
  CHECK_THROWS_WITH_AS(batch_norm(ones({3}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                       "batch_norm: expected an input of shape [N, C, *] (at least 2 dims), got "
                       "float32[3]",
                       Error);
  CHECK_THROWS_WITH_AS(group_norm(ones({4}), 2, Tensor(), Tensor()),
                       doctest::Contains("group_norm: expected an input of shape [N, C, *]"),
                       Error);
  // Parameter and buffer shapes that do not match C, naming both tensors.
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), c4, Tensor(), true),
                       doctest::Contains("batch_norm: weight float32[4] does not match "
                                         "input float32[2, 3] (expected weight of shape [3]"),
                       Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), c3, ones({1, 3}), true),
                       doctest::Contains("batch_norm: bias float32[1, 3] does not match "
                                         "input float32[2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, c4, c3, Tensor(), Tensor(), true),
                       doctest::Contains("batch_norm: running_mean float32[4] does not "
                                         "match input float32[2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, c3, ones({2}), Tensor(), Tensor(), false),
                       doctest::Contains("batch_norm: running_var float32[2] does not "
                                         "match input float32[2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(group_norm(zeros({2, 4, 3}), 2, ones({3}), Tensor()),
                       doctest::Contains("group_norm: weight float32[3] does not match "
                                         "input float32[2, 4, 3] (expected weight of shape "
                                         "[4]"),
                       Error);
  CHECK_THROWS_WITH_AS(layer_norm(zeros({2, 3, 4}), {3, 4}, Tensor(), ones({4})),
                       doctest::Contains("layer_norm: bias float32[4] does not match input "
                                         "float32[2, 3, 4] (expected bias of shape [3, 4]"),
                       Error);
  // Groups.
  CHECK_THROWS_WITH_AS(group_norm(zeros({2, 6, 4}), 4, Tensor(), Tensor()),
                       "group_norm: the 6 channels of input float32[2, 6, 4] cannot be "
                       "split into 4 groups (C % groups must be 0)",
                       Error);
  CHECK_THROWS_WITH_AS(group_norm(zeros({2, 6, 4}), 0, Tensor(), Tensor()),
                       "group_norm: groups must be positive, got 0", Error);
  // normalized_shape.
  CHECK_THROWS_WITH_AS(layer_norm(zeros({2, 3, 4}), {3}, Tensor(), Tensor()),
                       "layer_norm: normalized_shape [3] does not match the trailing dims of input "
                       "float32[2, 3, 4] (expected an input of shape [*, 3])",
                       Error);
  CHECK_THROWS_WITH_AS(layer_norm(zeros({3, 4}), {2, 3, 4}, Tensor(), Tensor()),
                       doctest::Contains("layer_norm: normalized_shape [2, 3, 4] does not match"),
                       Error);
  CHECK_THROWS_WITH_AS(layer_norm(zeros({3, 4}), {}, Tensor(), Tensor()),
                       doctest::Contains("layer_norm: normalized_shape must name at least one dim"),
                       Error);
  // Eval without running statistics.
  CHECK_THROWS_WITH_AS(batch_norm(x, c3, Tensor(), Tensor(), Tensor(), false),
                       "batch_norm: eval mode (training = false) normalises with running_mean and "
                       "running_var, but running_var is undefined (input float32[2, 3])",
                       Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false),
                       doctest::Contains("but running_mean is undefined"), Error);
  // Dtype mismatches, and inputs that are not floating point.
  const Tensor d3 = ones({3}, DType::Float64);
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), d3, Tensor(), true),
                       "batch_norm: weight float64[3] and input float32[2, 3] have "
                       "different dtypes (convert one with .to(dtype))",
                       Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, c3, d3, Tensor(), Tensor(), false),
                       doctest::Contains("batch_norm: running_var float64[3] and input "
                                         "float32[2, 3] have different dtypes"),
                       Error);
  CHECK_THROWS_WITH_AS(group_norm(zeros({2, 4}), 2, Tensor(), ones({4}, DType::Float64)),
                       doctest::Contains("group_norm: bias float64[4] and input"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, {3}, d3, Tensor()),
                       doctest::Contains("layer_norm: weight float64[3] and input"), Error);
  const Tensor i = from_vector<int64_t>({1, 2, 3, 4}, {2, 2});
  CHECK_THROWS_WITH_AS(batch_norm(i, Tensor(), Tensor(), Tensor(), Tensor(), true),
                       doctest::Contains("batch_norm: expected a float32 or float64 tensor"),
                       Error);
  CHECK_THROWS_WITH_AS(group_norm(i, 1, Tensor(), Tensor()),
                       doctest::Contains("group_norm: expected a float32 or float64 tensor"),
                       Error);
  CHECK_THROWS_WITH_AS(layer_norm(i, {2}, Tensor(), Tensor()),
                       doctest::Contains("layer_norm: expected a float32 or float64 tensor"),
                       Error);
  CHECK_THROWS_WITH_AS(layer_norm(Tensor(), {2}, Tensor(), Tensor()),
                       doctest::Contains("layer_norm: got an undefined tensor"), Error);
  // Running statistics are buffers: one that requires grad cannot be updated in place.
  Tensor rv = ones({3}).set_requires_grad();
  CHECK_THROWS_WITH_AS(batch_norm(x, c3, rv, Tensor(), Tensor(), true),
                       doctest::Contains("batch_norm: running_var float32[3] requires grad"),
                       Error);
}
