// Parameter initialisers (torch.nn.init semantics): fans and gains by value, distributions by
// their sample statistics on large tensors with fixed seeds, orthogonality to 1e-10, errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "engine/fovea.h"

using namespace fovea;

namespace {

struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
};

Stats stats_of(const Tensor& t) {
  const std::vector<double> v = t.to_vector<double>();
  Stats s;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / double(v.size() - 1));
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

// Mean and std of N(mu, sigma^2) conditioned on [a, b] (textbook formulas). An interval above
// the mean is evaluated mirrored, where the CDF differences keep their precision.
std::pair<double, double> truncated_moments(double mu, double sigma, double a, double b) {
  if ((a - mu) + (b - mu) > 0) {
    auto [m, s] = truncated_moments(-mu, sigma, -b, -a);
    return {-m, s};
  }
  auto pdf = [](double x) { return std::exp(-x * x / 2) / std::sqrt(2 * M_PI); };
  auto cdf = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
  auto x_pdf = [&](double x) { return std::isinf(x) ? 0.0 : x * pdf(x); };
  const double al = (a - mu) / sigma, be = (b - mu) / sigma;
  const double z = cdf(be) - cdf(al);
  const double d = (pdf(al) - pdf(be)) / z;
  const double var = 1 + (x_pdf(al) - x_pdf(be)) / z - d * d;
  return {mu + sigma * d, sigma * std::sqrt(var)};
}

// Row-major [rows, cols] product m * m^T (over_rows) or m^T * m.
std::vector<double> gram(const std::vector<double>& m, int64_t rows, int64_t cols,
                         bool over_rows) {
  const int64_t n = over_rows ? rows : cols, k = over_rows ? cols : rows;
  auto at = [&](int64_t i, int64_t j) { return m[size_t(i * cols + j)]; };
  std::vector<double> g(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t l = 0; l < k; ++l)
        g[size_t(i * n + j)] += over_rows ? at(i, l) * at(j, l) : at(l, i) * at(l, j);
  return g;
}

double max_deviation_from_identity(const std::vector<double>& g, int64_t n, double scale) {
  double worst = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      worst = std::max(worst, std::abs(g[size_t(i * n + j)] - (i == j ? scale : 0.0)));
  return worst;
}

}  // namespace

TEST_CASE("compute_fans and calculate_gain: torch's values") {
  CHECK(compute_fans({5, 3}) == std::pair<int64_t, int64_t>{3, 5});
  CHECK(compute_fans({16, 8, 3, 3}) == std::pair<int64_t, int64_t>{72, 144});
  CHECK(compute_fans({4, 2, 7}) == std::pair<int64_t, int64_t>{14, 28});
  CHECK(calculate_gain("linear") == 1);
  CHECK(calculate_gain("conv1d") == 1);
  CHECK(calculate_gain("conv2d") == 1);
  CHECK(calculate_gain("conv_transpose2d") == 1);
  CHECK(calculate_gain("sigmoid") == 1);
  CHECK(calculate_gain("tanh") == doctest::Approx(5.0 / 3.0));
  CHECK(calculate_gain("relu") == doctest::Approx(std::sqrt(2.0)));
  CHECK(calculate_gain("leaky_relu") == doctest::Approx(std::sqrt(2.0 / (1 + 0.01 * 0.01))));
  CHECK(calculate_gain("leaky_relu", 0.2) == doctest::Approx(std::sqrt(2.0 / 1.04)));
  CHECK(calculate_gain("leaky_relu", std::sqrt(5.0)) == doctest::Approx(std::sqrt(1.0 / 3.0)));
  CHECK(calculate_gain("selu") == 0.75);
}

