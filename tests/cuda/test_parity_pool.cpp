// CUDA parity of the pooling slots (cuda/pool.cu): max_pool2d, avg_pool2d, adaptive_avg_pool2d
// and adaptive_max_pool2d, forward and backward, every layout, odd (prime) plane sizes, N and
// C > 1, and the schedule check; the arg-max indices compared on their own.
//
// Tolerances: all exact. Both devices evaluate the same formulas (engine/kernels/pool.h): max
// picks one tap; an average sums its window in double in the same four-chain order and rounds
// once; the backward passes add the same float contributions (g, or g / divisor rounded to
// float) in the same row-major order of outputs, the CPU scattering and the CUDA twin gathering.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/fovea.h"
#include "engine/kernels/pool.h"
#include "support/cuda_parity.h"

using namespace fovea;
using test::random_index;
using test::random_values;

namespace {

constexpr test::Tolerance kExact{0, 0};

// Whole numbers (truncated toward zero), as float32: windows with tied maxima.
Tensor whole(const Tensor& t) { return t.to(DType::Int64).to(DType::Float32); }

Pool2dOptions options(std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                      std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation = {1, 1},
                      bool ceil_mode = false, bool count_include_pad = true) {
  Pool2dOptions o;
  o.kernel = kernel;
  o.stride = stride;
  o.padding = padding;
  o.dilation = dilation;
  o.ceil_mode = ceil_mode;
  o.count_include_pad = count_include_pad;
  return o;
}

std::string options_str(const Pool2dOptions& o) {
  return "kernel " + shape_str({o.kernel[0], o.kernel[1]}) + " stride " +
         shape_str({o.stride[0], o.stride[1]}) + " padding " +
         shape_str({o.padding[0], o.padding[1]}) + " dilation " +
         shape_str({o.dilation[0], o.dilation[1]}) + (o.ceil_mode ? " ceil_mode" : "") +
         (o.count_include_pad ? "" : " exclude_pad");
}

// The arg-max indices of `pool` on the CUDA device and on the CPU, x in every layout: exact.
void check_indices(const std::function<MaxPoolResult(const Tensor&)>& pool, const Tensor& x,
                   const test::CudaDevice& cuda, const std::string& what) {
  for (test::Layout layout : test::all_layouts()) {
    std::optional<Tensor> dev = test::with_layout(x, layout, cuda.device());
    std::optional<Tensor> host = test::with_layout(x, layout, Device::cpu());
    if (!dev) continue;
    test::check_parity(pool(*dev).indices, pool(*host).indices, kExact,
                       what + " indices, " + test::layout_name(layout));
  }
}

// Options that exercise the window rules: padding, stride > 1, dilation, ceil_mode (whose last
// window runs past the padded edge), asymmetric kernels.
const std::vector<Pool2dOptions>& max_options() {
  static const std::vector<Pool2dOptions> o = {
      options({3, 3}, {2, 2}, {1, 1}),
      options({3, 3}, {1, 1}, {1, 1}, {2, 2}),
      options({3, 3}, {2, 2}, {1, 1}, {1, 1}, true),
      options({3, 2}, {2, 3}, {1, 1}, {2, 3}, true),
      options({2, 2}, {2, 2}, {0, 0}),
  };
  return o;
}

}  // namespace

TEST_CASE("cuda parity: max_pool2d values gradients and indices with padding dilation ceil_mode") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  const Shape shape = {2, 3, 7, 11};
  int seed = 0;
  for (const Pool2dOptions& o : max_options()) {
    for (bool ties : {false, true}) {
      Tensor x = random_values(shape, 100 + seed++, -3, 3);
      if (ties) x = whole(x);  // ties: the first maximum in row-major order wins
      const std::string name =
          "max_pool2d " + options_str(o) + (ties ? " whole numbers" : " random");
      test::check_op_parity(
          {name, [o](const std::vector<Tensor>& in) { return max_pool2d(in[0], o); }, {x}, kExact},
          cuda);
      check_indices([o](const Tensor& t) { return max_pool2d_with_indices(t, o); }, x, cuda,
                    name);
    }
  }
}

