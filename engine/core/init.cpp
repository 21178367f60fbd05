#include "engine/core/init.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"

namespace fovea {

namespace {

std::pair<int64_t, int64_t> fans_of(const Shape& s, const char* op) {
  FOVEA_CHECK(s.size() >= 2, op, ": fan in and fan out need a weight with at least 2 dims, "
              "got shape ", shape_str(s));
  int64_t receptive = 1;
  for (size_t d = 2; d < s.size(); ++d) receptive *= s[d];
  return {s[1] * receptive, s[0] * receptive};
}

double gain_of(const std::string& nl, double param, const char* op) {
  static const char* const kLinear[] = {"linear", "conv1d", "conv2d", "conv3d",
                                        "conv_transpose1d", "conv_transpose2d",
                                        "conv_transpose3d", "sigmoid"};
  for (const char* name : kLinear)
    if (nl == name) return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nl == "selu") return 3.0 / 4.0;
  FOVEA_FAIL(op, ": unknown nonlinearity '", nl, "' (known: linear, conv1d, conv2d, conv3d, "
             "conv_transpose1d/2d/3d, sigmoid, tanh, relu, leaky_relu, selu)");
}

Generator& generator(Generator* gen) { return gen ? *gen : default_generator(); }

// Writes values (row-major, float64) into w: converts dtype, follows w's layout and device.
Tensor& assign(Tensor& w, const std::vector<double>& values) {
  NoGradGuard no_grad;  // initialisers are not part of any graph (torch.nn.init does the same)
  w.copy_(from_vector(values, w.shape()));
  return w;
}

template <typename Draw>
Tensor& fill_drawn(Tensor& w, Draw draw) {
  std::vector<double> v(size_t(w.numel()));
  for (double& x : v) x = draw();
  return assign(w, v);
}

Tensor& uniform_fill(Tensor& w, double bound, Generator* gen) {
  Generator& g = generator(gen);
  return fill_drawn(w, [&] { return bound * (2.0 * g.uniform() - 1.0); });
}

Tensor& normal_fill(Tensor& w, double std, Generator* gen) {
  Generator& g = generator(gen);
  return fill_drawn(w, [&] { return std * g.normal(); });
}

double kaiming_std(const Tensor& w, double a, FanMode mode, const std::string& nl,
                   const char* op) {
  const auto [fan_in, fan_out] = fans_of(w.shape(), op);
  const double gain = gain_of(nl, a, op);
  return gain / std::sqrt(double(mode == FanMode::FanIn ? fan_in : fan_out));
}

double xavier_std(const Tensor& w, double gain, const char* op) {
  const auto [fan_in, fan_out] = fans_of(w.shape(), op);
  return gain * std::sqrt(2.0 / double(fan_in + fan_out));
}

// Standard normal CDF; erfc keeps full relative precision in the lower tail.
double phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// Inverse of phi: Acklam's rational approximation (relative error 1.2e-9), polished by one
// Halley step on phi(x) - p to full double precision.
double phi_inverse(double p) {
  if (p <= 0) return -std::numeric_limits<double>::infinity();
  if (p >= 1) return std::numeric_limits<double>::infinity();
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                             -2.759285104469687e+02, 1.383577518672690e+02,
                             -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                             -1.556989798598866e+02, 6.680131188771972e+01,
                             -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                             -2.400758277161838e+00, -2.549732539343734e+00,
                             4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                             2.445134137142996e+00, 3.754408661907416e+00};
  auto tail = [&](double q) {
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  };
  const double low = 0.02425;
  double x;
  if (p < low) {
    x = tail(std::sqrt(-2 * std::log(p)));
  } else if (p <= 1 - low) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    x = -tail(std::sqrt(-2 * std::log1p(-p)));
  }
  const double e = phi(x) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

