// Reductions beyond sum/mean: amax/amin, max/min/argmax/argmin, var/stddev, logsumexp, norm.
// Values against hand-computed cases and a naive reference over many dim sets and layouts;
// first-index tie-breaking and NaN propagation, including across the split-row parallel path;
// gradient checks (float64, four input layouts) for every op over single, multiple, all,
// negative and keepdim dims; one error check per class of bad input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "engine/cpu/reduce.h"
#include "engine/fovea.h"
#include "support/op_check.h"

using namespace fovea;
using fovea::test::Inputs;

namespace {
using Xs = std::vector<Tensor>;
using Vec = std::vector<double>;
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

Vec v(const Tensor& t) { return t.to_vector<double>(); }
std::vector<int64_t> iv(const Tensor& t) { return t.to_vector<int64_t>(); }

// Gradient of sum(f(x) * w) wrt x for a fresh leaf holding `values`, w = 1, 2, 3, ...
Vec grad_of(const Vec& values, const Shape& shape, const std::function<Tensor(Tensor)>& f,
            DType dtype = DType::Float64) {
  Tensor x = from_values(values, shape, dtype).set_requires_grad();
  Tensor y = f(x);
  Tensor w = arange(1, double(y.numel()) + 1, 1, dtype).reshape(y.shape());
  sum(y * w).backward();
  return v(x.grad());
}

// The slices of x reduced over `dims` (normalised), each in row-major order of the slice,
// listed in row-major order of the kept dims: what every reduction is defined on.
std::vector<Vec> slices(const Tensor& x, const std::vector<int64_t>& dims) {
  const Shape& s = x.shape();
  std::vector<int64_t> all = dims;
  if (all.empty())
    for (int64_t d = 0; d < x.dim(); ++d) all.push_back(d);
  int64_t outer = 1;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (std::find(all.begin(), all.end(), d) == all.end()) outer *= s[d];
  std::vector<Vec> out(static_cast<size_t>(outer));
  const Vec flat = v(x);
  for (int64_t k = 0; k < x.numel(); ++k) {
    int64_t rest = k, key = 0, scale = 1;
    for (int64_t d = x.dim() - 1; d >= 0; --d) {
      const int64_t i = rest % s[d];
      rest /= s[d];
      if (std::find(all.begin(), all.end(), d) == all.end()) {
        key += i * scale;
        scale *= s[d];
      }
    }
    out[size_t(key)].push_back(flat[size_t(k)]);
  }
  return out;
}

std::pair<double, int64_t> ref_argmax(const Vec& s, bool is_max) {
  size_t best = 0;
  for (size_t i = 1; i < s.size(); ++i) {
    if (std::isnan(s[best])) break;
    if (std::isnan(s[i]) || (is_max ? s[i] > s[best] : s[i] < s[best])) best = i;
  }
  return {s[best], int64_t(best)};
}
double ref_var(const Vec& s, int64_t correction) {
  double m = 0, q = 0;
  for (double e : s) m += e / double(s.size());
  for (double e : s) q += (e - m) * (e - m);
  return q / double(int64_t(s.size()) - correction);
}
double ref_lse(const Vec& s) {
  double t = 0;
  for (double e : s) t += std::exp(e);
  return std::log(t);
}
double ref_norm(const Vec& s, double p) {
  double t = 0;
  for (double e : s) t = std::isinf(p) ? std::max(t, std::abs(e)) : t + std::pow(std::abs(e), p);
  return std::isinf(p) ? t : std::pow(t, 1 / p);
}

void check_close(const Vec& got, const Vec& want, double rel = 1e-12) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(rel));
}
}  // namespace

