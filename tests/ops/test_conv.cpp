// conv2d and conv1d: hand-computed values; a direct convolution written from the definition
// (plain loops in double, gradients included) against every combination of stride, padding,
// dilation, groups and bias in float64 and float32, and against the chunked/threaded kernel
// paths; im2col/col2im against their definition and each other; PyTorch fixtures; gradient
// checks in four layouts; errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/cpu/conv.h"
#include "engine/fovea.h"
#include "support/fake_cuda.h"
#include "support/fixtures.h"
#include "support/op_check.h"

using namespace fovea;
using fovea::test::fake_cuda;
using fovea::test::FixtureCase;

namespace {
using Xs = std::vector<Tensor>;
using doctest::Contains;

// y, and the gradients of sum(y * gy), of a convolution computed straight from its definition;
// each with the sum of the absolute values of its terms (the scale of float32 rounding).
struct Direct {
  Shape y_shape;
  std::vector<double> y, dx, dw, db;
  std::vector<double> y_abs, dx_abs, dw_abs, db_abs;
};

Direct direct_conv(const Tensor& x_t, const Tensor& w_t, const Tensor& b_t, const Tensor& gy_t,
                   const Conv2dOptions& o) {
  const Shape xs = x_t.shape(), ws = w_t.shape();
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  const int64_t O = ws[0], Cg = ws[1], KH = ws[2], KW = ws[3], G = o.groups, Og = O / G;
  const int64_t HO = (H + 2 * o.padding[0] - o.dilation[0] * (KH - 1) - 1) / o.stride[0] + 1;
  const int64_t WO = (W + 2 * o.padding[1] - o.dilation[1] * (KW - 1) - 1) / o.stride[1] + 1;
  const std::vector<double> x = x_t.to_vector<double>(), w = w_t.to_vector<double>();
  const std::vector<double> b = b_t.defined() ? b_t.to_vector<double>() : std::vector<double>();
  Direct r;
  r.y_shape = {N, O, HO, WO};
  r.y.assign(size_t(N * O * HO * WO), 0.0);
  r.dx.assign(x.size(), 0.0);
  r.dw.assign(w.size(), 0.0);
  r.db.assign(size_t(O), 0.0);
  r.y_abs = r.y, r.dx_abs = r.dx, r.dw_abs = r.dw, r.db_abs = r.db;
  const std::vector<double> gy = gy_t.defined() ? gy_t.to_vector<double>() : r.y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oc = 0; oc < O; ++oc)
      for (int64_t i = 0; i < HO; ++i)
        for (int64_t j = 0; j < WO; ++j) {
          const size_t yi = size_t(((n * O + oc) * HO + i) * WO + j);
          double s = b.empty() ? 0.0 : b[size_t(oc)];
          r.y_abs[yi] = std::abs(s);
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t p = 0; p < KH; ++p)
              for (int64_t q = 0; q < KW; ++q) {
                const int64_t ih = i * o.stride[0] - o.padding[0] + p * o.dilation[0];
                const int64_t iw = j * o.stride[1] - o.padding[1] + q * o.dilation[1];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const size_t xi = size_t(((n * C + (oc / Og) * Cg + c) * H + ih) * W + iw);
                const size_t wi = size_t(((oc * Cg + c) * KH + p) * KW + q);
                s += w[wi] * x[xi];
                r.dx[xi] += gy[yi] * w[wi];
                r.dw[wi] += gy[yi] * x[xi];
                r.y_abs[yi] += std::abs(w[wi] * x[xi]);
                r.dx_abs[xi] += std::abs(gy[yi] * w[wi]);
                r.dw_abs[wi] += std::abs(gy[yi] * x[xi]);
              }
          r.y[yi] = s;
          r.db[size_t(oc)] += gy[yi];
          r.db_abs[size_t(oc)] += std::abs(gy[yi]);
        }
  return r;
}

