// GSA (spec §14): the reference state_dict names, the init, the constraints and the slot's
// options (rel_pos_length=global), the forward written out by hand with loops (masked offsets,
// norm_queries, eval BN), the maps, the strided replacement (average pooling after the
// module), the attention-matrix memory at 32x32 and 64x64 and its refusal before allocating,
// float64 gradient checks of every variant in train and eval mode, and GSA inside ResNets.
// Values against PyTorch are in test_fixtures.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "attention/gsa.h"
#include "attention/memory.h"
#include "attention/register.h"
#include "engine/core/cpu_allocator.h"
#include "engine/fovea.h"
#include "layers/resnet.h"
#include "support/module_check.h"
#include "support/small_machine.h"

using namespace fovea;
using namespace fovea::attention;
using doctest::Contains;

namespace {

GSAOptions gsa_opts(int64_t heads, int64_t dim_key, int64_t L, bool norm_queries = false,
                    bool batch_norm = true) {
  GSAOptions o;
  o.heads = heads;
  o.dim_key = dim_key;
  o.rel_pos_length = L;
  o.norm_queries = norm_queries;
  o.batch_norm = batch_norm;
  return o;
}

std::shared_ptr<GSA> gsa64(int64_t dim, int64_t dim_out, int64_t stride, const GSAOptions& o,
                           bool train) {
  auto m = std::make_shared<GSA>(dim, dim_out, stride, o);
  m->to(DType::Float64);
  m->train(train);
  return m;
}

double sample_std(const Tensor& w) {
  const Tensor c = w - mean(w);
  return std::sqrt(mean(c * c).item());
}

// The slot's factory with a context of `in` -> `out` channels on an h x w input (0: unknown).
std::shared_ptr<GSA> from_slot(const std::string& options, int64_t in, int64_t out, int64_t h,
                               int64_t w, int64_t stride = 1) {
  const nn::AttentionSpec spec = gsa_spec();
  nn::AttentionContext c;
  c.channels = c.in_channels = in;
  c.out_channels = out;
  c.stride = stride;
  c.height = h;
  c.width = w;
  c.options = nn::AttentionOptions("gsa", spec.options, options);
  return std::dynamic_pointer_cast<GSA>(spec.make(c));
}

// GSA's forward in eval mode written out with loops over plain vectors (the equations of
// gsa.h), from the module's own parameters and running statistics.
std::vector<double> by_hand(const GSA& m, const Tensor& x) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), HW = H * W;
  const int64_t h = m.options.heads, d = m.options.dim_key, L = m.options.rel_pos_length;
  const std::vector<double> xv = x.to_vector<double>();
  const std::vector<double> wqkv = m.to_qkv->weight.to_vector<double>();
  const std::vector<double> wout = m.to_out->weight.to_vector<double>();
  const std::vector<double> bout = m.to_out->bias.to_vector<double>();
  std::vector<double> rows, cols, rm, rv, g, b;
  if (L > 0) {
    rows = m.rel_rows.to_vector<double>();
    cols = m.rel_columns.to_vector<double>();
  }
  if (m.norm) {
    rm = m.norm->running_mean.to_vector<double>();
    rv = m.norm->running_var.to_vector<double>();
    g = m.norm->weight.to_vector<double>();
    b = m.norm->bias.to_vector<double>();
  }
  // rel[offset + L - 1][c], 0 beyond the relative length.
  auto rel = [&](const std::vector<double>& r, int64_t offset, int64_t c) {
    return std::abs(offset) <= L - 1 ? r[size_t((offset + L - 1) * d + c)] : 0.0;
  };
  std::vector<double> y(size_t(N * m.dim_out * HW));
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> qkv(size_t(3 * h * d * HW), 0.0);  // to_qkv, no bias
    for (int64_t o = 0; o < 3 * h * d; ++o)
      for (int64_t p = 0; p < HW; ++p)
        for (int64_t c = 0; c < C; ++c)
          qkv[size_t(o * HW + p)] += wqkv[size_t(o * C + c)] * xv[size_t((n * C + c) * HW + p)];
    std::vector<double> out(size_t(h * d * HW), 0.0);  // [h d, HW] before to_out
    for (int64_t head = 0; head < h; ++head) {
      auto q = [&](int64_t c, int64_t p) { return qkv[size_t((head * d + c) * HW + p)]; };
      auto k = [&](int64_t c, int64_t p) { return qkv[size_t(((h + head) * d + c) * HW + p)]; };
      auto v = [&](int64_t c, int64_t p) { return qkv[size_t(((2 * h + head) * d + c) * HW + p)]; };
      auto o = [&](int64_t e, int64_t p) -> double& {
        return out[size_t((head * d + e) * HW + p)];
      };
      // Content: keys softmaxed over HW, context[c][e] = sum_p K[c][p] v[e][p], out = C^T Q.
      std::vector<double> ctx(size_t(d * d), 0.0);
      for (int64_t c = 0; c < d; ++c) {
        double top = -INFINITY, z = 0;
        for (int64_t p = 0; p < HW; ++p) top = std::max(top, k(c, p));
        for (int64_t p = 0; p < HW; ++p) z += std::exp(k(c, p) - top);
        for (int64_t p = 0; p < HW; ++p)
          for (int64_t e = 0; e < d; ++e)
            ctx[size_t(c * d + e)] += std::exp(k(c, p) - top) / z * v(e, p);
      }
      for (int64_t p = 0; p < HW; ++p) {
        std::vector<double> qn(static_cast<size_t>(d));
        double top = -INFINITY, z = 0;
        for (int64_t c = 0; c < d; ++c) top = std::max(top, q(c, p));
        for (int64_t c = 0; c < d; ++c) z += std::exp(q(c, p) - top);
        for (int64_t c = 0; c < d; ++c)
          qn[size_t(c)] = m.options.norm_queries ? std::exp(q(c, p) - top) / z : q(c, p);
        for (int64_t e = 0; e < d; ++e)
          for (int64_t c = 0; c < d; ++c) o(e, p) += ctx[size_t(c * d + e)] * qn[size_t(c)];
      }
      if (L == 0) continue;
      // Height pass, then the eval BN, then the width pass over its output.
      std::vector<double> yh(size_t(d * HW), 0.0);
      for (int64_t xr = 0; xr < H; ++xr)
        for (int64_t yc = 0; yc < W; ++yc)
          for (int64_t i = 0; i < H; ++i) {
            double s = 0;
            for (int64_t c = 0; c < d; ++c) s += q(c, xr * W + yc) * rel(rows, i - xr, c);
            for (int64_t e = 0; e < d; ++e)
              yh[size_t(e * HW + xr * W + yc)] += s * v(e, i * W + yc);
          }
      if (m.norm)
        for (int64_t e = 0; e < d; ++e)
          for (int64_t p = 0; p < HW; ++p) {
            double& t = yh[size_t(e * HW + p)];
            t = (t - rm[size_t(e)]) / std::sqrt(rv[size_t(e)] + 1e-5) * g[size_t(e)] + b[size_t(e)];
          }
      for (int64_t xr = 0; xr < H; ++xr)
        for (int64_t yc = 0; yc < W; ++yc)
          for (int64_t i = 0; i < W; ++i) {
            double s = 0;
            for (int64_t c = 0; c < d; ++c) s += q(c, xr * W + yc) * rel(cols, i - yc, c);
            for (int64_t e = 0; e < d; ++e)
              o(e, xr * W + yc) += s * yh[size_t(e * HW + xr * W + i)];
          }
    }
    for (int64_t oc = 0; oc < m.dim_out; ++oc)
      for (int64_t p = 0; p < HW; ++p) {
        double s = bout[size_t(oc)];
        for (int64_t j = 0; j < h * d; ++j)
          s += wout[size_t(oc * h * d + j)] * out[size_t(j * HW + p)];
        y[size_t((n * m.dim_out + oc) * HW + p)] = s;
      }
  }
  return y;
}

}  // namespace