TEST_CASE("amax/amin and max/min: values, shapes and first-index ties") {
  Tensor x = from_values({1, 3, 3, 2, 2, 1}, {2, 3}, DType::Float64);
  CHECK(v(amax(x)) == Vec{3});
  CHECK(amax(x).shape() == Shape{});
  CHECK(v(amax(x, {1})) == Vec{3, 2});
  CHECK(v(amin(x, {-1})) == Vec{1, 1});
  CHECK(v(amax(x, {0})) == Vec{2, 3, 3});
  CHECK(amax(x, {0}, true).shape() == Shape{1, 3});
  CHECK(amin(x, {0, 1}, true).shape() == Shape{1, 1});

  MaxResult mx = max(x, 1);
  CHECK(v(mx.values) == Vec{3, 2});
  CHECK(mx.indices.dtype() == DType::Int64);
  CHECK(iv(mx.indices) == std::vector<int64_t>{1, 0});  // ties: first index
  MaxResult mn = min(x, -1, true);
  CHECK(mn.values.shape() == Shape{2, 1});
  CHECK(v(mn.values) == Vec{1, 1});
  CHECK(iv(mn.indices) == std::vector<int64_t>{0, 2});
  CHECK(iv(argmax(x, 0)) == std::vector<int64_t>{1, 0, 0});
  CHECK(iv(argmin(x, 0)) == std::vector<int64_t>{0, 1, 1});
  CHECK(argmax(x, 1, true).shape() == Shape{2, 1});

  // The gradient goes to the first maximum in row-major order of the reduced slice.
  CHECK(grad_of({3, 1, 3}, {3}, [](Tensor t) { return amax(t); }) == Vec{1, 0, 0});
  CHECK(grad_of({1, 3, 3, 2, 2, 1}, {2, 3}, [](Tensor t) { return amax(t, {1}); }) ==
        Vec{0, 1, 0, 2, 0, 0});
  CHECK(grad_of({1, 3, 3, 2, 2, 1}, {2, 3}, [](Tensor t) { return amin(t, {0, 1}); }) ==
        Vec{1, 0, 0, 0, 0, 0});
  CHECK(grad_of({1, 3, 3, 2, 2, 1}, {2, 3}, [](Tensor t) { return max(t, 0).values; }) ==
        Vec{0, 2, 3, 1, 0, 0});
  CHECK(grad_of({1, 3, 3, 2, 2, 1}, {2, 3}, [](Tensor t) { return min(t, 1).values; }) ==
        Vec{1, 0, 0, 0, 0, 2});
  // [2, 2, 2], all ones over dims {0, 2}: each slice's first element is (0, j, 0).
  CHECK(grad_of(Vec(8, 1.0), {2, 2, 2}, [](Tensor t) { return amax(t, {0, 2}); }) ==
        Vec{1, 0, 2, 0, 0, 0, 0, 0});
  // Ties are broken in the LOGICAL order of x, not in memory order: x = base.t() holds its
  // tied maxima at x[0][1] (memory position 2) and x[1][0] (memory position 1).
  Tensor base = from_values({0, 7, 7, 1}, {2, 2}, DType::Float64).set_requires_grad();
  Tensor bt = base.t();
  sum(amax(bt)).backward();
  CHECK(v(base.grad()) == Vec{0, 0, 1, 0});  // x[0][1] = base[1][0]
  CHECK(iv(argmax(bt, 1)) == std::vector<int64_t>{1, 0});
}

TEST_CASE("max-type reductions: NaN wins, at its first position") {
  Tensor x = from_values({1, kNaN, 3, kNaN, 5, 0}, {2, 3}, DType::Float64);
  CHECK(std::isnan(amax(x).item()));
  CHECK(std::isnan(amin(x).item()));
  MaxResult m = max(x, 1);
  CHECK(std::isnan(m.values.at({0})));
  CHECK(std::isnan(m.values.at({1})));
  CHECK(iv(m.indices) == std::vector<int64_t>{1, 0});
  CHECK(iv(argmin(x, 1)) == std::vector<int64_t>{1, 0});
  CHECK(v(amax(x, {0}))[2] == 3);
  CHECK(grad_of({1, kNaN, 3, kNaN}, {4}, [](Tensor t) { return amax(t); }) == Vec{0, 1, 0, 0});
  CHECK(std::isnan(norm(x, kInf).item()));
  CHECK(std::isnan(logsumexp(x, {1}).at({0})));
}