// max |actual - expected| / max(1, scale), scale = |expected| or, when given, the sum of the
// absolute values of the terms behind each expected value.
double max_error(const Tensor& actual, const std::vector<double>& expected,
                 const std::vector<double>& terms_abs = {}) {
  const std::vector<double> a = actual.to_vector<double>();
  REQUIRE(a.size() == expected.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double scale = terms_abs.empty() ? std::abs(expected[i]) : terms_abs[i];
    const double e = std::abs(a[i] - expected[i]) / std::max(1.0, scale);
    if (!(e <= worst)) worst = e;  // NaN wins
  }
  return worst;
}

// Runs conv2d forward and backward (upstream gradient gy) and compares output and all three
// gradients with the direct convolution. by_terms: errors relative to the sum of |terms|
// (float32 sums of thousands of products round by more than 1e-5 of their value).
void check_against_direct(const Tensor& x0, const Tensor& w0, const Tensor& b0,
                          const Conv2dOptions& o, double tol, bool by_terms = false) {
  Generator gen(99);
  const Tensor x = x0.detach().set_requires_grad(), w = w0.detach().set_requires_grad();
  const Tensor b = b0.defined() ? b0.detach().set_requires_grad() : Tensor();
  const Tensor y = conv2d(x, w, b, o);
  const Tensor gy = randn(y.shape(), y.dtype(), &gen);
  const Direct d = direct_conv(x, w, b, gy, o);
  REQUIRE(y.shape() == d.y_shape);
  y.backward(gy);
  auto terms = [&](const std::vector<double>& v) { return by_terms ? v : std::vector<double>(); };
  CHECK(max_error(y, d.y, terms(d.y_abs)) <= tol);
  CHECK(max_error(x.grad(), d.dx, terms(d.dx_abs)) <= tol);
  CHECK(max_error(w.grad(), d.dw, terms(d.dw_abs)) <= tol);
  if (b.defined()) CHECK(max_error(b.grad(), d.db, terms(d.db_abs)) <= tol);
}

Conv2dOptions opts(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                   std::array<int64_t, 2> dilation, int64_t groups) {
  Conv2dOptions o;
  o.stride = stride;
  o.padding = padding;
  o.dilation = dilation;
  o.groups = groups;
  return o;
}

// Conv options from a fixture's args (lists for conv2d, numbers for conv1d).
Conv2dOptions fixture_opts(const FixtureCase& c) {
  auto pair = [&](const char* key) {
    const auto& v = c.args.at(key);
    return v.is_array() ? std::array<int64_t, 2>{v[0].get<int64_t>(), v[1].get<int64_t>()}
                        : std::array<int64_t, 2>{1, v.get<int64_t>()};
  };
  return opts(pair("stride"), pair("padding"), pair("dilation"),
              c.args.at("groups").get<int64_t>());
}


// Sets the thread count for one scope.
struct Threads {
  int before = get_num_threads();
  explicit Threads(int n) { set_num_threads(n); }
  ~Threads() { set_num_threads(before); }
};
}  // namespace

TEST_CASE("conv2d: hand-computed values and node names") {
  // x = 1..9 as a 3x3 image; w = [[1, 0], [0, -1]]: each output is x[i][j] - x[i+1][j+1] = -4.
  Tensor x = arange(1, 10, 1, DType::Float64).reshape({1, 1, 3, 3});
  Tensor w = from_values({1, 0, 0, -1}, {1, 1, 2, 2}, DType::Float64);
  Tensor b = from_values({0.5}, {1}, DType::Float64);
  CHECK(conv2d(x, w, b).to_vector<double>() == std::vector<double>(4, -3.5));
  // Padding 1, stride 2: outputs at (-1,-1), (-1,1), (1,-1), (1,1) of the padded image.
  Conv2dOptions o;
  o.stride = {2, 2};
  o.padding = {1, 1};
  CHECK(conv2d(x, w, Tensor(), o).to_vector<double>() == std::vector<double>{-1, -3, -7, -4});
  // conv1d with a [1, 2, 1] kernel, padding 1: a 3-tap moving sum with zero ends.
  Tensor s = from_values({1, 2, 3, 4}, {1, 1, 4}, DType::Float64);
  Tensor k = from_values({1, 2, 1}, {1, 1, 3}, DType::Float64);
  Conv1dOptions o1;
  o1.padding = 1;
  CHECK(conv1d(s, k, Tensor(), o1).to_vector<double>() == std::vector<double>{4, 8, 12, 11});
  // Unbatched inputs drop the batch dim again.
  CHECK(conv2d(x.squeeze(0), w).shape() == Shape{1, 2, 2});
  CHECK(conv2d(x.squeeze(0), w, b, o).to_vector<double>() ==
        conv2d(x, w, b, o).to_vector<double>());
  CHECK(conv1d(s.squeeze(0), k, Tensor(), o1).shape() == Shape{1, 4});
  CHECK(conv1d(s.squeeze(0), k, Tensor(), o1).to_vector<double>() ==
        std::vector<double>{4, 8, 12, 11});
  CHECK(conv2d(x, w).grad_fn() == nullptr);
  w.set_requires_grad();
  k.set_requires_grad();
  CHECK(conv2d(x, w).grad_fn()->name() == "Conv2dBackward");
  CHECK(conv1d(s, k).grad_fn()->name() == "Conv1dBackward");
}

