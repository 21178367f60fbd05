// 2-D pools: hand-computed values (ties, -inf padding, NaN), agreement with brute-force
// reference loops written here from the definitions for many option combinations, adaptive
// bins that do not divide the input, PyTorch fixtures, the global-pool case, layouts and
// threads, gradient checks, and errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <sstream>
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
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();
std::vector<int64_t> ints(const Tensor& t) { return t.to_vector<int64_t>(); }

Tensor plane(const std::vector<double>& v, int64_t h, int64_t w) {
  return from_values(v, {1, 1, h, w}, DType::Float64);
}

Pool2dOptions square(int64_t k, int64_t s, int64_t p) {
  Pool2dOptions o;
  o.kernel = {k, k};
  o.stride = {s, s};
  o.padding = {p, p};
  return o;
}

std::string opt_str(const Pool2dOptions& o) {
  auto pr = [](const std::array<int64_t, 2>& a) { return shape_str({a[0], a[1]}); };
  std::ostringstream os;
  os << "k" << pr(o.kernel) << " s" << pr(o.stride) << " p" << pr(o.padding) << " d"
     << pr(o.dilation) << (o.ceil_mode ? " ceil" : "")
     << (o.count_include_pad ? " include_pad" : "");
  return os.str();
}

// ---- the reference: every output's taps (flat indices ih * W + iw inside the plane, in
// row-major scan order) and its count_include_pad divisor, from the definitions ------------

struct RefWindows {
  int64_t oh = 0, ow = 0;
  std::vector<std::vector<int64_t>> taps;  // [oh * ow]
  std::vector<double> padded_count;        // taps inside the padded input
};

// Output positions along one axis: floor mode keeps windows that fit in the padded input;
// ceil mode keeps a window while it starts inside the input or the left padding and the
// window before it has not reached the padded input's last element.
int64_t ref_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  int64_t n = 0;
  for (;; ++n) {
    const int64_t start = n * s - p, reach = d * (k - 1);
    const bool keep = ceil_mode ? start < in && (n - 1) * s - p + reach < in + p - 1
                                : start + reach <= in + p - 1;
    if (!keep) return n;
  }
}

RefWindows ref_windows(int64_t h, int64_t w, const Pool2dOptions& o) {
  RefWindows r;
  r.oh = ref_out(h, o.kernel[0], o.stride[0], o.padding[0], o.dilation[0], o.ceil_mode);
  r.ow = ref_out(w, o.kernel[1], o.stride[1], o.padding[1], o.dilation[1], o.ceil_mode);
  for (int64_t oh = 0; oh < r.oh; ++oh)
    for (int64_t ow = 0; ow < r.ow; ++ow) {
      std::vector<int64_t> taps;
      double padded = 0;
      for (int64_t i = 0; i < o.kernel[0]; ++i)
        for (int64_t j = 0; j < o.kernel[1]; ++j) {
          const int64_t ih = oh * o.stride[0] - o.padding[0] + i * o.dilation[0];
          const int64_t iw = ow * o.stride[1] - o.padding[1] + j * o.dilation[1];
          if (ih >= 0 && ih < h && iw >= 0 && iw < w) taps.push_back(ih * w + iw);
          if (ih >= -o.padding[0] && ih < h + o.padding[0] && iw >= -o.padding[1] &&
              iw < w + o.padding[1])
            ++padded;
        }
      r.taps.push_back(taps);
      r.padded_count.push_back(padded);
    }
  return r;
}

// Adaptive bin i takes the rows whose extent [r, r + 1) overlaps [i H / oh, (i + 1) H / oh).
RefWindows ref_adaptive(int64_t h, int64_t w, int64_t oh_n, int64_t ow_n) {
  auto in_bin = [](int64_t r, int64_t i, int64_t in, int64_t out) {
    return (r + 1) * out > i * in && r * out < (i + 1) * in;
  };
  RefWindows r;
  r.oh = oh_n;
  r.ow = ow_n;
  for (int64_t oh = 0; oh < oh_n; ++oh)
    for (int64_t ow = 0; ow < ow_n; ++ow) {
      std::vector<int64_t> taps;
      for (int64_t ih = 0; ih < h; ++ih)
        for (int64_t iw = 0; iw < w; ++iw)
          if (in_bin(ih, oh, h, oh_n) && in_bin(iw, ow, w, ow_n)) taps.push_back(ih * w + iw);
      r.padded_count.push_back(double(taps.size()));
      r.taps.push_back(taps);
    }
  return r;
}