TEST_CASE("max-type reductions: ties and NaN across the split-row parallel path") {
  const int saved = get_num_threads();
  for (int threads : {1, 3, 4}) {
    set_num_threads(threads);
    CAPTURE(threads);
    const int64_t n = 200000;  // > kParallelGrain: few long rows are split across threads
    Tensor x = zeros({2, n}, DType::Float32);
    {
      NoGradGuard ng;
      x.select(0, 0).narrow(0, 150000, 1).fill_(1);
      x.select(0, 0).narrow(0, 190000, 1).fill_(1);
      x.select(0, 1).narrow(0, 180000, 1).fill_(kNaN);
      x.select(0, 1).narrow(0, 120000, 1).fill_(kNaN);
    }
    CHECK(iv(argmax(x, 1)) == std::vector<int64_t>{150000, 120000});
    CHECK(iv(argmin(x, 1)) == std::vector<int64_t>{0, 120000});
    CHECK(amax(x, {1}).at({0}) == 1);
    CHECK(std::isnan(amax(x, {1}).at({1})));
    CHECK(sum(x.select(0, 0)).item() == 2);
    Tensor ones_row = ones({n}, DType::Float64);
    CHECK(var(ones_row).item() == 0);
    CHECK(norm(ones_row).item() == doctest::Approx(std::sqrt(double(n))));
    CHECK(logsumexp(ones_row, {0}).item() == doctest::Approx(1 + std::log(double(n))));
    Tensor g = ones({n}, DType::Float64).set_requires_grad();
    sum(norm(g, kInf)).backward();
    CHECK(g.grad().at({0}) == 1);
    CHECK(sum(g.grad()).item() == 1);
    // Backward kernels split the [outer, inner] block across threads mid-row.
    Tensor r = randn({3, 40001}, DType::Float64).set_requires_grad();
    sum(var(r, {1}) * from_values({1, 2, 3}, {3}, DType::Float64)).backward();
    Tensor want = (r - mean(r, {1}, true)) * (2.0 / 40000) *
                  from_values({1, 2, 3}, {3, 1}, DType::Float64);
    CHECK(amax(abs(r.grad() - want)).item() < 1e-15);
  }
  set_num_threads(saved);
}

TEST_CASE("var and stddev: unbiased and biased against hand values") {
  Tensor x = from_values({1, 2, 3, 4}, {4}, DType::Float64);
  CHECK(var(x).item() == doctest::Approx(5.0 / 3));
  CHECK(var(x, {}, 0).item() == doctest::Approx(1.25));
  CHECK(stddev(x).item() == doctest::Approx(std::sqrt(5.0 / 3)));
  CHECK(stddev(x, {0}, 0).item() == doctest::Approx(std::sqrt(1.25)));
  Tensor m = from_values({1, 2, 3, 4, 2, 2, 2, 8}, {2, 4}, DType::Float64);
  check_close(v(var(m, {1})), {5.0 / 3, 9.0});
  check_close(v(var(m, {0}, 0)), {0.25, 0, 0.25, 4});
  CHECK(var(m, {-1}, 1, true).shape() == Shape{2, 1});
  // float32 far from zero: two passes in double keep the digits.
  Tensor f = from_values({10001, 10002, 10003, 10004}, {4}, DType::Float32);
  CHECK(var(f).item() == doctest::Approx(5.0 / 3).epsilon(1e-6));
  CHECK(var(f).dtype() == DType::Float32);
  // dvar/dx = 2 (x - mean) / (n - 1); dstd = dvar / (2 std).
  check_close(grad_of({1, 2, 3, 4}, {4}, [](Tensor t) { return var(t); }),
              {-1.0, -1.0 / 3, 1.0 / 3, 1.0});
  const double s = std::sqrt(1.25);
  check_close(grad_of({1, 2, 3, 4}, {4}, [](Tensor t) { return stddev(t, {}, 0); }),
              {-0.375 / s, -0.125 / s, 0.125 / s, 0.375 / s});  // (x - mean) / (n std)
  // A constant slice: std 0 and gradient 0 (PyTorch's mask), not nan.
  CHECK(grad_of({3, 3, 3}, {3}, [](Tensor t) { return stddev(t); }) == Vec{0, 0, 0});
}

TEST_CASE("var and stddev: n - correction <= 0 gives inf or nan like PyTorch, no throw") {
  Tensor one = from_values({5}, {1}, DType::Float64).set_requires_grad();
  CHECK(std::isnan(var(one).item()));  // 0 / 0
  Tensor two = from_values({1, 2}, {2}, DType::Float64).set_requires_grad();
  CHECK(var(two, {}, 2).item() == kInf);  // 0.5 / 0
  CHECK(stddev(two, {}, 3).item() == kInf);
  sum(var(two, {}, 2)).backward();
  CHECK(std::isinf(two.grad().at({0})));
}