TEST_CASE("conv2d: every option combination matches the direct convolution (float64, float32)") {
  // A 3x2 kernel on a 7x5 image, 4 input channels: groups 1, 2 and 4 (depthwise, with one and
  // with two outputs per channel); strides per axis, padding, dilation, bias on and off.
  Generator gen(5);
  const Tensor x = randn({2, 4, 7, 5}, DType::Float64, &gen);
  struct GroupCase {
    int64_t groups, c_out;
  };
  for (const GroupCase gc : {GroupCase{1, 6}, GroupCase{2, 6}, GroupCase{4, 8}, GroupCase{4, 4}}) {
    const Tensor w = randn({gc.c_out, 4 / gc.groups, 3, 2}, DType::Float64, &gen);
    const Tensor b = randn({gc.c_out}, DType::Float64, &gen);
    for (int64_t sh : {1, 2})
      for (int64_t sw : {1, 2})
        for (int64_t pad : {0, 1, 2})
          for (int64_t dil : {1, 2})
            for (bool bias : {true, false})
              for (DType dtype : {DType::Float64, DType::Float32}) {
                const Conv2dOptions o = opts({sh, sw}, {pad, pad}, {dil, dil}, gc.groups);
                const std::string dt = dtype_name(dtype);
                CAPTURE(gc.groups);
                CAPTURE(gc.c_out);
                CAPTURE(sh);
                CAPTURE(sw);
                CAPTURE(pad);
                CAPTURE(dil);
                CAPTURE(bias);
                CAPTURE(dt);
                check_against_direct(x.to(dtype), w.to(dtype), bias ? b.to(dtype) : Tensor(), o,
                                     dtype == DType::Float64 ? 1e-12 : 1e-5);
              }
  }
}

TEST_CASE("conv2d: chunked, per-thread, split-image and 1x1 paths match the direct convolution") {
  // Shapes big enough for the kernel's other paths: images split across two threads with
  // several images per GEMM and a partial last chunk; a single big image (each GEMM and
  // im2col/col2im split over the threads); 1x1 convs reading x in place (large planes) or
  // gathered (1x1 planes, as in squeeze-excitation); strided and grouped variants.
  const Threads two(2);
  Generator gen(11);
  struct Case {
    Shape x, w;
    Conv2dOptions o;
  };
  const std::vector<Case> cases = {
      {{7, 8, 20, 20}, {8, 8, 3, 3}, opts({1, 1}, {1, 1}, {1, 1}, 1)},
      {{7, 8, 20, 20}, {8, 4, 3, 3}, opts({2, 1}, {1, 0}, {1, 2}, 2)},
      {{1, 8, 40, 40}, {8, 8, 3, 3}, opts({1, 1}, {1, 1}, {1, 1}, 1)},
      {{1, 8, 40, 40}, {8, 1, 3, 3}, opts({1, 1}, {2, 2}, {2, 2}, 8)},
      {{1, 16, 40, 40}, {16, 8, 3, 3}, opts({1, 2}, {1, 1}, {1, 1}, 2)},
      {{1, 16, 48, 48}, {32, 16, 1, 1}, opts({1, 1}, {0, 0}, {1, 1}, 1)},
      {{4, 8, 32, 32}, {6, 8, 1, 1}, opts({1, 1}, {0, 0}, {1, 1}, 1)},
      {{6, 16, 24, 24}, {32, 16, 1, 1}, opts({1, 1}, {0, 0}, {1, 1}, 1)},
      {{9, 8, 1, 1}, {4, 8, 1, 1}, opts({1, 1}, {0, 0}, {1, 1}, 1)},
      {{9, 8, 1, 1}, {4, 4, 1, 1}, opts({1, 1}, {0, 0}, {1, 1}, 2)},
      {{6, 8, 16, 16}, {12, 8, 1, 1}, opts({2, 2}, {0, 0}, {1, 1}, 1)},
  };
  for (const Case& c : cases) {
    for (DType dtype : {DType::Float64, DType::Float32}) {
      const std::string what = shape_str(c.x) + " * " + shape_str(c.w) + " " + dtype_name(dtype);
      CAPTURE(what);
      const Tensor b = randn({c.w[0]}, dtype, &gen);
      const bool f64 = dtype == DType::Float64;
      check_against_direct(randn(c.x, dtype, &gen), randn(c.w, dtype, &gen), b, c.o,
                           f64 ? 1e-12 : 1e-6, !f64);
    }
  }
}