TEST_CASE("GSA: reference names and init and constraints and the slot's options") {
  manual_seed(41);
  GSA plain(16);  // lucidrains' defaults: 8 heads of 64, no positional branch
  CHECK(plain.state_dict().keys() ==
        std::vector<std::string>{"to_qkv.weight", "to_out.weight", "to_out.bias"});
  CHECK(plain.to_qkv->weight.shape() == Shape{1536, 16, 1, 1});
  CHECK(plain.to_out->weight.shape() == Shape{16, 512, 1, 1});
  CHECK(plain.norm == nullptr);
  CHECK_FALSE(plain.rel_rows.defined());
  // PyTorch's default conv init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  CHECK(amax(abs(plain.to_qkv->weight)).item() <= 0.25);
  CHECK(amax(abs(plain.to_out->bias)).item() <= 1 / std::sqrt(512.0));

  GSA pos(16, 24, 1, gsa_opts(8, 64, 32));
  CHECK(pos.state_dict().keys() ==
        std::vector<std::string>{"rel_rows", "rel_columns", "to_qkv.weight", "to_out.weight",
                                 "to_out.bias", "norm.weight", "norm.bias", "norm.running_mean",
                                 "norm.running_var", "norm.num_batches_tracked"});
  CHECK(pos.rel_rows.shape() == Shape{63, 64});  // 2L - 1 offsets
  CHECK(pos.rel_columns.shape() == Shape{63, 64});
  CHECK(pos.to_out->weight.shape() == Shape{24, 512, 1, 1});
  CHECK(pos.norm->num_features == 64);
  CHECK(*pos.norm->options.momentum == 0.1);
  CHECK(amin(pos.norm->weight).item() == 1.0);
  // rel_* ~ N(0, 1): 4032 draws each, a sample std's relative spread 1 / sqrt(2 n) = 0.011, a
  // mean's spread 0.016; tolerances are 5 of those. PyTorch's default init would give a uniform
  // std of at most 1 / sqrt(3 * 64) = 0.07.
  for (const Tensor* r : {&pos.rel_rows, &pos.rel_columns}) {
    CHECK(std::abs(sample_std(*r) - 1) < 0.056);
    CHECK(std::abs(mean(*r).item()) < 0.08);
  }
  CHECK(amax(abs(pos.rel_rows - pos.rel_columns)).item() > 0);  // two independent tables
  CHECK(pos.extra_repr() == "16, 24, stride=1, heads=8, dim_key=64, rel_pos_length=32, "
                            "norm_queries=False, batch_norm=True");
  CHECK(GSA(16, 16, 1, gsa_opts(2, 4, 3, false, false)).state_dict().keys().size() == 5);

  CHECK_THROWS_WITH_AS(GSA(16, 16, 1, gsa_opts(0, 64, 0)),
                       Contains("GSA: heads 0 and dim_key 64 must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(GSA(16, 16, 1, gsa_opts(8, 0, 0)),
                       Contains("GSA: heads 8 and dim_key 0 must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(GSA(16, 16, 1, gsa_opts(8, 64, -1)),
                       Contains("GSA: rel_pos_length -1 must be >= 0 (0: no positional branch)"),
                       Error);
  CHECK_THROWS_WITH_AS(GSA(16, 16, 0),
                       Contains("GSA: dim 16, dim_out 16 and stride 0 must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(plain(randn({2, 8, 4, 4})), Contains("GSA: expected input [N, 16, H, W]"),
                       Error);
  CHECK_THROWS_WITH_AS(plain(randn({16, 4, 4})), Contains("GSA: expected input [N, 16, H, W]"),
                       Error);

  // The slot: L = max(H, W) of the context for "global" and -1; dim_out and stride from it.
  CHECK(gsa_spec().child_name == "conv2");
  CHECK(gsa_spec().position == nn::AttentionPosition::ReplaceSecondConv);
  auto global = from_slot("heads=2,dim_key=4,rel_pos_length=global", 8, 12, 5, 7, 2);
  CHECK(global->options.rel_pos_length == 7);
  CHECK(global->rel_rows.shape() == Shape{13, 4});
  CHECK(global->dim_out == 12);
  CHECK(global->stride == 2);
  CHECK(from_slot("rel_pos_length=-1", 8, 8, 9, 3)->options.rel_pos_length == 9);
  CHECK(from_slot("rel_pos_length=3,batch_norm=false", 8, 8, 0, 0)->norm == nullptr);
  CHECK(from_slot("norm_queries=true", 8, 8, 4, 4)->options.norm_queries);
  CHECK_THROWS_WITH_AS(from_slot("rel_pos_length=global", 8, 8, 0, 0),
                       Contains("GSA: rel_pos_length=global takes L = max(H, W) of the input, "
                                "which this network does not know"),
                       Error);
  for (const char* bad : {"rel_pos_length=wide", "rel_pos_length=-2", "rel_pos_length="})
    CHECK_THROWS_WITH_AS(from_slot(bad, 8, 8, 4, 4),
                         Contains("is not global, -1 or a length in 0..65536"), Error);
  CHECK_THROWS_WITH_AS(from_slot("rel_pos_length=70000", 8, 8, 4, 4),
                       Contains("option rel_pos_length=70000 is not an integer in 0..65536"),
                       Error);
  CHECK_THROWS_WITH_AS(from_slot("heads=0", 8, 8, 4, 4),
                       Contains("option heads=0 is not an integer in 1..1024"), Error);
  CHECK_THROWS_WITH_AS(from_slot("dim_key=5000", 8, 8, 4, 4),
                       Contains("option dim_key=5000 is not an integer in 1..4096"), Error);
  CHECK_THROWS_WITH_AS(from_slot("batch_norm=maybe", 8, 8, 4, 4),
                       Contains("option batch_norm=maybe is not true or false"), Error);
}

TEST_CASE("GSA: the forward written out by hand (masked offsets and norm_queries and eval BN)") {
  struct Variant {
    const char* name;
    GSAOptions options;
  };
  // 3 x 4 maps: L = 2 masks |offset| >= 2 on both axes; L = 5 masks nothing.
  for (const Variant& v : {Variant{"L2 masked", gsa_opts(2, 2, 2)},
                           Variant{"content, norm_queries", gsa_opts(2, 3, 0, true)},
                           Variant{"L5 no BN, norm_queries", gsa_opts(1, 2, 5, true, false)},
                           Variant{"L3 h3 d1", gsa_opts(3, 1, 3)}}) {
    CAPTURE(v.name);
    manual_seed(42);
    auto m = gsa64(3, 5, 1, v.options, false);
    test::move_parameters(*m, 7);
    if (m->norm) {
      NoGradGuard no_grad;
      m->norm->running_mean.copy_(from_values({0.3, -0.2, 0.1}, {3}, DType::Float64)
                                      .narrow(0, 0, v.options.dim_key));
      m->norm->running_var.copy_(from_values({0.7, 1.6, 1.1}, {3}, DType::Float64)
                                     .narrow(0, 0, v.options.dim_key));
    }
    const Tensor x = randn({2, 3, 3, 4}, DType::Float64);
    const std::vector<double> got = (*m)(x).to_vector<double>(), want = by_hand(*m, x);
    REQUIRE(got.size() == want.size());
    double worst = 0, scale = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      worst = std::max(worst, std::abs(got[i] - want[i]));
      scale = std::max(scale, std::abs(want[i]));
    }
    CHECK(scale > 0.1);
    CHECK(worst <= 1e-12 * scale);
  }
}

TEST_CASE("GSA: maps and the masked scores and the strided replacement") {
  manual_seed(43);
  const Tensor x = randn({2, 8, 5, 6}, DType::Float64);
  auto m = gsa64(8, 8, 1, gsa_opts(2, 3, 2), true);
  m->set_recording(true);
  CHECK((*m)(x).shape() == Shape{2, 8, 5, 6});
  REQUIRE(m->maps().size() == 4);
  const Tensor keys = m->map("keys");
  CHECK(keys.shape() == Shape{2, 2, 3, 5, 6});
  CHECK(amax(abs(sum(keys, {3, 4}) - 1.0)).item() < 1e-14);  // a distribution over HW
  CHECK(m->map("context").shape() == Shape{2, 2, 3, 3});
  const Tensor rows = m->map("row_scores"), columns = m->map("column_scores");
  REQUIRE(rows.shape() == Shape{2, 2, 5, 5, 6});     // [N, h, i, x, y]
  REQUIRE(columns.shape() == Shape{2, 2, 6, 5, 6});  // [N, h, i, x, y]
  // L = 2: a query attends to offsets -1, 0, 1 along each axis; every other score is exactly 0.
  const std::vector<double> r = rows.contiguous().to_vector<double>();
  const std::vector<double> c = columns.contiguous().to_vector<double>();
  int masked = 0, masked_nonzero = 0, kept_nonzero = 0;
  auto count = [&](double score, bool is_masked) {
    masked += is_masked;
    masked_nonzero += is_masked && score != 0.0;
    kept_nonzero += !is_masked && score != 0.0;
  };
  for (int64_t nh = 0; nh < 4; ++nh)
    for (int64_t x0 = 0; x0 < 5; ++x0)
      for (int64_t y0 = 0; y0 < 6; ++y0) {
        for (int64_t i = 0; i < 5; ++i)
          count(r[size_t(((nh * 5 + i) * 5 + x0) * 6 + y0)], std::abs(i - x0) > 1);
        for (int64_t i = 0; i < 6; ++i)
          count(c[size_t(((nh * 6 + i) * 5 + x0) * 6 + y0)], std::abs(i - y0) > 1);
      }
  // (x, i) pairs with |i - x| > 1: 12 of 25 on 5 rows (times 6 columns), 20 of 36 on 6 columns
  // (times 5 rows); 4 (sample, head) pairs.
  CHECK(masked == 4 * (12 * 6 + 20 * 5));
  CHECK(masked_nonzero == 0);
  CHECK(kept_nonzero == 4 * (13 * 6 + 16 * 5));
  // Content only: no positional maps.
  auto content = gsa64(8, 8, 1, gsa_opts(2, 3, 0), true);
  content->set_recording(true);
  (*content)(x);
  CHECK(content->maps().size() == 2);

  // Stride 2: the stride-1 module's output, averaged over 2 x 2 windows (the edge windows of
  // odd sizes over their real taps): ceil(H / 2) x ceil(W / 2) like the replaced conv.
  for (bool train : {true, false}) {
    CAPTURE(train);
    auto strided = gsa64(8, 16, 2, gsa_opts(2, 3, 4), train);
    auto flat = gsa64(8, 16, 1, gsa_opts(2, 3, 4), train);
    flat->load_state_dict(strided->state_dict());
    const Tensor odd = randn({2, 8, 7, 5}, DType::Float64);
    const Tensor y = (*strided)(odd), full = (*flat)(odd);
    REQUIRE(y.shape() == Shape{2, 16, 4, 3});
    const Tensor last = full.narrow(2, 6, 1).narrow(3, 4, 1);  // the 1 x 1 corner window
    CHECK(amax(abs(y.narrow(2, 3, 1).narrow(3, 2, 1) - last)).item() < 1e-14);
    const Tensor first = mean(full.narrow(2, 0, 2).narrow(3, 0, 2), {2, 3});
    CHECK(amax(abs(y.narrow(2, 0, 1).narrow(3, 0, 1).reshape({2, 16}) - first)).item() < 1e-14);
  }
  // A single row: the pooled height is 1.
  CHECK((*gsa64(8, 16, 2, gsa_opts(1, 2, 3), true))(randn({2, 8, 1, 5}, DType::Float64)).shape() ==
        Shape{2, 16, 1, 3});
}

TEST_CASE("GSA: attention-matrix memory at 32x32 and 64x64 and its refusal before allocating") {
  // CIFAR options (register.cpp) and the defaults, at batch 128 in float32.
  const GSA cifar(16, 16, 1, gsa_opts(4, 16, 32)), defaults(16, 16, 1, gsa_opts(8, 64, 64));
  struct Want {
    const GSA* m;
    int64_t size;
    size_t context, rows;  // bytes; the column scores equal the row scores at H = W
  };
  const size_t KiB = 1024, MiB = KiB * 1024;
  for (const Want& w : {Want{&cifar, 32, 512 * KiB, 64 * MiB},
                        Want{&cifar, 64, 512 * KiB, 512 * MiB},
                        Want{&defaults, 32, 16 * MiB, 128 * MiB},
                        Want{&defaults, 64, 16 * MiB, 1024 * MiB}}) {
    const auto mats = w.m->attention_matrices(128, w.size, w.size, DType::Float32);
    REQUIRE(mats.size() == 3);
    CHECK(mats[0].what == "content context K V^T");
    CHECK(mats[0].bytes == w.context);
    CHECK(mats[1].shape == Shape{128 * w.m->options.heads, w.size, w.size, w.size});
    CHECK(mats[1].bytes == w.rows);
    CHECK(mats[2].bytes == w.rows);
    MESSAGE("GSA heads=" << w.m->options.heads << " dim_key=" << w.m->options.dim_key
                         << ", batch 128, " << w.size << "x" << w.size << " float32: context "
                         << byte_string(mats[0].bytes) << ", row scores "
                         << byte_string(mats[1].bytes) << ", column scores "
                         << byte_string(mats[2].bytes));
  }
  CHECK(cifar.attention_matrices(2, 5, 7, DType::Float64)[2].shape == Shape{8, 7, 5, 7});
  CHECK(GSA(16, 16, 1, gsa_opts(4, 16, 0)).attention_matrices(2, 5, 7, DType::Float32).size() == 1);

  // A machine with 40 MiB free: batch 8 at 64x64 holds the context and 2 x 32 MiB of scores
  // at once, twice with autograd on (kept for the backward, and their gradients): refused
  // before anything is allocated, with autograd on or off.
  manual_seed(44);
  GSA m(16, 16, 1, gsa_opts(4, 16, 64));
  const Tensor x = randn({8, 16, 64, 64});
  {
    test::SmallMachine small(size_t(40) << 20);
    const CpuCacheStats before = cpu_allocator().stats();
    CHECK_THROWS_WITH_AS(m(x),
                         Contains("GSA: the attention matrices (content context K V^T "
                                  "float32[32, 16, 16], row scores Sx float32[32, 64, 64, 64], "
                                  "column scores Sy float32[32, 64, 64, 64]; x2 live: kept for "
                                  "the backward, and their gradients) needs 128.06 MiB, more "
                                  "than the 40.00 MiB available on cpu; use a smaller input or "
                                  "batch"),
                         OutOfMemoryError);
    NoGradGuard no_grad;
    CHECK_THROWS_WITH_AS(m(x), Contains("x1 live) needs 64.03 MiB"), OutOfMemoryError);
    const CpuCacheStats after = cpu_allocator().stats();
    CHECK(after.hits + after.misses == before.hits + before.misses);  // nothing allocated
  }
  {
    // 72 MiB: the forward alone fits; recording maps keeps the last forward's for one more.
    test::SmallMachine small(size_t(72) << 20);
    NoGradGuard no_grad;
    CHECK(m(x).shape() == Shape{8, 16, 64, 64});
    m.set_recording(true);
    CHECK(m(x).shape() == Shape{8, 16, 64, 64});
    cpu_allocator().empty_cache();  // the freed scores would count as available
    CHECK_THROWS_WITH_AS(m(x), Contains("x2 live: the last forward's maps) needs 128.06 MiB"),
                         OutOfMemoryError);
  }
}

TEST_CASE("gradcheck: GSA every variant in train and eval mode in float64") {
  manual_seed(45);
  struct Variant {
    const char* name;
    GSAOptions options;
    int64_t dim_out, stride;
    Shape shape;
    bool both_modes;  // the BN (positional branch with batch_norm) differs in train and eval
  };
  const Shape s{2, 4, 3, 4};
  for (const Variant& v : {
           Variant{"content", gsa_opts(2, 2, 0), 3, 1, s, false},
           Variant{"content norm_queries", gsa_opts(2, 2, 0, true), 3, 1, s, false},
           Variant{"global L4", gsa_opts(2, 2, 4), 3, 1, s, true},
           Variant{"masked L2", gsa_opts(2, 2, 2), 3, 1, s, true},
           Variant{"norm_queries L4", gsa_opts(2, 2, 4, true), 3, 1, s, true},
           Variant{"no BN L3", gsa_opts(2, 2, 3, false, false), 3, 1, s, false},
           Variant{"stride 2 wider L5", gsa_opts(1, 3, 5), 6, 2, {2, 4, 5, 3}, true},
           Variant{"h3 d1 odd 2x5x3x5", gsa_opts(3, 1, 5), 5, 1, {2, 5, 3, 5}, true}}) {
    for (bool train : {true, false}) {
      if (!train && !v.both_modes) continue;
      const std::string name = std::string("GSA ") + v.name + (train ? " train" : " eval");
      auto m = gsa64(v.shape[1], v.dim_out, v.stride, v.options, train);
      // The check draws the input and every parameter anew. From N(0, 1) (to_qkv weights ~4x
      // PyTorch's init) the positional output, cubic in them, reaches |y| ~ 1e2, and the loss's
      // rounding over 2 eps alone is ~1e-7 (measured: the error grows as eps shrinks, 6e-8 at
      // 1e-6, 3e-7 at 1e-7). Unit-range values, U(-0.9, 0.9), keep it far below.
      test::check_module_gradients(name, m, v.shape, test::Inputs::Unit);
    }
  }
}

TEST_CASE("directional gradcheck: GSA at 4x64x32x32 and with the defaults at 2x64x16x16") {
  // The CIFAR options at the first stage's 32 x 32 (L = 32), and lucidrains' defaults (8 heads
  // of 64) with a global L, in train and eval mode.
  for (bool train : {true, false}) {
    CAPTURE(train);
    manual_seed(46);
    test::check_module_directional(train ? "GSA 4x64x32x32 train" : "GSA 4x64x32x32 eval",
                                   gsa64(64, 64, 1, gsa_opts(4, 16, 32), train), {4, 64, 32, 32},
                                   1, test::kRealisticEps);
    test::check_module_directional(
        train ? "GSA defaults 2x64x16x16 train" : "GSA defaults 2x64x16x16 eval",
        gsa64(64, 64, 1, gsa_opts(8, 64, 16), train), {2, 64, 16, 16}, 1, test::kRealisticEps);
  }
}

TEST_CASE("GSA in a CIFAR ResNet: replaces conv2 of every block with L = each stage's size") {
  attention::register_all();
  manual_seed(47);
  CHECK(attention::cifar_name("gsa") == "gsa:heads=4,dim_key=16,rel_pos_length=global");
  auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, attention::cifar_name("gsa"));
  const auto st = net->state_dict();
  CHECK(st.at("layer1.0.conv2.rel_rows").shape() == Shape{63, 16});  // 32 x 32
  CHECK(st.at("layer2.0.conv2.rel_columns").shape() == Shape{31, 16});  // after conv1's stride
  CHECK(st.at("layer3.0.conv2.rel_rows").shape() == Shape{15, 16});
  CHECK(st.at("layer2.0.conv2.to_qkv.weight").shape() == Shape{192, 32, 1, 1});
  CHECK(st.at("layer3.0.conv2.to_out.weight").shape() == Shape{64, 64, 1, 1});
  CHECK(st.at("layer3.0.conv2.norm.running_var").shape() == Shape{16});
  const auto names = st.keys();
  CHECK(std::find(names.begin(), names.end(), "layer1.0.conv2.weight") == names.end());
  nn::set_map_recording(*net, true);
  CHECK((*net)(randn({2, 3, 32, 32})).shape() == Shape{2, 10});
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 12);
  CHECK(maps[0].first == "layer1.0.conv2.keys");
  CHECK(maps[0].second.shape() == Shape{2, 4, 16, 32, 32});
  CHECK(maps[1].first == "layer1.0.conv2.context");
  CHECK(maps[2].first == "layer1.0.conv2.row_scores");
  CHECK(maps[11].first == "layer3.0.conv2.column_scores");
  CHECK(maps[11].second.shape() == Shape{2, 4, 8, 8, 8});

  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "gsa:heads=0"),
                       Contains("option heads=0 is not an integer in 1..1024"), Error);
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "gsa:rel_pos_length=wide"),
                       Contains("rel_pos_length=wide is not global, -1 or a length"), Error);
  // The cifar stem of resnet() leaves the input size unknown: "global" cannot be resolved.
  CHECK_THROWS_WITH_AS(nn::resnet(18, 10, 3, "cifar", "gsa:rel_pos_length=global"),
                       Contains("rel_pos_length=global takes L = max(H, W) of the input"), Error);
}