TEST_CASE("logsumexp: values, stability and infinities") {
  Tensor x = from_values({1, 2, 3}, {3}, DType::Float64);
  CHECK(logsumexp(x, {0}).item() == doctest::Approx(std::log(std::exp(1) + std::exp(2) + std::exp(3))));
  Tensor big = from_values({1000, 1000, -1000, 1000}, {2, 2}, DType::Float32);
  check_close(v(logsumexp(big, {1})), {1000 + std::log(2.0), 1000}, 1e-6);
  CHECK(logsumexp(big, {0, 1}).item() == doctest::Approx(1000 + std::log(3.0)));
  Tensor inf = from_values({-kInf, -kInf, -kInf, 0, kInf, 1}, {3, 2}, DType::Float64);
  const Vec r = v(logsumexp(inf, {1}));
  CHECK(r[0] == -kInf);
  CHECK(r[1] == 0);
  CHECK(r[2] == kInf);
  CHECK(logsumexp(zeros({2, 0}, DType::Float64), {1}).to_vector<double>() == Vec{-kInf, -kInf});
  CHECK(logsumexp(x, {0}, true).shape() == Shape{1});
  // The gradient is the softmax of the slice.
  const double z = std::exp(1) + std::exp(2) + std::exp(3);
  check_close(grad_of({1, 2, 3}, {3}, [](Tensor t) { return logsumexp(t, {0}); }),
              {std::exp(1) / z, std::exp(2) / z, std::exp(3) / z});
}

TEST_CASE("norm: p = 1, 2, 3, inf, zero vectors and empty slices") {
  Tensor x = from_values({3, -4, 0, 0}, {2, 2}, DType::Float64);
  check_close(v(norm(x, 2, {1})), {5, 0});
  check_close(v(norm(x, 1, {1})), {7, 0});
  check_close(v(norm(x, 3, {1})), {std::cbrt(91.0), 0});
  check_close(v(norm(x, kInf, {-1})), {4, 0});
  CHECK(norm(x).item() == 5);
  CHECK(norm(x, 2, {0}, true).shape() == Shape{1, 2});
  // Gradients: x / |x|, sign(x), sign(x) (|x| / n)^2, the arg-max of |x|; 0 on a zero slice.
  const Shape s{2, 2};
  const Vec xs{3, -4, 0, 0};
  check_close(grad_of(xs, s, [](Tensor t) { return norm(t, 2, {1}); }), {0.6, -0.8, 0, 0});
  check_close(grad_of(xs, s, [](Tensor t) { return norm(t, 1, {1}); }), {1, -1, 0, 0});
  const double n3 = std::cbrt(91.0);
  check_close(grad_of(xs, s, [](Tensor t) { return norm(t, 3, {1}); }),
              {9 / (n3 * n3), -16 / (n3 * n3), 0, 0});
  CHECK(grad_of(xs, s, [](Tensor t) { return norm(t, kInf, {1}); }) == Vec{0, -1, 0, 0});
  // Ties in |x|: the first one takes the gradient, with its sign.
  CHECK(grad_of({-4, 4, 1}, {3}, [](Tensor t) { return norm(t, kInf); }) == Vec{-1, 0, 0});
  // An empty slice has norm 0.
  CHECK(v(norm(zeros({2, 0}, DType::Float64), 2, {1})) == Vec{0, 0});
  // float32 accumulates in double: 2^20 float32 0.1s, summed in float32, drift by ~1e-3.
  Tensor f = full({1 << 20}, 0.1, DType::Float32);
  CHECK(norm(f, 1).item() == doctest::Approx((1 << 20) * double(0.1f)).epsilon(1e-7));
  CHECK(norm(f).item() == doctest::Approx(1024 * double(0.1f)).epsilon(1e-7));
}