TEST_CASE("kaiming_normal_: fan_out and fan_in give std gain / sqrt(fan)") {
  Generator gen(7);
  Tensor w = empty({256, 128, 3, 3});
  kaiming_normal_(w, 0, FanMode::FanOut, "relu", &gen);
  const double expected = std::sqrt(2.0) / std::sqrt(256.0 * 9);
  const Stats s = stats_of(w);
  CHECK(std::abs(s.std / expected - 1) < 0.02);
  CHECK(std::abs(s.mean) < 0.01 * expected);

  Tensor v = empty({64, 32, 5, 5}, DType::Float64);
  kaiming_normal_(v, 0, FanMode::FanIn, "leaky_relu", &gen);
  CHECK(std::abs(stats_of(v).std / (std::sqrt(2.0) / std::sqrt(32.0 * 25)) - 1) < 0.02);
  Tensor t = empty({64, 32, 5, 5}, DType::Float64);
  kaiming_normal_(t, 0, FanMode::FanIn, "tanh", &gen);
  CHECK(std::abs(stats_of(t).std / (5.0 / 3.0 / std::sqrt(800.0)) - 1) < 0.02);
}

TEST_CASE("kaiming_uniform_ and xavier_uniform_: inside the bound, filling it") {
  Generator gen(11);
  // PyTorch's default Linear init: kaiming_uniform_(w, a = sqrt(5)) = U(-1/sqrt(fan_in), ..)
  Tensor w = empty({300, 400});
  kaiming_uniform_(w, std::sqrt(5.0), FanMode::FanIn, "leaky_relu", &gen);
  const double bound = 1.0 / std::sqrt(400.0);
  Stats s = stats_of(w);
  CHECK(s.min >= -bound);
  CHECK(s.max <= bound);
  CHECK(s.min < -0.999 * bound);
  CHECK(s.max > 0.999 * bound);
  CHECK(std::abs(s.std / (bound / std::sqrt(3.0)) - 1) < 0.02);

  Tensor r = empty({64, 16, 3, 3}, DType::Float64);
  kaiming_uniform_(r, 0, FanMode::FanOut, "relu", &gen);
  const double rb = std::sqrt(2.0) * std::sqrt(3.0 / (64 * 9));
  s = stats_of(r);
  CHECK(s.min >= -rb);
  CHECK(s.max <= rb);
  CHECK(std::abs(s.std / (rb / std::sqrt(3.0)) - 1) < 0.02);

  Tensor x = empty({200, 300}, DType::Float64);
  xavier_uniform_(x, 2.0, &gen);
  const double xb = 2.0 * std::sqrt(6.0 / 500);
  s = stats_of(x);
  CHECK(s.min >= -xb);
  CHECK(s.max <= xb);
  CHECK(s.max > 0.999 * xb);
  CHECK(std::abs(s.std / (xb / std::sqrt(3.0)) - 1) < 0.02);
}

TEST_CASE("xavier_normal_: std = gain * sqrt(2 / (fan_in + fan_out))") {
  Generator gen(3);
  Tensor w = empty({128, 64, 3, 3});
  xavier_normal_(w, 0.5, &gen);
  const double expected = 0.5 * std::sqrt(2.0 / (64 * 9 + 128 * 9));
  const Stats s = stats_of(w);
  CHECK(std::abs(s.std / expected - 1) < 0.02);
  CHECK(std::abs(s.mean) < 0.01 * expected);
}

TEST_CASE("trunc_normal_: inside [a, b] with the truncated normal's mean and std") {
  struct Case {
    double mean, std, a, b;
  };
  const Case cases[] = {
      {0, 1, -2, 2},        // torch's defaults
      {0, 0.02, -2, 2},     // trunc_normal_(w, std=0.02) as ViTs use it: barely truncated
      {1, 2, -1, 6},        // asymmetric, more mass above the mean (sampled mirrored)
      {0, 1, -3, 0.5},      // asymmetric the other way
      {0, 1, 8, 9},         // far upper tail: needs the mirrored lower-tail computation
      {0, 1, -9, -8},       // far lower tail
      {0, 1, 1, INFINITY},  // one-sided
  };
  Generator gen(5);
  for (const Case& c : cases) {
    Tensor w = empty({400, 500}, DType::Float64);
    trunc_normal_(w, c.mean, c.std, c.a, c.b, &gen);
    const Stats s = stats_of(w);
    // Plain variables, not a structured binding: INFO's lazy lambda captures them, which
    // clang before 16 refuses for bindings.
    const std::pair<double, double> moments = truncated_moments(c.mean, c.std, c.a, c.b);
    const double mean = moments.first, std = moments.second;
    INFO("mean ", c.mean, " std ", c.std, " on [", c.a, ", ", c.b, "]: sample mean ", s.mean,
         " std ", s.std, ", expected ", mean, " ", std);
    CHECK(s.min >= c.a);
    CHECK(s.max <= c.b);
    CHECK(std::abs(s.std / std - 1) < 0.02);
    CHECK(std::abs(s.mean - mean) < 0.02 * std);
  }
  Tensor f = empty({1000});
  trunc_normal_(f, 0, 1, -0.5, 0.25, &gen);
  const Stats s = stats_of(f);
  CHECK(s.min >= -0.5);
  CHECK(s.max <= 0.25);
}

