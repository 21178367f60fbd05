// MHSA (spec §18): timm's state_dict names for the plain and block forms, the ViT init, the
// constraints of §21 and bad inputs, the attention written out by hand, permutation
// equivariance, dropout, the attention-matrix memory (figures, formula, refusal before any
// allocation), float64 gradient checks, and the module in CIFAR ResNets. Values against PyTorch
// are in test_fixtures.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>
#include <sstream>

#include "attention/memory.h"
#include "attention/mhsa.h"
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

MHSAOptions opts(int64_t heads, bool qkv_bias = false, bool block = false, bool pos = false) {
  MHSAOptions o;
  o.heads = heads;
  o.qkv_bias = qkv_bias;
  o.block = block;
  o.pos_embed = pos;
  return o;
}

// Float64 with every parameter moved off the init: at init the biases are 0 and the weights
// N(0, 0.02^2), so the scores are ~1e-3 and the attention is nearly uniform; a gradient check
// there would barely exercise the softmax. Moved by N(0, 0.3^2), the scores spread over ~+-2.
std::shared_ptr<MHSA> mhsa64(int64_t c, int64_t h, int64_t w, const MHSAOptions& o,
                             uint64_t seed) {
  auto m = std::make_shared<MHSA>(c, h, w, o);
  m->to(DType::Float64);
  test::move_parameters(*m, seed);
  return m;
}

double sample_std(const Tensor& w) {
  const Tensor c = w - mean(w);
  return std::sqrt(mean(c * c).item());
}

// x [N, C, H, W] with its H*W positions reordered by `perm` (row-major positions).
Tensor permute_positions(const Tensor& x, const Tensor& perm) {
  const Shape s = x.shape();
  return index_select(x.reshape({s[0], s[1], s[2] * s[3]}), 2, perm).reshape(s);
}

constexpr size_t kMiB = size_t(1) << 20;

}  // namespace