TEST_CASE("reductions: every layout and dim set agrees with a naive reference") {
  Generator gen(7);
  Tensor base = randn({4, 3, 5}, DType::Float64, &gen);
  const std::vector<std::pair<const char*, Tensor>> layouts = {
      {"contiguous", base},
      {"permuted", base.permute({2, 0, 1}).contiguous().permute({1, 2, 0})},
      {"sliced", [&] {
         Tensor wide = zeros({4, 3, 10}, DType::Float64);
         wide.slice(2, 0, 10, 2).copy_(base);
         return wide.slice(2, 0, 10, 2);
       }()},
      {"expanded", base.narrow(1, 0, 1).expand({4, 3, 5})},
  };
  const std::vector<std::vector<int64_t>> dim_sets = {{}, {0}, {1}, {2}, {0, 2}, {1, 2}, {0, 1}};
  for (const auto& layout : layouts) {
    const auto& name = layout.first;
    const Tensor& x = layout.second;
    for (const auto& dims : dim_sets) {
      CAPTURE(name);
      CAPTURE(shape_str(dims));
      const std::vector<Vec> sl = slices(x, dims);
      Vec mx, mn, vr, vb, lse, n1, n2, n3, ninf;
      for (const Vec& s : sl) {
        mx.push_back(ref_argmax(s, true).first);
        mn.push_back(ref_argmax(s, false).first);
        vr.push_back(ref_var(s, 1));
        vb.push_back(ref_var(s, 0));
        lse.push_back(ref_lse(s));
        n1.push_back(ref_norm(s, 1));
        n2.push_back(ref_norm(s, 2));
        n3.push_back(ref_norm(s, 3.5));
        ninf.push_back(ref_norm(s, kInf));
      }
      check_close(v(amax(x, dims)), mx);
      check_close(v(amin(x, dims)), mn);
      check_close(v(var(x, dims)), vr);
      check_close(v(var(x, dims, 0)), vb);
      check_close(v(logsumexp(x, dims)), lse);
      check_close(v(norm(x, 1, dims)), n1);
      check_close(v(norm(x, 2, dims)), n2);
      check_close(v(norm(x, 3.5, dims)), n3);
      check_close(v(norm(x, kInf, dims)), ninf);
      if (dims.size() == 1) {
        std::vector<int64_t> idx;
        for (const Vec& s : sl) idx.push_back(ref_argmax(s, true).second);
        CHECK(iv(argmax(x, dims[0])) == idx);
        CHECK(iv(max(x, dims[0] - 3).indices) == idx);
      }
      // float32 agrees to float32 precision.
      Tensor x32 = x.to(DType::Float32);
      check_close(v(amax(x32, dims)), mx, 1e-6);
      check_close(v(var(x32, dims)), vr, 1e-5);
      check_close(v(logsumexp(x32, dims)), lse, 1e-6);
      check_close(v(norm(x32, 2, dims)), n2, 1e-6);
    }
  }
}

TEST_CASE("reductions over the last dim of a contiguous tensor read it in place") {
  Tensor x = arange(24, DType::Float32).reshape({2, 3, 4});
  CHECK(reduce_rows(x, {2}).rows.storage() == x.storage());
  CHECK(reduce_rows(x, {1, 2}).rows.storage() == x.storage());
  CHECK(reduce_rows(x, {0}).rows.storage() != x.storage());  // needs a transpose: copies
  // The gradient buffer of a reduction over a middle dim is laid out as rows.
  Tensor dx = empty_rows({2, 3, 4}, {1}, DType::Float32, Device::cpu());
  CHECK(dx.shape() == Shape{2, 3, 4});
  CHECK(reduce_rows(dx, {1}).rows.storage() == dx.storage());
}

TEST_CASE("reductions: autograd bookkeeping") {
  Tensor x = randn({3, 4}, DType::Float32).set_requires_grad();
  CHECK(amax(x, {1}).grad_fn()->name() == "AmaxBackward");
  CHECK(amin(x).grad_fn()->name() == "AminBackward");
  MaxResult m = max(x, 0);
  CHECK(m.values.grad_fn()->name() == "MaxBackward");
  CHECK(!m.indices.requires_grad());
  CHECK(min(x, 0).values.grad_fn()->name() == "MinBackward");
  CHECK(!argmax(x, 1).requires_grad());
  CHECK(var(x).grad_fn()->name() == "VarBackward");
  CHECK(stddev(x).grad_fn()->name() == "StddevBackward");
  CHECK(logsumexp(x, {1}).grad_fn()->name() == "LogsumexpBackward");
  CHECK(norm(x).grad_fn()->name() == "NormBackward");
  // float32 backward runs and yields float32 gradients of the input's shape.
  sum(amax(x, {0}) + var(x, {0}) + stddev(x, {0}) + logsumexp(x, {0}) + norm(x, 3, {0}) +
      max(x, 0).values)
      .backward();
  CHECK(x.grad().dtype() == DType::Float32);
  CHECK(x.grad().shape() == Shape{3, 4});
  // A 0-d tensor reduces to itself.
  Tensor s = scalar_tensor(2.5, DType::Float64);
  CHECK(max(s, 0).values.item() == 2.5);
  CHECK(argmax(s, -1).item<int64_t>() == 0);
  CHECK(amax(s).item() == 2.5);
  CHECK(grad_of({2.5}, {}, [](Tensor t) { return max(t, 0).values; }) == Vec{1});
}