struct RefResult {
  std::vector<double> y, dx;
  std::vector<int64_t> indices;
};

// Forward and backward (upstream g) of a max or avg pool of x [N, C, H, W] over `win`.
RefResult ref_pool(const Tensor& x, const Tensor& g, const RefWindows& win, bool is_max,
                   bool count_include_pad) {
  const std::vector<double> xv = values(x), gv = values(g);
  const int64_t planes = x.size(0) * x.size(1), in = x.size(2) * x.size(3);
  const int64_t out = win.oh * win.ow;
  RefResult r{std::vector<double>(size_t(planes * out)), std::vector<double>(xv.size(), 0.0),
              std::vector<int64_t>(size_t(planes * out), -1)};
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t o = 0; o < out; ++o) {
      const std::vector<int64_t>& taps = win.taps[o];
      const int64_t at = p * out + o;
      if (is_max) {
        double best = -kInf;
        int64_t arg = taps.empty() ? -1 : taps[0];
        for (int64_t t : taps) {
          const double v = xv[p * in + t];
          if (v > best || std::isnan(v)) best = v, arg = t;
        }
        r.y[at] = best;
        r.indices[at] = arg;
        if (arg >= 0) r.dx[p * in + arg] += gv[at];
      } else {
        const double div = count_include_pad ? win.padded_count[o] : double(taps.size());
        double s = 0;
        for (int64_t t : taps) s += xv[p * in + t];
        r.y[at] = s / div;
        for (int64_t t : taps) r.dx[p * in + t] += gv[at] / div;
      }
    }
  return r;
}

void check_near(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(a[i] - b[i]) <= tol * std::max(1.0, std::abs(b[i])));
  }
}

// Runs fovea's pool (values, and indices for max pools) with a gradient and compares both
// directions with the reference.
void check_against_reference(const Tensor& x, const RefWindows& win, bool is_max,
                             bool count_include_pad,
                             const std::function<MaxPoolResult(const Tensor&)>& run) {
  Generator gen(11);
  Tensor leaf = x.detach().set_requires_grad();
  MaxPoolResult got = run(leaf);
  REQUIRE(got.values.shape() == Shape{x.size(0), x.size(1), win.oh, win.ow});
  Tensor g = randn(got.values.shape(), DType::Float64, &gen);
  got.values.backward(g);
  const RefResult want = ref_pool(x, g, win, is_max, count_include_pad);
  if (is_max) {
    CHECK(values(got.values) == want.y);  // the same taps in the same order: exact
    CHECK(ints(got.indices) == want.indices);
    CHECK(values(leaf.grad()) == want.dx);
  } else {
    check_near(values(got.values), want.y, 1e-14);
    check_near(values(leaf.grad()), want.dx, 1e-14);
  }
}
}  // namespace

TEST_CASE("max_pool2d: hand-computed values, first index on ties") {
  // 4x4 plane, 2x2 windows: maxima 6, 8 / 14, 16 at their positions.
  Tensor x = plane({1, 6, 3, 4, 5, 2, 8, 7, 9, 10, 16, 12, 13, 14, 15, 11}, 4, 4);
  MaxPoolResult r = max_pool2d_with_indices(x, square(2, 2, 0));
  CHECK(values(r.values) == std::vector<double>{6, 8, 14, 16});
  CHECK(ints(r.indices) == std::vector<int64_t>{1, 6, 13, 10});
  CHECK(r.indices.dtype() == DType::Int64);
  // Ties: the first maximum in row-major scan order wins, (0, 1) before (1, 0).
  Tensor t = plane({0, 5, 5, 1}, 2, 2);
  CHECK(ints(max_pool2d_with_indices(t, square(2, 2, 0)).indices) == std::vector<int64_t>{1});
  // ReLU-style zeros: the gradient goes to one of them, the first.
  Tensor z = zeros({1, 1, 2, 3}, DType::Float64).set_requires_grad();
  Pool2dOptions row;
  row.kernel = {2, 3};
  max_pool2d(z, row).backward(ones({1, 1, 1, 1}, DType::Float64));
  CHECK(values(z.grad()) == std::vector<double>{1, 0, 0, 0, 0, 0});
}