TEST_CASE("cuda parity: max_pool2d windows of padding only and NaN inputs") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  // H = 2 with kernel 2, padding 1, dilation 3: the only row window has taps at -1 and 2, both
  // padding, so every output is -inf with index -1 and no gradient flows.
  const Pool2dOptions empty_rows = options({2, 3}, {1, 2}, {1, 1}, {3, 1});
  const Tensor x = random_values({2, 3, 2, 7}, 7, -2, 2);
  const std::string name = "max_pool2d padding-only windows";
  test::check_op_parity(
      {name, [empty_rows](const std::vector<Tensor>& in) { return max_pool2d(in[0], empty_rows); },
       {x}, kExact},
      cuda);
  check_indices([empty_rows](const Tensor& t) { return max_pool2d_with_indices(t, empty_rows); },
                x, cuda, name);

  // NaN beats every number and the last NaN of a window gives the index (two NaNs share some
  // windows), in max_pool2d and adaptive_max_pool2d alike.
  std::vector<float> v = random_values({2, 2, 7, 11}, 8, -2, 2).to_vector<float>();
  for (size_t at : {size_t(3), size_t(14), size_t(16), size_t(90), size_t(200), size_t(301)})
    v[at] = NAN;
  const Tensor xn = from_vector(v, {2, 2, 7, 11});
  const Pool2dOptions o = options({3, 3}, {2, 2}, {1, 1});
  test::check_op_parity(
      {"max_pool2d NaN", [o](const std::vector<Tensor>& in) { return max_pool2d(in[0], o); },
       {xn}, kExact},
      cuda);
  check_indices([o](const Tensor& t) { return max_pool2d_with_indices(t, o); }, xn, cuda,
                "max_pool2d NaN");
  test::check_op_parity({"adaptive_max_pool2d NaN",
                         [](const std::vector<Tensor>& in) {
                           return adaptive_max_pool2d(in[0], {3, 4});
                         },
                         {xn}, kExact},
                        cuda);
  check_indices([](const Tensor& t) { return adaptive_max_pool2d_with_indices(t, {3, 4}); }, xn,
                cuda, "adaptive_max_pool2d NaN");
}

TEST_CASE("cuda parity: avg_pool2d with and without count_include_pad and ceil_mode") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  // avg_pool2d has no dilation (as PyTorch) and no divisor_override in fovea.
  const std::vector<Pool2dOptions> windows = {
      options({3, 3}, {2, 2}, {1, 1}), options({3, 2}, {1, 2}, {1, 1}),
      options({2, 3}, {3, 2}, {1, 0}), options({3, 3}, {3, 3}, {0, 0})};
  int seed = 0;
  for (Pool2dOptions o : windows)
    for (bool ceil_mode : {false, true})
      for (bool include_pad : {true, false}) {
        o.ceil_mode = ceil_mode;
        o.count_include_pad = include_pad;
        test::check_op_parity({"avg_pool2d " + options_str(o),
                               [o](const std::vector<Tensor>& in) { return avg_pool2d(in[0], o); },
                               {random_values({2, 3, 7, 11}, 200 + seed++, -2, 2)}, kExact},
                              cuda);
      }
}