TEST_CASE("gradcheck: amax, amin, max, min") {
  test::check_op_cases({
      {"amax one dim", {{2, 3, 4}}, [](const Xs& x) { return amax(x[0], {1}); }},
      {"amax two dims", {{2, 3, 4}}, [](const Xs& x) { return amax(x[0], {0, 2}); }},
      {"amax all", {{2, 3, 4}}, [](const Xs& x) { return amax(x[0]); }},
      {"amax negative keepdim", {{2, 3, 4}},
       [](const Xs& x) { return amax(x[0], {-1, -3}, true); }},
      {"amin one dim", {{2, 3, 4}}, [](const Xs& x) { return amin(x[0], {2}); }},
      {"amin two dims keepdim", {{2, 3, 4}},
       [](const Xs& x) { return amin(x[0], {0, 1}, true); }},
      {"amin all", {{2, 3, 4}}, [](const Xs& x) { return amin(x[0]); }},
      {"max dim", {{2, 3, 4}}, [](const Xs& x) { return max(x[0], 1).values; }},
      {"max negative dim keepdim", {{2, 3, 4}},
       [](const Xs& x) { return max(x[0], -1, true).values; }},
      {"min dim 0", {{2, 3, 4}}, [](const Xs& x) { return min(x[0], 0).values; }},
      {"min negative dim", {{2, 3, 4}}, [](const Xs& x) { return min(x[0], -2).values; }},
  });
}

TEST_CASE("gradcheck: var and stddev") {
  test::check_op_cases({
      {"var one dim", {{2, 3, 4}}, [](const Xs& x) { return var(x[0], {1}); }},
      {"var two dims biased", {{2, 3, 4}}, [](const Xs& x) { return var(x[0], {0, 2}, 0); }},
      {"var all", {{2, 3, 4}}, [](const Xs& x) { return var(x[0]); }},
      {"var negative keepdim", {{2, 3, 4}},
       [](const Xs& x) { return var(x[0], {-1}, 1, true); }},
      {"stddev one dim", {{2, 3, 4}}, [](const Xs& x) { return stddev(x[0], {2}); }},
      {"stddev two dims keepdim", {{2, 3, 4}},
       [](const Xs& x) { return stddev(x[0], {-3, 1}, 1, true); }},
      {"stddev all biased", {{2, 3, 4}}, [](const Xs& x) { return stddev(x[0], {}, 0); }},
      {"stddev correction 2", {{2, 3, 4}}, [](const Xs& x) { return stddev(x[0], {0, 1}, 2); }},
  });
}

TEST_CASE("gradcheck: logsumexp") {
  test::check_op_cases({
      {"logsumexp one dim", {{2, 3, 4}}, [](const Xs& x) { return logsumexp(x[0], {1}); }},
      {"logsumexp two dims", {{2, 3, 4}}, [](const Xs& x) { return logsumexp(x[0], {0, 2}); }},
      {"logsumexp all", {{2, 3, 4}}, [](const Xs& x) { return logsumexp(x[0], {}); }},
      {"logsumexp negative keepdim", {{2, 3, 4}},
       [](const Xs& x) { return logsumexp(x[0], {-2, -1}, true); }},
      {.name = "logsumexp large values",  // outputs ~500: a larger step (see OpCase::eps)
       .shapes = {{2, 3, 4}},
       .fn = [](const Xs& x) { return logsumexp(x[0] * 4.0 + 500.0, {1}); },
       .eps = 1e-5},
  });
}