TEST_CASE("max_pool2d: -inf padding is never chosen, even over negative values") {
  // 3x3 windows, stride 1, padding 1 over a 2x3 plane of negatives: every window holds
  // padding, every result is a real value with a real index.
  Tensor x = plane({-5, -1, -7, -3, -9, -2}, 2, 3).set_requires_grad();
  MaxPoolResult r = max_pool2d_with_indices(x, square(3, 1, 1));
  CHECK(values(r.values) == std::vector<double>{-1, -1, -1, -1, -1, -1});
  CHECK(ints(r.indices) == std::vector<int64_t>{1, 1, 1, 1, 1, 1});
  r.values.backward(ones({1, 1, 2, 3}, DType::Float64));
  CHECK(values(x.grad()) == std::vector<double>{0, 6, 0, 0, 0, 0});
  // A window of -inf values keeps its first tap, as PyTorch's kernel does.
  Tensor inf = plane({-kInf, -kInf, -kInf, -kInf}, 2, 2);
  MaxPoolResult ri = max_pool2d_with_indices(inf, square(2, 1, 1));
  CHECK(values(ri.values) == std::vector<double>(9, -kInf));
  CHECK(ints(ri.indices) == std::vector<int64_t>{0, 0, 1, 0, 0, 1, 2, 2, 3});
}

TEST_CASE("max_pool2d: NaN wins, the last NaN of a window gives the index, as PyTorch's kernel") {
  Tensor x = plane({1, kNaN, 3, kNaN, 2, 0}, 2, 3).set_requires_grad();
  Pool2dOptions o;
  o.kernel = {2, 3};
  MaxPoolResult r = max_pool2d_with_indices(x, o);
  CHECK(std::isnan(r.values.item()));
  CHECK(ints(r.indices) == std::vector<int64_t>{3});
  r.values.backward(full({1, 1, 1, 1}, 2.0, DType::Float64));
  CHECK(values(x.grad()) == std::vector<double>{0, 0, 0, 2, 0, 0});
  // Windows without a NaN are unaffected.
  MaxPoolResult r2 = max_pool2d_with_indices(x, square(1, 1, 0));
  CHECK(r2.values.at({0, 0, 0, 2}) == 3);
  CHECK(ints(adaptive_max_pool2d_with_indices(x, {1, 1}).indices) == std::vector<int64_t>{3});
}

TEST_CASE("max_pool2d: a dilated window with no tap inside the input gives -inf, index -1") {
  // 1x3 plane, kernel (2, 1), dilation (2, 1), padding (1, 0): rows -1 and 1 are both outside
  // (PyTorch also gives -inf, with an index outside the plane). No gradient flows from it.
  Tensor x = plane({1, 2, 3}, 1, 3).set_requires_grad();
  Pool2dOptions o;
  o.kernel = {2, 1};
  o.stride = {1, 1};
  o.padding = {1, 0};
  o.dilation = {2, 1};
  MaxPoolResult r = max_pool2d_with_indices(x, o);
  CHECK(values(r.values) == std::vector<double>{-kInf, -kInf, -kInf});
  CHECK(ints(r.indices) == std::vector<int64_t>{-1, -1, -1});
  r.values.backward(ones({1, 1, 1, 3}, DType::Float64));
  CHECK(values(x.grad()) == std::vector<double>{0, 0, 0});
}