// The Q factor (m x n, m >= n, row-major) of a row-major m x n matrix by Householder
// reflections, with column j negated when R[j][j] < 0 so that R's diagonal is positive (the
// unique QR, as torch gets from LAPACK plus its sign correction).
std::vector<double> q_factor(std::vector<double> a, int64_t m, int64_t n) {
  auto A = [&](int64_t i, int64_t j) -> double& { return a[size_t(i * n + j)]; };
  std::vector<std::vector<double>> vs(static_cast<size_t>(n));
  std::vector<double> betas(size_t(n), 0.0), r_diag(size_t(n), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    double norm2 = 0;
    for (int64_t i = j; i < m; ++i) norm2 += A(i, j) * A(i, j);
    const double alpha = A(j, j) > 0 ? -std::sqrt(norm2) : std::sqrt(norm2);
    std::vector<double>& v = vs[size_t(j)];
    v.assign(size_t(m - j), 0.0);
    for (int64_t i = j; i < m; ++i) v[size_t(i - j)] = A(i, j);
    v[0] -= alpha;
    double vnorm2 = 0;
    for (double x : v) vnorm2 += x * x;
    r_diag[size_t(j)] = alpha;
    if (vnorm2 == 0) continue;  // the column is already zero below the diagonal
    betas[size_t(j)] = 2.0 / vnorm2;
    for (int64_t c = j; c < n; ++c) {
      double s = 0;
      for (int64_t i = j; i < m; ++i) s += v[size_t(i - j)] * A(i, c);
      s *= betas[size_t(j)];
      for (int64_t i = j; i < m; ++i) A(i, c) -= s * v[size_t(i - j)];
    }
  }
  // Q = H_0 H_1 ... H_{n-1} applied to the first n columns of the identity.
  std::vector<double> q(size_t(m * n), 0.0);
  auto Q = [&](int64_t i, int64_t j) -> double& { return q[size_t(i * n + j)]; };
  for (int64_t j = 0; j < n; ++j) Q(j, j) = 1;
  for (int64_t j = n - 1; j >= 0; --j) {
    const std::vector<double>& v = vs[size_t(j)];
    if (betas[size_t(j)] == 0) continue;
    for (int64_t c = 0; c < n; ++c) {
      double s = 0;
      for (int64_t i = j; i < m; ++i) s += v[size_t(i - j)] * Q(i, c);
      s *= betas[size_t(j)];
      for (int64_t i = j; i < m; ++i) Q(i, c) -= s * v[size_t(i - j)];
    }
  }
  // torch multiplies by sign(diag(R)), which zeroes a column when R[j][j] == 0 (probability
  // zero for a Gaussian matrix); keeping the column instead keeps Q orthonormal.
  for (int64_t j = 0; j < n; ++j)
    if (r_diag[size_t(j)] < 0)
      for (int64_t i = 0; i < m; ++i) Q(i, j) = -Q(i, j);
  return q;
}

}  // namespace

std::pair<int64_t, int64_t> compute_fans(const Shape& weight_shape) {
  return fans_of(weight_shape, "compute_fans");
}

double calculate_gain(const std::string& nonlinearity, double param) {
  return gain_of(nonlinearity, param, "calculate_gain");
}

Tensor& kaiming_uniform_(Tensor& w, double a, FanMode mode, const std::string& nonlinearity,
                         Generator* gen) {
  check_float(w, "kaiming_uniform_");
  const double std = kaiming_std(w, a, mode, nonlinearity, "kaiming_uniform_");
  if (w.numel() == 0) return w;
  return uniform_fill(w, std::sqrt(3.0) * std, gen);
}

Tensor& kaiming_normal_(Tensor& w, double a, FanMode mode, const std::string& nonlinearity,
                        Generator* gen) {
  check_float(w, "kaiming_normal_");
  const double std = kaiming_std(w, a, mode, nonlinearity, "kaiming_normal_");
  if (w.numel() == 0) return w;
  return normal_fill(w, std, gen);
}