TEST_CASE("gradcheck: norm") {
  test::check_op_cases({
      {"norm 2 all", {{2, 3, 4}}, [](const Xs& x) { return norm(x[0]); }},
      {"norm 2 one dim", {{2, 3, 4}}, [](const Xs& x) { return norm(x[0], 2, {1}); }},
      {"norm 2 negative keepdim", {{2, 3, 4}},
       [](const Xs& x) { return norm(x[0], 2, {-1, 0}, true); }},
      {"norm 1 two dims", {{2, 3, 4}}, [](const Xs& x) { return norm(x[0], 1, {0, 2}); },
       Inputs::Normal, {0}},
      {"norm 3 one dim", {{2, 3, 4}}, [](const Xs& x) { return norm(x[0], 3, {2}); }},
      {"norm 1.5 all keepdim", {{2, 3, 4}},
       [](const Xs& x) { return norm(x[0], 1.5, {}, true); }, Inputs::Normal, {0}},
      {"norm inf one dim", {{2, 3, 4}}, [](const Xs& x) { return norm(x[0], kInf, {1}); }},
      {"norm inf all", {{2, 3, 4}}, [](const Xs& x) { return norm(x[0], kInf); }},
      {"norm inf negative keepdim", {{2, 3, 4}},
       [](const Xs& x) { return norm(x[0], kInf, {-3, -1}, true); }},
  });
}

TEST_CASE("reductions: errors name the op and the bad input") {
  Tensor x = zeros({2, 3, 4}, DType::Float32);
  Tensor i = from_vector<int64_t>({1, 2, 3}, {3});
  Tensor e = zeros({2, 0}, DType::Float32);
  using doctest::Contains;
  CHECK_THROWS_WITH_AS(amax(x, {3}), Contains("amax: dim 3 is out of range"), Error);
  CHECK_THROWS_WITH_AS(amin(x, {1, -2}), Contains("amin: dim -2 appears more than once"), Error);
  CHECK_THROWS_WITH_AS(max(x, -4), Contains("max: dim -4 is out of range"), Error);
  CHECK_THROWS_WITH_AS(argmin(scalar_tensor(1.0), 1), Contains("argmin: dim 1 is out of range"),
                       Error);
  CHECK_THROWS_WITH_AS(var(x, {0, 0}), Contains("var: dim 0 appears more than once"), Error);
  CHECK_THROWS_WITH_AS(logsumexp(x, {5}), Contains("logsumexp: dim 5 is out of range"), Error);
  CHECK_THROWS_WITH_AS(norm(x, 2, {-7}), Contains("norm: dim -7 is out of range"), Error);

  CHECK_THROWS_WITH_AS(amax(i), Contains("amax: expected a float32 or float64 tensor, got int64"),
                       Error);
  CHECK_THROWS_WITH_AS(argmax(i, 0), Contains("argmax: expected a float32 or float64"), Error);
  CHECK_THROWS_WITH_AS(stddev(i), Contains("stddev: expected a float32 or float64"), Error);
  CHECK_THROWS_WITH_AS(logsumexp(i, {0}), Contains("logsumexp: expected a float32"), Error);
  CHECK_THROWS_WITH_AS(norm(i), Contains("norm: expected a float32"), Error);

  CHECK_THROWS_WITH_AS(amax(e, {1}), Contains("amax: cannot reduce over an empty dim (float32[2, 0]"),
                       Error);
  CHECK_THROWS_WITH_AS(amin(e), Contains("amin: cannot reduce over an empty dim"), Error);
  CHECK_THROWS_WITH_AS(max(e, 1), Contains("max: cannot reduce over an empty dim"), Error);
  CHECK_THROWS_WITH_AS(argmin(e, -1), Contains("argmin: cannot reduce over an empty dim"), Error);
  CHECK_THROWS_WITH_AS(var(e, {1}), Contains("var: cannot reduce over an empty dim"), Error);
  CHECK_THROWS_WITH_AS(norm(e, kInf), Contains("norm (p = inf): cannot reduce over an empty dim"),
                       Error);
  CHECK(amax(e, {0}).shape() == Shape{0});  // reducing a non-empty dim of an empty tensor is fine

  CHECK_THROWS_WITH_AS(norm(x, 0.5), Contains("norm: p must be >= 1 or inf, got 0.5"), Error);
  CHECK_THROWS_WITH_AS(norm(x, -kInf), Contains("norm: p must be >= 1 or inf"), Error);
  CHECK_THROWS_WITH_AS(norm(x, kNaN), Contains("norm: p must be >= 1 or inf"), Error);
}