TEST_CASE("avg_pool2d: hand-computed ceil_mode and count_include_pad divisors") {
  // Row 1..7, kernel (1, 3), stride (1, 2), padding (0, 1), ceil_mode: windows start at
  // -1, 1, 3, 5; the last, [5, 8), is clipped to the padded row [-1, 8) (no change here).
  Tensor x = plane({1, 2, 3, 4, 5, 6, 7}, 1, 7);
  Pool2dOptions o;
  o.kernel = {1, 3};
  o.stride = {1, 2};
  o.padding = {0, 1};
  o.ceil_mode = true;
  check_near(values(avg_pool2d(x, o)), {3.0 / 3, 9.0 / 3, 15.0 / 3, 13.0 / 3}, 1e-15);
  o.count_include_pad = false;
  check_near(values(avg_pool2d(x, o)), {3.0 / 2, 9.0 / 3, 15.0 / 3, 13.0 / 2}, 1e-15);
  // Row 1..6: the last ceil_mode window [5, 8) runs past the padded row [-1, 7): the padding
  // column 6 counts, column 7 does not, so the divisor is 2 (PyTorch's kernel).
  Tensor x6 = plane({1, 2, 3, 4, 5, 6}, 1, 6);
  o.count_include_pad = true;
  check_near(values(avg_pool2d(x6, o)), {3.0 / 3, 9.0 / 3, 15.0 / 3, 6.0 / 2}, 1e-15);
  o.count_include_pad = false;
  check_near(values(avg_pool2d(x6, o)), {3.0 / 2, 9.0 / 3, 15.0 / 3, 6.0 / 1}, 1e-15);
  // The gradient spreads g / divisor over the real taps.
  Tensor leaf = x6.detach().set_requires_grad();
  avg_pool2d(leaf, o).backward(ones({1, 1, 1, 4}, DType::Float64));
  check_near(values(leaf.grad()), {0.5, 0.5 + 1.0 / 3, 1.0 / 3, 2.0 / 3, 1.0 / 3, 1.0 / 3 + 1},
             1e-15);
}

TEST_CASE("adaptive pools: bins of sizes that do not divide, by hand") {
  // H = 7 -> 3 bins: [0, 3), [2, 5), [4, 7) (they overlap on rows 2 and 4).
  Tensor x = from_values({1, 2, 3, 4, 5, 6, 7}, {1, 1, 7, 1}, DType::Float64);
  check_near(values(adaptive_avg_pool2d(x, {3, 1})), {2, 4, 6}, 1e-15);
  MaxPoolResult m = adaptive_max_pool2d_with_indices(x, {3, -1});
  CHECK(values(m.values) == std::vector<double>{3, 5, 7});
  CHECK(ints(m.indices) == std::vector<int64_t>{2, 4, 6});
  // Output larger than the input: 2 -> 3 bins [0, 1), [0, 2), [1, 2).
  Tensor y = from_values({1, 3}, {1, 1, 1, 2}, DType::Float64).set_requires_grad();
  Tensor a = adaptive_avg_pool2d(y, {1, 3});
  check_near(values(a), {1, 2, 3}, 1e-15);
  a.backward(ones({1, 1, 1, 3}, DType::Float64));
  CHECK(values(y.grad()) == std::vector<double>{1.5, 1.5});
}

TEST_CASE("max_pool2d and avg_pool2d agree with brute-force loops over many options") {
  Generator gen(5);
  int checked = 0, too_small = 0;
  for (const Shape& hw : {Shape{7, 5}, Shape{4, 6}}) {
    const Tensor x = randn({2, 2, hw[0], hw[1]}, DType::Float64, &gen);
    for (const std::array<int64_t, 2>& k : {std::array<int64_t, 2>{2, 2}, {3, 3}, {2, 3}})
      for (int64_t s : {1, 2, 3})
        for (int64_t p : {0, 1})
          for (bool ceil_mode : {false, true})
            for (int64_t variant : {0, 1}) {  // dilation 2 (max) / count_include_pad off (avg)
              Pool2dOptions o;
              o.kernel = k;
              o.stride = {s, s};
              o.padding = {p, p};
              o.ceil_mode = ceil_mode;
              for (bool is_max : {true, false}) {
                Pool2dOptions oo = o;
                if (is_max) oo.dilation = {1 + variant, 1 + variant};
                else oo.count_include_pad = variant == 0;
                const std::string what =
                    std::string(is_max ? "max " : "avg ") + shape_str(hw) + " " + opt_str(oo);
                CAPTURE(what);
                const RefWindows win = ref_windows(hw[0], hw[1], oo);
                if (win.oh < 1 || win.ow < 1) {
                  ++too_small;
                  CHECK_THROWS_WITH_AS(is_max ? max_pool2d(x, oo) : avg_pool2d(x, oo),
                                       doctest::Contains("is too small"), Error);
                  continue;
                }
                ++checked;
                check_against_reference(x, win, is_max, oo.count_include_pad,
                                        [&](const Tensor& in) -> MaxPoolResult {
                                          if (is_max) return max_pool2d_with_indices(in, oo);
                                          return {avg_pool2d(in, oo), Tensor()};
                                        });
              }
            }
  }
  CHECK(checked > 250);
  CHECK(too_small > 0);  // dilated 3x3 windows do not fit the 4-row plane
}