TEST_CASE("MHSA: timm names and ViT init and constraints and bad inputs") {
  manual_seed(41);
  MHSA plain(16);
  CHECK(plain.state_dict().keys() == std::vector<std::string>{"qkv.weight", "proj.weight",
                                                              "proj.bias"});
  CHECK(plain.qkv->weight.shape() == Shape{48, 16});
  CHECK(plain.head_dim == 2);  // heads 8 by default
  CHECK(plain.scale == std::pow(2.0, -0.5));
  CHECK_FALSE(plain.pos_embed.defined());
  MHSA biased(16, 5, 6, opts(4, true, false, true));
  CHECK(biased.state_dict().keys() == std::vector<std::string>{"pos_embed", "qkv.weight",
                                                               "qkv.bias", "proj.weight",
                                                               "proj.bias"});
  CHECK(biased.pos_embed.shape() == Shape{1, 30, 16});
  MHSA block(64, 4, 4, opts(8, true, true, true));
  CHECK(block.state_dict().keys() ==
        std::vector<std::string>{"pos_embed", "norm1.weight", "norm1.bias", "attn.qkv.weight",
                                 "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
                                 "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias",
                                 "mlp.fc2.weight", "mlp.fc2.bias"});
  CHECK(block.fc1->weight.shape() == Shape{256, 64});
  CHECK(block.norm1->eps == 1e-6);
  std::ostringstream printed;
  printed << block;
  CHECK(printed.str().find("(attn): Attention(") != std::string::npos);
  CHECK(printed.str().find("(mlp): Mlp(") != std::string::npos);
  CHECK(block.extra_repr() ==
        "channels=64, heads=8, head_dim=8, qkv_bias=True, form=block, pos_embed=True (4 x 4), "
        "attn_drop=0, proj_drop=0");

  // ViT init: Linear weights N(0, 0.02^2) (cut at +-2, 100 std: no visible truncation), biases
  // 0, LayerNorm 1 / 0, pos_embed N(0, 0.02^2). The weights of the block, 4 x 4096 + 2 x 16384
  // = 49152 draws: a sample std's relative spread 1 / sqrt(2 n) = 0.0032, tolerance 5 of them;
  // PyTorch's default (U(+-1/8) for fan_in 64, std 0.072) is at ratio 3.6.
  const Tensor weights = cat({block.qkv->weight.reshape({-1}), block.proj->weight.reshape({-1}),
                              block.fc1->weight.reshape({-1}), block.fc2->weight.reshape({-1})},
                             0);
  CHECK(std::abs(sample_std(weights) / 0.02 - 1) < 0.016);
  CHECK(std::abs(mean(weights).item()) < 5 * 0.02 / std::sqrt(49152.0));
  CHECK(amax(abs(weights)).item() < 0.2);
  for (const Tensor* b : {&block.qkv->bias, &block.proj->bias, &block.fc1->bias, &block.fc2->bias,
                          &block.norm1->bias, &block.norm2->bias})
    CHECK(amax(abs(*b)).item() == 0.0);
  CHECK(amin(block.norm2->weight).item() == 1.0);
  CHECK(amax(block.norm2->weight).item() == 1.0);
  // pos_embed: 16 x 64 = 1024 draws, spread 0.022.
  CHECK(std::abs(sample_std(block.pos_embed) / 0.02 - 1) < 0.11);

  // Constraints (spec §21) and options.
  CHECK_THROWS_WITH_AS(MHSA(12), Contains("MHSA: channels 12 not divisible by heads=8"), Error);
  CHECK_THROWS_WITH_AS(MHSA(16, 0, 0, opts(0)), Contains("MHSA: channels 16 and heads 0 must be"),
                       Error);
  CHECK_THROWS_WITH_AS(MHSA(16, 0, 0, opts(8, false, false, true)),
                       Contains("MHSA: pos_embed=true needs the input's H x W when the module is "
                                "built, and it is unknown here (0 x 0)"),
                       Error);
  MHSAOptions drop = opts(8);
  drop.attn_drop = 1;
  CHECK_THROWS_WITH_AS(MHSA(16, 0, 0, drop),
                       Contains("MHSA: attn_drop 1 and proj_drop 0 must be in [0, 1)"), Error);

  // Bad inputs: the channels, and a token count other than the positional embedding's.
  CHECK_THROWS_WITH_AS(plain(randn({2, 8, 4, 4})),
                       Contains("MHSA: expected input [N, 16, H, W], got float32[2, 8, 4, 4]"),
                       Error);
  // The same L on another grid is refused too: the embedding's positions belong to 5 x 6.
  CHECK_THROWS_WITH_AS(biased(randn({2, 16, 6, 5})),
                       Contains("MHSA: the input's 6 x 5 = 30 tokens do not match the positional "
                                "embedding's 5 x 6 = 30 (pos_embed fixes the input size)"),
                       Error);
}

TEST_CASE("MHSA: a token count other than the positional embedding's is an error naming both") {
  MHSA m(16, 5, 6, opts(4, false, false, true));
  CHECK_THROWS_WITH_AS(m(randn({2, 16, 4, 4})),
                       Contains("MHSA: the input's 4 x 4 = 16 tokens do not match the positional "
                                "embedding's 5 x 6 = 30"),
                       Error);
  // Without pos_embed any H x W runs.
  MHSA free(16);
  CHECK(free(randn({2, 16, 4, 4})).shape() == Shape{2, 16, 4, 4});
  CHECK(free(randn({1, 16, 3, 7})).shape() == Shape{1, 16, 3, 7});
}