TEST_CASE("cuda parity: adaptive avg and max pools growing shrinking and global") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  struct AdaptiveCase {
    Shape in;
    std::array<int64_t, 2> out;
  };
  // Bins that overlap and repeat rows (out > in), that do not divide, the global pool, one axis
  // kept (-1), and an unbatched [C, H, W] input.
  const std::vector<AdaptiveCase> cases = {{{2, 3, 5, 7}, {8, 9}},
                                           {{2, 3, 7, 11}, {3, 4}},
                                           {{2, 3, 7, 11}, {1, 1}},
                                           {{2, 3, 7, 11}, {-1, 2}},
                                           {{3, 7, 5}, {4, 3}}};
  int seed = 0;
  for (const AdaptiveCase& c : cases) {
    const std::string sizes = shape_str(c.in) + " to " + shape_str({c.out[0], c.out[1]});
    const Tensor x = random_values(c.in, 300 + seed++, -2, 2);
    test::check_op_parity({"adaptive_avg_pool2d " + sizes,
                           [c](const std::vector<Tensor>& in) {
                             return adaptive_avg_pool2d(in[0], c.out);
                           },
                           {x}, kExact},
                          cuda);
    for (bool ties : {false, true}) {
      const Tensor xm = ties ? whole(x * 2) : x;
      const std::string name =
          "adaptive_max_pool2d " + sizes + (ties ? " whole numbers" : " random");
      test::check_op_parity({name,
                             [c](const std::vector<Tensor>& in) {
                               return adaptive_max_pool2d(in[0], c.out);
                             },
                             {xm}, kExact},
                            cuda);
      check_indices([c](const Tensor& t) { return adaptive_max_pool2d_with_indices(t, c.out); },
                    xm, cuda, name);
    }
  }
}

TEST_CASE("cuda parity: pool gather ranges hold every output whose window reaches an input") {
  // The CUDA backward passes loop over PoolAxis::covering(i) only: an output left out of the
  // range would lose its gradient. Checked against every span, for many window geometries and
  // adaptive sizes; the range must also be tight (each output in it has a window reaching i,
  // ignoring dilation's gaps), or the gather does needless work.
  using pool::PoolAxis;
  // The first output that breaks the rule for input i, or -1 (plain tests, no assertion per
  // element: there are about a million).
  const auto bad_output = [](const PoolAxis& a, int64_t i) -> int64_t {
    const pool::OutRange r = a.covering(i);
    if (r.first < 0 || r.last > a.out) return a.out;
    for (int64_t o = 0; o < a.out; ++o) {
      const pool::Span s = a.span(o);
      const bool inside = o >= r.first && o < r.last;
      const int64_t start = o * a.stride - a.padding;
      const bool reaches = a.adaptive ? s.begin <= i && i < s.end
                                      : start <= i && i <= start + (a.kernel - 1) * a.dilation;
      if (pool::has_tap(s, i) && !inside) return o;
      if (inside && !reaches) return o;
    }
    return -1;
  };
  const auto check_axis = [&](const PoolAxis& a, const std::string& what) {
    for (int64_t i = 0; i < a.in; ++i) {
      const int64_t o = bad_output(a, i);
      if (o >= 0)
        FAIL(what << ": input " << i << ", output " << o << ", range [" << a.covering(i).first
                  << ", " << a.covering(i).last << ")");
    }
  };
  int64_t axes = 0;
  for (int64_t in = 1; in <= 13; ++in) {
    for (int64_t out = 1; out <= 15; ++out, ++axes)
      check_axis(pool::adaptive_axis(in, out), "adaptive " + std::to_string(in) + " to " +
                                                   std::to_string(out));
    for (int64_t kernel = 1; kernel <= 4; ++kernel)
      for (int64_t stride = 1; stride <= 3; ++stride)
        for (int64_t padding = 0; padding <= kernel / 2; ++padding)
          for (int64_t dilation = 1; dilation <= 3; ++dilation)
            for (bool ceil_mode : {false, true}) {
              const int64_t out =
                  pool_output_size(in, kernel, stride, padding, dilation, ceil_mode);
              if (out < 1) continue;
              ++axes;
              check_axis(pool::window_axis(in, out, kernel, stride, padding, dilation),
                         "in " + std::to_string(in) + " kernel " + std::to_string(kernel) +
                             " stride " + std::to_string(stride) + " padding " +
                             std::to_string(padding) + " dilation " + std::to_string(dilation) +
                             (ceil_mode ? " ceil_mode" : ""));
            }
  }
  CHECK(axes > 1000);
}