TEST_CASE("adaptive pools agree with brute-force bins, including outputs larger than input") {
  Generator gen(6);
  const std::vector<std::array<int64_t, 4>> sizes = {
      {7, 5, 3, 2}, {5, 7, 2, 3}, {3, 4, 5, 7}, {6, 5, 4, 4}, {7, 9, 1, 1}, {4, 4, 2, 2}};
  for (const auto& s : sizes) {
    const Tensor x = randn({2, 3, s[0], s[1]}, DType::Float64, &gen);
    const RefWindows win = ref_adaptive(s[0], s[1], s[2], s[3]);
    const std::string what = shape_str({s[0], s[1]}) + " -> " + shape_str({s[2], s[3]});
    CAPTURE(what);
    check_against_reference(x, win, true, true, [&](const Tensor& in) {
      return adaptive_max_pool2d_with_indices(in, {s[2], s[3]});
    });
    check_against_reference(x, win, false, true, [&](const Tensor& in) -> MaxPoolResult {
      return {adaptive_avg_pool2d(in, {s[2], s[3]}), Tensor()};
    });
  }
}

TEST_CASE("adaptive pools: -1 keeps a size, {1, 1} is the global mean / max") {
  Generator gen(8);
  const Tensor x = randn({2, 3, 6, 5}, DType::Float64, &gen);
  check_near(values(adaptive_avg_pool2d(x, {1, 1})), values(mean(x, {2, 3}, true)), 1e-15);
  check_near(values(adaptive_avg_pool2d(x, {-1, 1})), values(mean(x, {3}, true)), 1e-15);
  check_near(values(adaptive_avg_pool2d(x, {1, -1})), values(mean(x, {2}, true)), 1e-15);
  CHECK(adaptive_avg_pool2d(x, {-1, -1}).shape() == x.shape());
  CHECK(values(adaptive_avg_pool2d(x, {-1, -1})) == values(x));
  MaxPoolResult m = adaptive_max_pool2d_with_indices(x, {1, 1});
  CHECK(values(m.values) == values(amax(x, {2, 3}, true)));
  CHECK(ints(m.indices) == ints(argmax(x.flatten(2), 2, true).unsqueeze(3)));
  CHECK(values(adaptive_max_pool2d(x, {-1, 1})) == values(amax(x, {3}, true)));
}