TEST_CASE("MHSA: the slot's factory and options and the CIFAR name") {
  const nn::AttentionSpec spec = mhsa_spec();
  CHECK(spec.child_name == "mhsa");
  CHECK(spec.position == nn::AttentionPosition::AfterLastNorm);
  // 8 heads divide 16, 32 and 64, but 2 keep the [N, heads, 1024, 1024] matrices of a 32x32
  // stage to a size a CIFAR zoo run can train (attention/register.cpp).
  CHECK(cifar_name("mhsa") == "mhsa:heads=2");
  nn::AttentionContext c;
  c.channels = 32;
  c.height = 8;
  c.width = 4;
  c.options = nn::AttentionOptions("mhsa", spec.options,
                                   "heads=4,qkv_bias=true,form=block,pos_embed=true,attn_drop=0.1,"
                                   "proj_drop=0.2");
  auto built = std::dynamic_pointer_cast<MHSA>(spec.make(c));
  REQUIRE(built);
  CHECK(built->head_dim == 8);
  CHECK(built->options.block);
  CHECK(built->options.attn_drop == 0.1);
  CHECK(built->options.proj_drop == 0.2);
  CHECK(built->pos_embed.shape() == Shape{1, 32, 32});
  CHECK(built->state_dict().contains("attn.qkv.bias"));
  c.options = nn::AttentionOptions("mhsa", spec.options, "form=hybrid");
  CHECK_THROWS_WITH_AS(spec.make(c), Contains("one of plain, block"), Error);
  c.options = nn::AttentionOptions("mhsa", spec.options, "heads=3");
  CHECK_THROWS_WITH_AS(spec.make(c), Contains("channels 32 not divisible by heads=3"), Error);
  c.options = nn::AttentionOptions("mhsa", spec.options, "pos_embed=true");
  c.height = c.width = 0;
  CHECK_THROWS_WITH_AS(spec.make(c), Contains("pos_embed=true needs the input's H x W"), Error);
}

TEST_CASE("MHSA: the attention written out by hand with pos_embed row-major in float64") {
  // N = 1, C = 4, heads 2 (hd 2), H x W = 2 x 3 (L = 6), qkv bias, pos_embed.
  const int64_t c = 4, heads = 2, hd = 2, hh = 2, ww = 3, l = hh * ww;
  auto m = mhsa64(c, hh, ww, opts(heads, true, false, true), 7);
  m->set_recording(true);
  manual_seed(8);
  const Tensor x = randn({1, c, hh, ww}, DType::Float64);
  const std::vector<double> y = (*m)(x).to_vector<double>();
  const std::vector<double> map = m->map("attention").to_vector<double>();
  const auto xv = x.to_vector<double>(), pos = m->pos_embed.to_vector<double>();
  const auto wq = m->qkv->weight.to_vector<double>(), bq = m->qkv->bias.to_vector<double>();
  const auto wp = m->proj->weight.to_vector<double>(), bp = m->proj->bias.to_vector<double>();
  // Token p = i W + j holds x[:, i, j] + pos_embed[p].
  std::vector<double> t(size_t(l * c)), qkv(size_t(l * 3 * c)), o(size_t(l * c), 0.0);
  for (int64_t p = 0; p < l; ++p)
    for (int64_t d = 0; d < c; ++d) t[p * c + d] = xv[d * l + p] + pos[p * c + d];
  for (int64_t p = 0; p < l; ++p)
    for (int64_t r = 0; r < 3 * c; ++r) {
      double s = bq[r];
      for (int64_t d = 0; d < c; ++d) s += wq[r * c + d] * t[p * c + d];
      qkv[p * 3 * c + r] = s;  // row r: q (r < C), k, v; head h owns [h hd, (h + 1) hd)
    }
  const double scale = 1 / std::sqrt(double(hd));
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < l; ++i) {
      std::vector<double> s(static_cast<size_t>(l));
      double top = -1e300, z = 0;
      for (int64_t j = 0; j < l; ++j) {
        s[j] = 0;
        for (int64_t e = 0; e < hd; ++e)
          s[j] += scale * qkv[i * 3 * c + h * hd + e] * qkv[j * 3 * c + c + h * hd + e];
        top = std::max(top, s[j]);
      }
      for (int64_t j = 0; j < l; ++j) z += std::exp(s[j] - top);
      for (int64_t j = 0; j < l; ++j) {
        const double pij = std::exp(s[j] - top) / z;
        CHECK(map[(h * l + i) * l + j] == doctest::Approx(pij).epsilon(1e-13));
        for (int64_t e = 0; e < hd; ++e)
          o[i * c + h * hd + e] += pij * qkv[j * 3 * c + 2 * c + h * hd + e];
      }
    }
  for (int64_t p = 0; p < l; ++p)
    for (int64_t d = 0; d < c; ++d) {
      double s = bp[d];
      for (int64_t e = 0; e < c; ++e) s += wp[d * c + e] * o[p * c + e];
      CAPTURE(p);
      CAPTURE(d);
      CHECK(y[d * l + p] == doctest::Approx(s).epsilon(1e-12));  // Y [C, H, W]
    }
}