TEST_CASE("orthogonal_: W W^T or W^T W is gain^2 I, R of the QR has a positive diagonal") {
  struct Case {
    Shape shape;
    double gain;
  };
  const Case cases[] = {{{64, 64}, 1.0}, {{50, 2, 3, 2}, 2.0}, {{20, 3, 4, 5}, 0.5}};
  for (const Case& c : cases) {
    const int64_t rows = c.shape[0], cols = shape_numel(c.shape) / rows;
    INFO("shape ", shape_str(c.shape), " gain ", c.gain);
    Tensor w = empty(c.shape, DType::Float64);
    Generator gen(42);
    orthogonal_(w, c.gain, &gen);
    const std::vector<double> m = w.to_vector<double>();
    const double g2 = c.gain * c.gain;
    if (rows <= cols) CHECK(max_deviation_from_identity(gram(m, rows, cols, true), rows, g2) < 1e-10);
    if (rows >= cols) CHECK(max_deviation_from_identity(gram(m, rows, cols, false), cols, g2) < 1e-10);

    // torch's sign convention: with A the same N(0, 1) draws (rows x cols, transposed when
    // wide), R = Q^T A is upper triangular with a positive diagonal.
    Generator again(42);
    std::vector<double> a(size_t(rows * cols));
    for (double& x : a) x = again.normal();
    const bool wide = rows < cols;
    const int64_t n = wide ? rows : cols, k = wide ? cols : rows;
    double below = 0, min_diag = INFINITY;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double r = 0;  // wide: (W A^T)[i][j]; tall: (W^T A)[i][j]
        for (int64_t l = 0; l < k; ++l)
          r += wide ? m[size_t(i * cols + l)] * a[size_t(j * cols + l)]
                    : m[size_t(l * cols + i)] * a[size_t(l * cols + j)];
        r /= c.gain;
        if (i > j) below = std::max(below, std::abs(r));
        if (i == j) min_diag = std::min(min_diag, r);
      }
    CHECK(below < 1e-10);
    CHECK(min_diag > 0);
  }
  // A float32 target and a transposed (non-contiguous) one.
  Tensor f = empty({8, 12});
  orthogonal_(f);
  CHECK(max_deviation_from_identity(gram(f.to_vector<double>(), 8, 12, true), 8, 1) < 1e-6);
  Tensor t = empty({12, 8}, DType::Float64).t();
  orthogonal_(t);
  CHECK(max_deviation_from_identity(gram(t.to_vector<double>(), 8, 12, true), 8, 1) < 1e-10);
}

TEST_CASE("initialisers: seeded, any layout, usable on parameters that require grad") {
  Tensor a = empty({10, 20}), b = empty({10, 20});
  Generator g1(99), g2(99);
  kaiming_uniform_(a, 0, FanMode::FanIn, "relu", &g1);
  kaiming_uniform_(b, 0, FanMode::FanIn, "relu", &g2);
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  manual_seed(1);
  xavier_normal_(a);
  manual_seed(1);
  xavier_normal_(b);
  CHECK(a.to_vector<float>() == b.to_vector<float>());

  Tensor p = zeros({6, 4}, DType::Float64).set_requires_grad();
  const uint64_t version = p.storage()->version();
  xavier_uniform_(p);
  CHECK(p.requires_grad());
  CHECK(p.is_leaf());
  CHECK(p.storage()->version() > version);
  CHECK(stats_of(p).std > 0);

  Tensor base = zeros({4, 6}, DType::Float64);
  Tensor view = base.slice(1, 0, 6, 2);  // every second column
  constant_(view, 3);
  CHECK(base.to_vector<double>()[0] == 3);
  CHECK(base.to_vector<double>()[1] == 0);
  Tensor ints = zeros({3}, DType::Int64);
  constant_(ints, 7);
  CHECK(ints.to_vector<int64_t>() == std::vector<int64_t>{7, 7, 7});
  Tensor empty_w = empty({0, 5});
  CHECK(kaiming_normal_(empty_w).numel() == 0);
  CHECK(orthogonal_(empty_w).numel() == 0);
}