TEST_CASE("pools: unbatched [C, H, W], any layout, float32, and node names") {
  Generator gen(9);
  const Tensor x = randn({2, 3, 7, 6}, DType::Float64, &gen);
  // Channels-last storage: the same values, strides (H W C, 1, W C, C).
  const Tensor cl = x.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});
  REQUIRE(!cl.is_contiguous());
  Pool2dOptions o = square(3, 2, 1);
  o.ceil_mode = true;
  const std::vector<std::function<Tensor(const Tensor&)>> ops = {
      [&](const Tensor& t) { return max_pool2d(t, o); },
      [&](const Tensor& t) { return avg_pool2d(t, o); },
      [](const Tensor& t) { return adaptive_avg_pool2d(t, {3, 4}); },
      [](const Tensor& t) { return adaptive_max_pool2d(t, {3, 4}); }};
  for (size_t i = 0; i < ops.size(); ++i) {
    CAPTURE(i);
    const Tensor y = ops[i](x);
    CHECK(values(ops[i](cl)) == values(y));
    const Tensor y1 = ops[i](x.select(0, 1));
    CHECK(y1.shape() == Shape{3, y.size(2), y.size(3)});
    CHECK(values(y1) == values(y.select(0, 1)));
    check_near(values(ops[i](x.to(DType::Float32))), values(y), 1e-6);
  }
  CHECK(max_pool2d_with_indices(x.select(0, 0), o).indices.shape() ==
        max_pool2d(x.select(0, 0), o).shape());
  Tensor leaf = x.detach().set_requires_grad();
  CHECK(max_pool2d(leaf, o).grad_fn()->name() == "MaxPool2dBackward");
  CHECK(avg_pool2d(leaf, o).grad_fn()->name() == "AvgPool2dBackward");
  CHECK(adaptive_avg_pool2d(leaf, {1, 1}).grad_fn()->name() == "AdaptiveAvgPool2dBackward");
  CHECK(adaptive_max_pool2d(leaf, {1, 1}).grad_fn()->name() == "AdaptiveMaxPool2dBackward");
  CHECK(max_pool2d(x, o).grad_fn() == nullptr);
  // An empty batch is allowed (as in PyTorch).
  CHECK(max_pool2d(zeros({0, 2, 4, 4}), o).shape() == Shape{0, 2, 3, 3});
  CHECK(adaptive_avg_pool2d(zeros({0, 2, 4, 4}), {1, 1}).shape() == Shape{0, 2, 1, 1});
  // The unbatched gradient reaches the 3-d leaf.
  Tensor leaf3 = x.select(0, 0).detach().set_requires_grad();
  sum(avg_pool2d(leaf3, o)).backward();
  CHECK(leaf3.grad().shape() == leaf3.shape());
}

TEST_CASE("pools: two threads give the same result as one") {
  Generator gen(4);
  const Tensor x = randn({4, 16, 33, 31}, DType::Float32, &gen);
  Pool2dOptions o = square(3, 2, 1);
  o.ceil_mode = true;
  const std::vector<std::function<Tensor(const Tensor&)>> ops = {
      [&](const Tensor& t) { return max_pool2d(t, o); },
      [&](const Tensor& t) { return avg_pool2d(t, o); },
      [](const Tensor& t) { return adaptive_avg_pool2d(t, {1, 1}); },
      [](const Tensor& t) { return adaptive_max_pool2d(t, {5, 7}); }};
  for (size_t i = 0; i < ops.size(); ++i) {
    CAPTURE(i);
    auto run = [&](int threads) {
      const int before = get_num_threads();
      set_num_threads(threads);
      Tensor leaf = x.detach().set_requires_grad();
      Tensor y = ops[i](leaf);
      y.backward(full(y.shape(), 0.5, DType::Float32));
      set_num_threads(before);
      return std::make_pair(values(y), values(leaf.grad()));
    };
    CHECK(run(1) == run(2));
  }
}

TEST_CASE("pools: match PyTorch fixtures (values and gradients, 1e-10)") {
  auto pair = [](const FixtureCase& c, const char* key) {
    const auto v = c.args.at(key).get<std::vector<int64_t>>();
    return std::array<int64_t, 2>{v.at(0), v.at(1)};
  };
  auto options = [&](const FixtureCase& c) {
    Pool2dOptions o;
    o.kernel = pair(c, "kernel");
    o.stride = pair(c, "stride");
    o.padding = pair(c, "padding");
    o.dilation = pair(c, "dilation");
    o.ceil_mode = c.args.at("ceil_mode").get<bool>();
    o.count_include_pad = c.args.at("count_include_pad").get<bool>();
    return o;
  };
  test::check_fixtures("pool", {
      {"max_pool2d",
       [&](const FixtureCase& c, const Xs& x) { return max_pool2d(x[0], options(c)); }},
      {"avg_pool2d",
       [&](const FixtureCase& c, const Xs& x) { return avg_pool2d(x[0], options(c)); }},
      {"adaptive_avg_pool2d",
       [&](const FixtureCase& c, const Xs& x) {
         return adaptive_avg_pool2d(x[0], pair(c, "output_size"));
       }},
      {"adaptive_max_pool2d",
       [&](const FixtureCase& c, const Xs& x) {
         return adaptive_max_pool2d(x[0], pair(c, "output_size"));
       }},
  });
}