TEST_CASE("MHSA: without pos_embed permuting the positions permutes the output and the map") {
  manual_seed(9);
  const Tensor perm = from_vector<int64_t>({5, 2, 11, 0, 7, 3, 9, 1, 10, 4, 8, 6}, {12});
  for (bool block : {false, true}) {
    CAPTURE(block);
    auto m = mhsa64(8, 0, 0, opts(2, true, block), 10);
    m->set_recording(true);
    const Tensor x = randn({2, 8, 3, 4}, DType::Float64);
    const Tensor y = (*m)(x);
    const Tensor p = m->map("attention");
    const Tensor y_perm = (*m)(permute_positions(x, perm));
    CHECK(amax(abs(y_perm - permute_positions(y, perm))).item() < 1e-13);
    const Tensor p_expect = index_select(index_select(p, 2, perm), 3, perm);
    CHECK(amax(abs(m->map("attention") - p_expect)).item() < 1e-14);
  }
  // A positional embedding breaks the symmetry.
  auto pos = mhsa64(8, 3, 4, opts(2, false, false, true), 11);
  const Tensor x = randn({2, 8, 3, 4}, DType::Float64);
  CHECK(amax(abs((*pos)(permute_positions(x, perm)) - permute_positions((*pos)(x), perm)))
            .item() > 1e-3);
}

TEST_CASE("MHSA: dropout acts in training only and the map is the softmax before it") {
  MHSAOptions o = opts(4, false, true);
  o.attn_drop = 0.5;
  o.proj_drop = 0.3;
  auto m = std::make_shared<MHSA>(16, 0, 0, o);
  test::move_parameters(*m, 12, 0.5);  // off the small init, so that dropout shows clearly
  m->set_recording(true);
  const Tensor x = randn({2, 16, 3, 3});
  const Tensor y_train = (*m)(x);
  const Tensor rows = sum(m->map("attention"), {3});  // before dropout: rows sum to 1
  CHECK(amax(abs(rows - 1)).item() < 1e-6);
  m->eval();
  const Tensor y_eval = (*m)(x);
  CHECK(amax(abs(y_train - y_eval)).item() > 1e-3);
  CHECK(amax(abs((*m)(x) - y_eval)).item() == 0.0);  // eval is deterministic
}