TEST_CASE("conv2d: the direct depthwise kernel matches the generic im2col + GEMM path") {
  // groups == C_in runs the direct kernel. The same convolution with groups 1, one more input
  // channel of zeros (so that even C_in = 1 is not depthwise) and a dense weight that is zero
  // outside each output channel's own input channel runs im2col + GEMM.
  const Threads two(2);
  Generator gen(21);
  struct Case {
    Shape x;
    int64_t multiplier, kh, kw;
    Conv2dOptions o;
  };
  const std::vector<Case> cases = {
      {{6, 16, 20, 20}, 1, 3, 3, opts({1, 1}, {1, 1}, {1, 1}, 16)},
      {{6, 16, 20, 19}, 2, 3, 5, opts({2, 1}, {2, 1}, {2, 1}, 16)},
      {{3, 4, 9, 11}, 3, 3, 5, opts({1, 2}, {0, 2}, {1, 1}, 4)},
      {{64, 1, 1, 40}, 1, 1, 5, opts({1, 1}, {0, 2}, {1, 1}, 1)},  // ECA's conv1d as a 2-d conv
  };
  for (const Case& c : cases) {
    const int64_t channels = c.x[1], c_out = channels * c.multiplier, taps = c.kh * c.kw;
    const std::string what = shape_str(c.x) + " x" + std::to_string(c.multiplier);
    CAPTURE(what);
    const Tensor x = randn(c.x, DType::Float64, &gen).set_requires_grad();
    const Tensor w = randn({c_out, 1, c.kh, c.kw}, DType::Float64, &gen).set_requires_grad();
    const Tensor b = randn({c_out}, DType::Float64, &gen).set_requires_grad();
    const int64_t wide = channels + 1;  // the dense conv's input channels
    std::vector<double> dense_values(size_t(c_out * wide * taps), 0.0);
    const std::vector<double> wv = w.to_vector<double>();
    for (int64_t o = 0; o < c_out; ++o)
      for (int64_t t = 0; t < taps; ++t)
        dense_values[size_t((o * wide + o / c.multiplier) * taps + t)] = wv[size_t(o * taps + t)];
    const Tensor dense = from_vector(dense_values, {c_out, wide, c.kh, c.kw}).set_requires_grad();
    Shape zero_shape = c.x;
    zero_shape[1] = 1;
    const Tensor x2 = cat({x.detach(), zeros(zero_shape, DType::Float64)}, 1).set_requires_grad();
    const Tensor b2 = b.detach().set_requires_grad();
    Conv2dOptions dense_opt = c.o;
    dense_opt.groups = 1;
    const Tensor y = conv2d(x, w, b, c.o), y2 = conv2d(x2, dense, b2, dense_opt);
    const Tensor gy = randn(y.shape(), DType::Float64, &gen);
    y.backward(gy);
    y2.backward(gy);
    CHECK(max_error(y, y2.to_vector<double>()) <= 1e-12);
    CHECK(max_error(x.grad(), x2.grad().narrow(1, 0, channels).to_vector<double>()) <= 1e-12);
    CHECK(max_error(b.grad(), b2.grad().to_vector<double>()) <= 1e-12);
    const std::vector<double> dense_grad = dense.grad().to_vector<double>();
    std::vector<double> diagonal(size_t(c_out * taps));
    for (int64_t o = 0; o < c_out; ++o)
      for (int64_t t = 0; t < taps; ++t)
        diagonal[size_t(o * taps + t)] =
            dense_grad[size_t((o * wide + o / c.multiplier) * taps + t)];
    CHECK(max_error(w.grad(), diagonal) <= 1e-12);
  }
}