TEST_CASE("gradcheck: max, avg and adaptive pools with padding, dilation and ceil_mode") {
  Pool2dOptions stem = square(3, 2, 1);
  Pool2dOptions odd;
  odd.kernel = {2, 3};
  odd.stride = {2, 1};
  odd.padding = {1, 1};
  odd.dilation = {2, 1};
  odd.ceil_mode = true;
  Pool2dOptions ceil = square(3, 2, 1);
  ceil.ceil_mode = true;
  Pool2dOptions ceil_excl = ceil;
  ceil_excl.count_include_pad = false;
  Pool2dOptions plain = square(2, 2, 0);
  plain.ceil_mode = true;
  test::check_op_cases({
      {"max_pool2d k3 s2 p1", {{2, 3, 7, 6}}, [=](const Xs& x) { return max_pool2d(x[0], stem); }},
      {"max_pool2d k(2,3) s(2,1) p1 d(2,1) ceil", {{2, 2, 7, 5}},
       [=](const Xs& x) { return max_pool2d(x[0], odd); }},
      {"max_pool2d_with_indices ceil", {{2, 2, 6, 7}},
       [=](const Xs& x) { return max_pool2d_with_indices(x[0], ceil).values; }},
      {"max_pool2d unbatched", {{3, 7, 6}}, [=](const Xs& x) { return max_pool2d(x[0], stem); }},
      {"avg_pool2d k3 s2 p1 ceil include_pad", {{2, 2, 6, 7}},
       [=](const Xs& x) { return avg_pool2d(x[0], ceil); }},
      {"avg_pool2d k3 s2 p1 ceil exclude_pad", {{2, 2, 6, 7}},
       [=](const Xs& x) { return avg_pool2d(x[0], ceil_excl); }},
      {"avg_pool2d k2 s2 ceil", {{2, 3, 7, 5}},
       [=](const Xs& x) { return avg_pool2d(x[0], plain); }},
      {"avg_pool2d unbatched", {{3, 6, 7}}, [=](const Xs& x) { return avg_pool2d(x[0], ceil); }},
      {"adaptive_avg_pool2d 7x5 -> 3x2", {{2, 3, 7, 5}},
       [](const Xs& x) { return adaptive_avg_pool2d(x[0], {3, 2}); }},
      {"adaptive_avg_pool2d 3x4 -> 5x7", {{2, 2, 3, 4}},
       [](const Xs& x) { return adaptive_avg_pool2d(x[0], {5, 7}); }},
      {"adaptive_avg_pool2d {-1, 1}", {{2, 3, 4, 5}},
       [](const Xs& x) { return adaptive_avg_pool2d(x[0], {-1, 1}); }},
      {"adaptive_avg_pool2d global", {{2, 3, 4, 5}},
       [](const Xs& x) { return adaptive_avg_pool2d(x[0], {1, 1}); }},
      {"adaptive_max_pool2d 7x5 -> 3x2", {{2, 3, 7, 5}},
       [](const Xs& x) { return adaptive_max_pool2d(x[0], {3, 2}); }},
      {"adaptive_max_pool2d 3x4 -> 5x7", {{2, 2, 3, 4}},
       [](const Xs& x) { return adaptive_max_pool2d(x[0], {5, 7}); }},
      {"adaptive_max_pool2d global", {{2, 3, 4, 5}},
       [](const Xs& x) { return adaptive_max_pool2d(x[0], {1, 1}); }},
      {"adaptive_max_pool2d_with_indices unbatched {1, -1}", {{3, 4, 5}},
       [](const Xs& x) { return adaptive_max_pool2d_with_indices(x[0], {1, -1}).values; }},
  });
}