TEST_CASE("initialiser errors") {
  using doctest::Contains;
  Tensor v = empty({5});
  CHECK_THROWS_WITH_AS(compute_fans({5}),
                       Contains("compute_fans: fan in and fan out need a weight with at least 2 "
                                "dims, got shape [5]"),
                       Error);
  CHECK_THROWS_WITH_AS(kaiming_uniform_(v), Contains("kaiming_uniform_: fan in and fan out"),
                       Error);
  CHECK_THROWS_WITH_AS(xavier_normal_(v), Contains("xavier_normal_: fan in and fan out"), Error);
  CHECK_THROWS_WITH_AS(calculate_gain("swish"),
                       Contains("calculate_gain: unknown nonlinearity 'swish'"), Error);
  Tensor w = empty({4, 4});
  CHECK_THROWS_WITH_AS(kaiming_normal_(w, 0, FanMode::FanIn, "Relu"),
                       Contains("kaiming_normal_: unknown nonlinearity 'Relu'"), Error);
  CHECK_THROWS_WITH_AS(orthogonal_(v), Contains("orthogonal_: needs a tensor with at least 2 "
                                                "dims, got float32[5]"),
                       Error);
  CHECK_THROWS_WITH_AS(trunc_normal_(w, 0, 1, 2, -2), Contains("trunc_normal_: need a < b"),
                       Error);
  CHECK_THROWS_WITH_AS(trunc_normal_(w, 0, 0), Contains("trunc_normal_: need a finite mean and "
                                                        "a finite std > 0"),
                       Error);
  CHECK_THROWS_WITH_AS(trunc_normal_(w, 0, 1, 50, 60),
                       Contains("trunc_normal_: [50, 60] holds no probability mass"), Error);
  Tensor ints = zeros({4, 4}, DType::Int64);
  CHECK_THROWS_WITH_AS(xavier_uniform_(ints),
                       Contains("xavier_uniform_: expected a float32 or float64 tensor"), Error);
}

TEST_CASE("dct_basis: FcaNet's orthonormal DCT-II images") {
  const int64_t h = 4, w = 3;
  for (int64_t u = 0; u < h; ++u)
    for (int64_t v = 0; v < w; ++v)
      for (int64_t u2 = 0; u2 < h; ++u2)
        for (int64_t v2 = 0; v2 < w; ++v2) {
          const double dot = sum(dct_basis(h, w, u, v, DType::Float64) *
                                 dct_basis(h, w, u2, v2, DType::Float64)).item();
          CHECK(dot == doctest::Approx(u == u2 && v == v2 ? 1.0 : 0.0).epsilon(1e-12).scale(1));
        }
  // the DC image is constant: a DCT-weighted sum at (0, 0) is sqrt(HW) times the mean
  CHECK(amax(dct_basis(h, w, 0, 0, DType::Float64)).item() == doctest::Approx(1 / std::sqrt(12.0)));
  CHECK(amin(dct_basis(h, w, 0, 0, DType::Float64)).item() == doctest::Approx(1 / std::sqrt(12.0)));
  // b(0, 1, 4) = sqrt(2/4) cos(pi / 8)
  CHECK(dct_basis(4, 1, 1, 0, DType::Float64).at({0, 0}) ==
        doctest::Approx(std::sqrt(0.5) * std::cos(M_PI / 8) / std::sqrt(1.0)));
  CHECK_THROWS_WITH_AS(dct_basis(4, 4, 4, 0), doctest::Contains("frequency (4, 0) is outside"),
                       Error);
}