TEST_CASE("conv2d: gradients only for the inputs that need them and non-contiguous inputs") {
  Generator gen(3);
  const Tensor x = randn({2, 3, 6, 5}, DType::Float64, &gen);
  const Tensor w = randn({4, 3, 3, 3}, DType::Float64, &gen).set_requires_grad();
  const Conv2dOptions o = opts({1, 2}, {1, 1}, {1, 1}, 1);
  Tensor y = conv2d(x, w, Tensor(), o);
  const Tensor gy = randn(y.shape(), DType::Float64, &gen);
  y.backward(gy);
  CHECK(!x.grad().defined());
  const Direct d = direct_conv(x, w, Tensor(), gy, o);
  CHECK(max_error(w.grad(), d.dw) <= 1e-12);
  // The same values behind permuted and sliced strides.
  const Tensor xp = x.permute({3, 2, 1, 0}).contiguous().permute({3, 2, 1, 0});
  const Tensor wide = zeros({4, 3, 3, 6}, DType::Float64);
  wide.slice(3, 0, 6, 2).copy_(w.detach());
  REQUIRE(!xp.is_contiguous());
  CHECK(max_error(conv2d(xp, wide.slice(3, 0, 6, 2), Tensor(), o), d.y) <= 1e-12);
}

TEST_CASE("im2col and col2im: the definition, and col2im is im2col's adjoint") {
  Generator gen(8);
  const Conv2dOptions o = opts({2, 1}, {1, 2}, {1, 2}, 1);
  const Tensor x = randn({2, 3, 5, 6}, DType::Float64, &gen);
  const int64_t kh = 2, kw = 3;
  const int64_t ho = (5 + 2 - 1 - 1) / 2 + 1, wo = (6 + 4 - 4 - 1) / 1 + 1;
  Tensor col = empty({3 * kh * kw, 2 * ho * wo}, DType::Float64);
  im2col_kernel(x.device(), x, col, kh, kw, o);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t p = 0; p < kh; ++p)
      for (int64_t q = 0; q < kw; ++q)
        for (int64_t n = 0; n < 2; ++n)
          for (int64_t i = 0; i < ho; ++i)
            for (int64_t j = 0; j < wo; ++j) {
              const int64_t ih = i * 2 - 1 + p, iw = j - 2 + q * 2;
              const bool in = ih >= 0 && ih < 5 && iw >= 0 && iw < 6;
              CHECK(col.at({(c * kh + p) * kw + q, (n * ho + i) * wo + j}) ==
                    (in ? x.at({n, c, ih, iw}) : 0.0));
            }
  // <im2col(x), r> == <x, col2im(r)> for a random r.
  const Tensor r = randn(col.shape(), DType::Float64, &gen);
  Tensor back = empty(x.shape(), DType::Float64);
  col2im_kernel(x.device(), r, back, kh, kw, o);
  CHECK(sum(col * r).item() == doctest::Approx(sum(x * back).item()).epsilon(1e-12));
}

TEST_CASE("conv2d, conv1d: match PyTorch fixtures (values and gradients, 1e-10)") {
  auto bias = [](const Xs& x) { return x.size() > 2 ? x[2] : Tensor(); };
  test::check_fixtures("conv", {
      {"conv2d", [&](const FixtureCase& c, const Xs& x) {
         return conv2d(x[0], x[1], bias(x), fixture_opts(c));
       }},
      {"conv1d", [&](const FixtureCase& c, const Xs& x) {
         const Conv2dOptions o = fixture_opts(c);
         Conv1dOptions o1;
         o1.stride = o.stride[1];
         o1.padding = o.padding[1];
         o1.dilation = o.dilation[1];
         o1.groups = o.groups;
         return conv1d(x[0], x[1], bias(x), o1);
       }},
  });
}