TEST_CASE("pools: errors") {
  const Tensor x = zeros({1, 2, 4, 4});
  const Pool2dOptions k2 = square(2, 2, 0);
  CHECK_THROWS_WITH_AS(max_pool2d(zeros({4, 4}), k2),
                       doctest::Contains("max_pool2d: expected a 3-d [C, H, W] or 4-d"), Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(zeros({1, 1, 1, 4, 4}), k2),
                       doctest::Contains("avg_pool2d: expected a 3-d [C, H, W] or 4-d"), Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(zeros({4, 4}), {1, 1}),
                       doctest::Contains("adaptive_avg_pool2d: expected a 3-d"), Error);
  CHECK_THROWS_WITH_AS(adaptive_max_pool2d(zeros({4}), {1, 1}),
                       doctest::Contains("adaptive_max_pool2d: expected a 3-d"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(zeros({1, 2, 0, 4}), k2),
                       doctest::Contains("max_pool2d: C, H and W must be non-empty"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(Tensor(), k2),
                       doctest::Contains("max_pool2d: got an undefined"), Error);

  Pool2dOptions bad = k2;
  bad.kernel = {0, 2};
  CHECK_THROWS_WITH_AS(max_pool2d(x, bad),
                       doctest::Contains("max_pool2d: kernel sizes must be positive"), Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(x, Pool2dOptions{}),
                       doctest::Contains("avg_pool2d: kernel sizes must be positive"), Error);
  bad = k2;
  bad.stride = {0, 2};
  CHECK_THROWS_WITH_AS(max_pool2d(x, bad),
                       doctest::Contains("max_pool2d: strides must be positive"), Error);
  bad.stride = {-1, -1};
  CHECK_THROWS_WITH_AS(avg_pool2d(x, bad),
                       doctest::Contains("avg_pool2d: strides must be positive"), Error);
  bad = k2;
  bad.dilation = {1, 0};
  CHECK_THROWS_WITH_AS(max_pool2d_with_indices(x, bad),
                       doctest::Contains("max_pool2d_with_indices: dilations must be positive"),
                       Error);
  bad = square(3, 1, 2);
  CHECK_THROWS_WITH_AS(max_pool2d(x, bad),
                       doctest::Contains("max_pool2d: padding must be between 0 and half the "
                                         "kernel size, got padding [2, 2] for kernel [3, 3]"),
                       Error);
  bad = square(2, 1, 0);
  bad.padding = {0, -1};
  CHECK_THROWS_WITH_AS(avg_pool2d(x, bad),
                       doctest::Contains("avg_pool2d: padding must be between 0"), Error);
  bad = k2;
  bad.dilation = {2, 2};
  CHECK_THROWS_WITH_AS(avg_pool2d(x, bad),
                       doctest::Contains("avg_pool2d: dilation is not supported"), Error);
  CHECK_THROWS_WITH_AS(
      max_pool2d(x, square(5, 1, 0)),
      doctest::Contains("max_pool2d: output size [0, 0] is too small for float32[1, 2, 4, 4]"),
      Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(zeros({2, 1, 3}), square(2, 1, 0)),
                       doctest::Contains("avg_pool2d: output size [0, 2] is too small"), Error);

  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(x, {0, 2}),
                       doctest::Contains("adaptive_avg_pool2d: output_size must be positive or "
                                         "-1 (keep the input size), got [0, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(adaptive_max_pool2d(x, {2, -2}),
                       doctest::Contains("adaptive_max_pool2d: output_size must be positive"),
                       Error);
  CHECK_THROWS_WITH_AS(adaptive_max_pool2d_with_indices(x, {-3, 1}),
                       doctest::Contains("adaptive_max_pool2d_with_indices: output_size"), Error);

  const Tensor i = from_vector<int64_t>(std::vector<int64_t>(16, 1), {1, 1, 4, 4});
  CHECK_THROWS_WITH_AS(max_pool2d(i, k2),
                       doctest::Contains("max_pool2d: expected a float32 or float64 tensor"),
                       Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(i, k2),
                       doctest::Contains("avg_pool2d: expected a float32 or float64 tensor"),
                       Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(i, {1, 1}),
                       doctest::Contains("adaptive_avg_pool2d: expected a float32 or float64"),
                       Error);
  CHECK_THROWS_WITH_AS(adaptive_max_pool2d(i, {1, 1}),
                       doctest::Contains("adaptive_max_pool2d: expected a float32 or float64"),
                       Error);
}