TEST_CASE("GSA in a bottleneck ResNet: the strided 3x3 conv is replaced and pooled after") {
  attention::register_all();
  manual_seed(48);
  nn::ResNetConfig c;
  c.blocks = {1, 2};
  c.widths = {8, 16};
  c.stem_channels = 16;
  c.bottleneck = true;
  c.input_size = 9;
  c.attention = "gsa:heads=2,dim_key=4,rel_pos_length=global";
  auto net = std::make_shared<nn::ResNet>(c);
  const GSA* strided = nullptr;
  const GSA* plain = nullptr;
  for (const auto& named : net->named_modules()) {
    if (named.first == "layer2.0.conv2") strided = dynamic_cast<const GSA*>(named.second);
    if (named.first == "layer2.1.conv2") plain = dynamic_cast<const GSA*>(named.second);
  }
  REQUIRE(strided != nullptr);
  REQUIRE(plain != nullptr);
  CHECK(strided->stride == 2);
  CHECK(strided->options.rel_pos_length == 9);  // it sees the block's input
  CHECK(strided->dim == 16);
  CHECK(strided->dim_out == 16);
  CHECK(plain->stride == 1);
  CHECK(plain->options.rel_pos_length == 5);
  // 9 x 11: the width exceeds L = 9 (offsets beyond 8 masked), and the odd sizes pool to 5 x 6.
  CHECK((*net)(randn({2, 3, 9, 11})).shape() == Shape{2, 10});
}