TEST_CASE("MHSA: attention-matrix memory at 32x32 and 64x64 and the formula") {
  // live x N x heads x L^2 x 4 bytes (float32): L = 1024 at 32x32, 4096 at 64x64.
  CHECK(mhsa_attention_bytes(1, 16, 32, 32, 8, DType::Float32) == 3 * 8 * 1024 * 1024 * 4);
  CHECK(mhsa_attention_bytes(1, 16, 32, 32, 8, DType::Float32, false) == 2 * 8 * 1024 * 1024 * 4);
  CHECK(mhsa_attention_bytes(1, 16, 64, 64, 8, DType::Float32) == 3 * size_t(8) * 4096 * 4096 * 4);
  CHECK(mhsa_attention_bytes(128, 64, 64, 64, 8, DType::Float64) ==
        3 * size_t(128) * 8 * 4096 * 4096 * 8);
  CHECK(mhsa_attention_bytes(2, 16, 5, 6, 2, DType::Float32) ==
        3 * matrix_bytes({2, 2, 30, 30}, DType::Float32));
  CHECK_THROWS_WITH_AS(mhsa_attention_bytes(1, 12, 4, 4, 8, DType::Float32),
                       Contains("C divisible by heads"), Error);
  std::ostringstream os;
  os << "MHSA attention matrices (heads 8, float32; training: x3 live, forward only: x2):\n";
  for (int64_t side : {32, 64})
    for (int64_t n : {1, 128})
      os << "  " << side << "x" << side << " (L = " << side * side << "), N = " << n
         << ": one matrix "
         << byte_string(matrix_bytes({n, 8, side * side, side * side}, DType::Float32))
         << ", training " << byte_string(mhsa_attention_bytes(n, 16, side, side, 8, DType::Float32))
         << ", forward only "
         << byte_string(mhsa_attention_bytes(n, 16, side, side, 8, DType::Float32, false)) << "\n";
  MESSAGE(os.str());
  CHECK(byte_string(mhsa_attention_bytes(128, 16, 32, 32, 8, DType::Float32)) == "12.00 GiB");
  CHECK(byte_string(mhsa_attention_bytes(128, 16, 64, 64, 8, DType::Float32)) == "192.00 GiB");

  // The counts behind the factor.
  CHECK(mhsa_live_matrices(true).count == 3);
  CHECK(mhsa_live_matrices(false).count == 2);
  CHECK(mhsa_live_matrices(true, true).count == 4);
  CHECK(mhsa_live_matrices(false, true).count == 3);
  CHECK(mhsa_live_matrices(false, false, true).count == 3);
  CHECK(mhsa_live_matrices(true, false, true).count == 3);
}

TEST_CASE("MHSA: an attention matrix that cannot fit is refused before any allocation") {
  // 2 x 16 x 32 x 32, heads 8, float32: one [2, 8, 1024, 1024] matrix is 64 MiB. On a machine
  // with 128 MiB, training (x3: 192 MiB) is refused; a forward without gradients (x2) fits.
  MHSA m(16);
  const Tensor x = randn({2, 16, 32, 32});
  test::SmallMachine small(128 * kMiB);
  const size_t before = cpu_allocator().stats().live_bytes;
  CHECK_THROWS_WITH_AS(m(x),
                       Contains("MHSA: the attention matrix float32[2, 8, 1024, 1024] (x3 live: "
                                "softmax kept for backward, its gradient, the scores' gradient) "
                                "needs 192.00 MiB, more than the 128.00 MiB available on cpu; use "
                                "a smaller input or batch"),
                       OutOfMemoryError);
  CHECK(cpu_allocator().stats().live_bytes == before);
  {
    NoGradGuard no_grad;
    CHECK(m(x).shape() == x.shape());
    // While recording, the last forward's map lives until the new one replaces it: x3.
    m.set_recording(true);
    m(randn({2, 16, 4, 4}));
    cpu_allocator().empty_cache();
    const size_t held = cpu_allocator().stats().live_bytes;
    CHECK_THROWS_WITH_AS(m(x), Contains("(x3 live: scores, softmax, the last forward's recorded "
                                        "map) needs 192.00 MiB"),
                         OutOfMemoryError);
    CHECK(cpu_allocator().stats().live_bytes == held);
  }
  // Attention dropout in training: x4.
  MHSAOptions o;
  o.attn_drop = 0.1;
  MHSA dropping(16, 0, 0, o);
  cpu_allocator().empty_cache();  // the forwards above left 128 MiB of free blocks there
  CHECK_THROWS_WITH_AS(dropping(x), Contains("(x4 live: softmax, dropout mask, dropped softmax, "
                                             "its gradient) needs 256.00 MiB"),
                       OutOfMemoryError);
}