TEST_CASE("gradcheck: conv2d and conv1d") {
  std::vector<test::OpCase> cases;
  auto c2 = [&](const std::string& name, Shape x, Shape w, bool bias, Conv2dOptions o) {
    std::vector<Shape> shapes = {x, w};
    if (bias) shapes.push_back({w[0]});
    cases.push_back({"conv2d " + name, shapes, [o](const Xs& t) {
                       return conv2d(t[0], t[1], t.size() > 2 ? t[2] : Tensor(), o);
                     }});
  };
  auto c1 = [&](const std::string& name, Shape x, Shape w, bool bias, Conv1dOptions o) {
    std::vector<Shape> shapes = {x, w};
    if (bias) shapes.push_back({w[0]});
    cases.push_back({"conv1d " + name, shapes, [o](const Xs& t) {
                       return conv1d(t[0], t[1], t.size() > 2 ? t[2] : Tensor(), o);
                     }});
  };
  c2("3x3 pad 1 bias", {2, 3, 5, 4}, {2, 3, 3, 3}, true, opts({1, 1}, {1, 1}, {1, 1}, 1));
  c2("3x2 stride [2, 1] pad [1, 2] dilation [2, 1]", {2, 2, 6, 5}, {3, 2, 3, 2}, false,
     opts({2, 1}, {1, 2}, {2, 1}, 1));
  c2("dilation 2 pad 2 (BAM/SK style)", {2, 2, 6, 6}, {2, 2, 3, 3}, true,
     opts({1, 1}, {2, 2}, {2, 2}, 1));
  c2("groups 2 stride 2", {2, 4, 5, 6}, {4, 2, 3, 3}, true, opts({2, 2}, {1, 1}, {1, 1}, 2));
  c2("depthwise groups = C_in", {2, 3, 5, 4}, {3, 1, 3, 3}, true,
     opts({1, 1}, {1, 1}, {1, 1}, 3));
  c2("1x1 (x read in place)", {2, 3, 4, 5}, {2, 3, 1, 1}, true, opts({1, 1}, {0, 0}, {1, 1}, 1));
  c2("1x1 stride 2 (ResNet downsample)", {2, 3, 5, 4}, {4, 3, 1, 1}, false,
     opts({2, 2}, {0, 0}, {1, 1}, 1));
  c2("7x7 2 -> 1 pad 3 (CBAM spatial)", {2, 2, 7, 8}, {1, 2, 7, 7}, false,
     opts({1, 1}, {3, 3}, {1, 1}, 1));
  c2("unbatched [C, H, W]", {3, 4, 5}, {2, 3, 2, 2}, true, opts({1, 1}, {1, 0}, {1, 1}, 1));
  Conv1dOptions k3;
  k3.padding = 1;
  c1("k 3 pad 1 bias", {2, 3, 7}, {2, 3, 3}, true, k3);
  Conv1dOptions mixed;
  mixed.stride = 2;
  mixed.dilation = 2;
  mixed.padding = 1;
  mixed.groups = 2;
  c1("stride 2 dilation 2 groups 2", {2, 4, 9}, {2, 2, 3}, true, mixed);
  for (int64_t k : {3, 5}) {
    Conv1dOptions eca;
    eca.padding = (k - 1) / 2;
    c1("ECA 1 -> 1 channel, k " + std::to_string(k), {3, 1, 8}, {1, 1, k}, false, eca);
  }
  c1("unbatched [C, L]", {3, 6}, {2, 3, 2}, false, Conv1dOptions{});
  test::check_op_cases(cases);
}