Tensor& xavier_uniform_(Tensor& w, double gain, Generator* gen) {
  check_float(w, "xavier_uniform_");
  const double std = xavier_std(w, gain, "xavier_uniform_");
  if (w.numel() == 0) return w;
  return uniform_fill(w, std::sqrt(3.0) * std, gen);
}

Tensor& xavier_normal_(Tensor& w, double gain, Generator* gen) {
  check_float(w, "xavier_normal_");
  const double std = xavier_std(w, gain, "xavier_normal_");
  if (w.numel() == 0) return w;
  return normal_fill(w, std, gen);
}

Tensor& trunc_normal_(Tensor& w, double mean, double std, double a, double b, Generator* gen) {
  check_float(w, "trunc_normal_");
  FOVEA_CHECK(std::isfinite(mean) && std::isfinite(std) && std > 0,
              "trunc_normal_: need a finite mean and a finite std > 0, got mean ", mean,
              " std ", std);
  FOVEA_CHECK(a < b, "trunc_normal_: need a < b, got a ", a, " b ", b);
  // Standardised bounds; an interval above the mean is sampled mirrored, in the lower tail.
  const bool mirror = (a - mean) + (b - mean) > 0;
  const double lo_z = mirror ? (mean - b) / std : (a - mean) / std;
  const double hi_z = mirror ? (mean - a) / std : (b - mean) / std;
  const double lo = phi(lo_z), hi = phi(hi_z);
  FOVEA_CHECK(hi > lo, "trunc_normal_: [", a, ", ", b, "] holds no probability mass of N(",
              mean, ", ", std, "^2) in double precision");
  Generator& g = generator(gen);
  return fill_drawn(w, [&] {
    const double z = phi_inverse(lo + (hi - lo) * g.uniform());
    return std::clamp(mean + std * (mirror ? -z : z), a, b);
  });
}

Tensor& orthogonal_(Tensor& w, double gain, Generator* gen) {
  check_float(w, "orthogonal_");
  FOVEA_CHECK(w.dim() >= 2, "orthogonal_: needs a tensor with at least 2 dims, got ", w.str());
  if (w.numel() == 0) return w;
  const int64_t rows = w.shape()[0], cols = w.numel() / rows;
  Generator& g = generator(gen);
  std::vector<double> flat(size_t(rows * cols));
  for (double& x : flat) x = g.normal();
  // QR needs a tall matrix: factor the transpose of a wide one, and transpose Q back.
  const bool wide = rows < cols;
  const int64_t m = wide ? cols : rows, n = wide ? rows : cols;
  std::vector<double> tall(flat.size());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      tall[size_t(wide ? j * rows + i : i * cols + j)] = flat[size_t(i * cols + j)];
  const std::vector<double> q = q_factor(std::move(tall), m, n);
  std::vector<double> out(flat.size());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      out[size_t(i * cols + j)] = gain * q[size_t(wide ? j * rows + i : i * cols + j)];
  return assign(w, out);
}

Tensor& constant_(Tensor& w, double value) {
  check_defined(w, "constant_");
  NoGradGuard no_grad;
  return w.fill_(value);
}

Tensor dct_basis(int64_t h, int64_t w, int64_t u, int64_t v, DType dtype) {
  FOVEA_CHECK(h > 0 && w > 0 && u >= 0 && u < h && v >= 0 && v < w, "dct_basis: frequency (", u,
              ", ", v, ") is outside a ", h, "x", w, " map");
  auto b = [](int64_t pos, int64_t f, int64_t len) {
    const double c = std::cos(M_PI * double(f) * (double(pos) + 0.5) / double(len)) /
                     std::sqrt(double(len));
    return f > 0 ? c * std::sqrt(2.0) : c;
  };
  std::vector<double> values(size_t(h * w));
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j) values[size_t(i * w + j)] = b(i, u, h) * b(j, v, w);
  return from_vector(values, {h, w}).to(dtype);
}

}  // namespace fovea