// check_module_gradients draws the input and every parameter afresh, N(0, 1) by default. A block
// with N(0, 1) weights at C = 8 has outputs in the tens (the MLP sums 32 hidden units), and the
// rounding of L then limits the finite difference to ~1e-7 (a first try failed there at
// 1.5e-7 and 2.9e-7, no element far off): that case draws U[-0.9, 0.9] instead.
TEST_CASE("gradcheck: MHSA plain and block forms with qkv_bias and pos_embed in float64") {
  test::check_module_gradients("MHSA plain C=8 heads 2", mhsa64(8, 0, 0, opts(2), 1), {2, 8, 3, 4});
  test::check_module_gradients("MHSA plain qkv_bias pos_embed heads 4",
                               mhsa64(8, 2, 3, opts(4, true, false, true), 2), {2, 8, 2, 3});
  test::check_module_gradients("MHSA plain heads 1", mhsa64(4, 0, 0, opts(1, true), 3),
                               {3, 4, 2, 2});
  test::check_module_gradients("MHSA block heads 2 qkv_bias pos_embed",
                               mhsa64(8, 3, 3, opts(2, true, true, true), 4), {2, 8, 3, 3},
                               test::Inputs::Unit);
  auto eval_block = mhsa64(4, 0, 0, opts(1, false, true), 5);
  eval_block->eval();
  test::check_module_gradients("MHSA block heads 1 eval", eval_block, {2, 4, 2, 3});
}

TEST_CASE("gradcheck: MHSA directional at 2x64x16x16 (L = 256) for both forms") {
  test::check_module_directional("MHSA plain 2x64x16x16 heads 8",
                                 mhsa64(64, 16, 16, opts(8, true, false, true), 6),
                                 {2, 64, 16, 16}, 1, test::kRealisticEps);
  test::check_module_directional("MHSA block 2x64x16x16 heads 8",
                                 mhsa64(64, 16, 16, opts(8, true, true, true), 7),
                                 {2, 64, 16, 16}, 2, test::kRealisticEps);
}

TEST_CASE("MHSA in a CIFAR ResNet: named mhsa with maps per head and pos_embed sized per stage") {
  attention::register_all();
  auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "mhsa:form=block,pos_embed=true", 16);
  nn::set_map_recording(*net, true);
  const Tensor x = randn({2, 3, 16, 16});
  const Tensor loss = cross_entropy((*net)(x), from_vector<int64_t>({3, 7}, {2}));
  loss.backward();
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 3);
  CHECK(maps[0].first == "layer1.0.mhsa.attention");
  CHECK(maps[0].second.shape() == Shape{2, 8, 256, 256});
  CHECK(maps[2].first == "layer3.0.mhsa.attention");
  CHECK(maps[2].second.shape() == Shape{2, 8, 16, 16});
  const auto state = net->state_dict();
  CHECK(state.at("layer1.0.mhsa.pos_embed").shape() == Shape{1, 256, 16});
  CHECK(state.at("layer3.0.mhsa.pos_embed").shape() == Shape{1, 16, 64});
  CHECK(state.at("layer2.0.mhsa.mlp.fc1.weight").shape() == Shape{128, 32});
  for (const auto& item : net->named_parameters()) {
    const std::string& name = item.first;  // not a binding: CAPTURE's lambda captures it
    const Tensor& p = item.second;
    if (name.find(".mhsa.") != std::string::npos) {
      CAPTURE(name);
      CHECK(p.grad().defined());
    }
  }

  // Built for 32x32 (the default), fed 16x16: the embedding of 1024 tokens cannot take 256.
  auto for32 = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "mhsa:pos_embed=true");
  CHECK_THROWS_WITH_AS((*for32)(x),
                       Contains("MHSA: the input's 16 x 16 = 256 tokens do not match the "
                                "positional embedding's 32 x 32 = 1024"),
                       Error);
  // Without pos_embed the same network runs at any size.
  auto plain = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, attention::cifar_name("mhsa"));
  CHECK((*plain)(x).shape() == Shape{2, 10});
  // A ResNet-18 with the CIFAR stem does not know its input size: pos_embed is refused.
  CHECK_THROWS_WITH_AS(nn::resnet(18, 10, 3, "cifar", "mhsa:pos_embed=true"),
                       Contains("MHSA: pos_embed=true needs the input's H x W"), Error);
}