TEST_CASE("conv2d, conv1d: errors") {
  const Tensor x = zeros({2, 4, 5, 5}, DType::Float64), w = zeros({6, 2, 3, 3}, DType::Float64);
  const Conv2dOptions g2 = opts({1, 1}, {0, 0}, {1, 1}, 2);
  // Wrong ndim.
  CHECK_THROWS_WITH_AS(conv2d(zeros({4, 5}, DType::Float64), w, Tensor(), g2),
                       Contains("conv2d: input must be 4-d [N, C_in, H, W] or 3-d"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({6, 2, 3}, DType::Float64), Tensor(), g2),
                       Contains("conv2d: weight must be 4-d"), Error);
  CHECK_THROWS_WITH_AS(conv1d(x, zeros({6, 2, 3}, DType::Float64)),
                       Contains("conv1d: input must be 3-d [N, C_in, L] or 2-d"), Error);
  // Channels.
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({6, 3, 3, 3}, DType::Float64)),
                       Contains("conv2d: weight float64[6, 3, 3, 3] expects 3 input channels"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({6, 1, 3, 3}, DType::Float64), Tensor(),
                              opts({1, 1}, {0, 0}, {1, 1}, 3)),
                       Contains("conv2d: input channels 4 of float64[2, 4, 5, 5] are not "
                                "divisible by groups = 3"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({5, 2, 3, 3}, DType::Float64), Tensor(), g2),
                       Contains("conv2d: output channels 5 of weight float64[5, 2, 3, 3] are not "
                                "divisible by groups = 2"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), opts({1, 1}, {0, 0}, {1, 1}, 0)),
                       Contains("conv2d: groups must be positive, got 0"), Error);
  // Options.
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), opts({1, 0}, {0, 0}, {1, 1}, 2)),
                       Contains("conv2d: stride must be positive, got [1, 0]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), opts({1, 1}, {0, 0}, {-1, 1}, 2)),
                       Contains("conv2d: dilation must be positive, got [-1, 1]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), opts({1, 1}, {0, -1}, {1, 1}, 2)),
                       Contains("conv2d: padding must be non-negative, got [0, -1]"), Error);
  Conv1dOptions bad1;
  bad1.stride = 0;
  CHECK_THROWS_WITH_AS(conv1d(zeros({2, 3, 8}), zeros({1, 3, 3}), Tensor(), bad1),
                       Contains("conv1d: stride must be positive, got 0"), Error);
  // Kernel larger than the padded input (output size < 1).
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({6, 2, 3, 6}, DType::Float64), Tensor(), g2),
                       Contains("conv2d: the kernel of weight float64[6, 2, 3, 6] (extent 6 with "
                                "dilation 1) is larger than the padded input (5 + 2 x 0 padding)"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), opts({1, 1}, {0, 0}, {3, 1}, 2)),
                       Contains("(extent 7 with dilation 3) is larger than the padded input"),
                       Error);
  CHECK_NOTHROW(conv2d(x, zeros({6, 2, 3, 7}, DType::Float64), Tensor(),
                       opts({1, 1}, {0, 1}, {1, 1}, 2)));
  // dtype and device.
  CHECK_THROWS_WITH_AS(conv2d(x, w.to(DType::Float32), Tensor(), g2),
                       Contains("conv2d: dtypes differ: float64[2, 4, 5, 5] and "
                                "float32[6, 2, 3, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, zeros({6}), g2),
                       Contains("conv2d: dtypes differ: float64[2, 4, 5, 5] and float32[6]"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x.to(DType::Int64), w.to(DType::Int64), Tensor(), g2),
                       Contains("conv2d: expected a float32 or float64 tensor"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, fake_cuda({6, 2, 3, 3}), Tensor(), g2),
                       Contains("conv2d: tensors are on different devices"), Error);
  CHECK_THROWS_WITH_AS(conv1d(zeros({2, 3, 8}, DType::Float64), zeros({1, 3, 3}, DType::Float64),
                              fake_cuda({1})),
                       Contains("conv1d: tensors are on different devices"), Error);
  // Bias shape.
  CHECK_THROWS_WITH_AS(conv2d(x, w, zeros({4}, DType::Float64), g2),
                       Contains("conv2d: bias must be [6] (one per output channel of weight "
                                "float64[6, 2, 3, 3]), got float64[4]"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, zeros({1, 6}, DType::Float64), g2),
                       Contains("conv2d: bias must be [6]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(Tensor(), w), Contains("conv2d: got an undefined"), Error);
}
