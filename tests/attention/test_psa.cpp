// PSA (spec §8): the four variants' state_dict names and init, the constraints of §21, the maps,
// the forward of every variant written out by hand with loops, train = eval, float64 gradient
// checks, and the module after the first conv of basic and bottleneck blocks. Values against
// PyTorch are in test_fixtures.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "attention/psa.h"
#include "attention/register.h"
#include "engine/fovea.h"
#include "layers/resnet.h"
#include "support/module_check.h"

using namespace fovea;
using namespace fovea::attention;
using doctest::Contains;

namespace {

const PSAVariant kVariants[] = {PSAVariant::PaperParallel, PSAVariant::PaperSequential,
                                PSAVariant::OfficialP, PSAVariant::OfficialS};
const char* const kNames[] = {"paper_parallel", "paper_sequential", "official_p", "official_s"};

std::shared_ptr<PolarizedSelfAttention> psa(int64_t channels, PSAVariant v) {
  return std::make_shared<PolarizedSelfAttention>(channels, PSAOptions{v});
}

// Float64 with every parameter moved off its init (LayerNorm 1 / 0 included).
std::shared_ptr<PolarizedSelfAttention> psa64(int64_t channels, PSAVariant v, uint64_t seed) {
  auto m = psa(channels, v);
  m->to(DType::Float64);
  test::move_parameters(*m, seed);
  return m;
}

std::shared_ptr<nn::Module> child(const nn::Module& m, const std::string& name) {
  for (const auto& c : m.named_children())
    if (c.first == name) return c.second;
  FAIL("no child " << name);
  return nullptr;
}

double sample_std(const Tensor& w) {
  const Tensor c = w - mean(w);
  return std::sqrt(mean(c * c).item());
}

// ---- the forward by hand, one sample, plain loops ---------------------------------------------
using Vec = std::vector<double>;

double sig(double v) { return 1 / (1 + std::exp(-v)); }

void softmax_inplace(double* v, int64_t n) {
  double mx = v[0], total = 0;
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, v[i]);
  for (int64_t i = 0; i < n; ++i) total += (v[i] = std::exp(v[i] - mx));
  for (int64_t i = 0; i < n; ++i) v[i] /= total;
}

// The 1x1 conv `name` (weight, and bias where it has one) on x [cin][hw]: out [cout][hw].
Vec conv(const nn::StateDict& sd, const std::string& name, const Vec& x, int64_t cin, int64_t hw) {
  const Vec w = sd.at(name + ".weight").to_vector<double>();
  const int64_t cout = int64_t(w.size()) / cin;
  const Vec b = sd.contains(name + ".bias") ? sd.at(name + ".bias").to_vector<double>()
                                            : Vec(size_t(cout), 0.0);
  Vec y(size_t(cout * hw));
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t p = 0; p < hw; ++p) {
      double acc = b[size_t(o)];
      for (int64_t i = 0; i < cin; ++i) acc += w[size_t(o * cin + i)] * x[size_t(i * hw + p)];
      y[size_t(o * hw + p)] = acc;
    }
  return y;
}

// LayerNorm over all of v (biased variance, eps 1e-5) with affine `name`.
Vec layer_norm_by_hand(const nn::StateDict& sd, const std::string& name, Vec v) {
  const Vec g = sd.at(name + ".weight").to_vector<double>();
  const Vec b = sd.at(name + ".bias").to_vector<double>();
  double mu = 0, var = 0;
  for (double e : v) mu += e / double(v.size());
  for (double e : v) var += (e - mu) * (e - mu) / double(v.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = (v[i] - mu) / std::sqrt(var + 1e-5) * g[i] + b[i];
  return v;
}

struct Gates {
  Vec channel, spatial, y;  // [C], [HW], [C][HW]
};

// The spec's §8 equations for one sample x [C][HW].
Gates psa_by_hand(const PolarizedSelfAttention& m, const Vec& x, int64_t hw) {
  const auto sd = m.state_dict();
  const PSAVariant v = m.options.variant;
  const bool paper = v == PSAVariant::PaperParallel || v == PSAVariant::PaperSequential;
  const bool seq = v == PSAVariant::PaperSequential || v == PSAVariant::OfficialS;
  const int64_t c = m.channels, half = c / 2;
  const std::string cv = paper ? "ch_wv" : "conv_v_right", cq = paper ? "ch_wq" : "conv_q_right",
                    sv = paper ? "sp_wv" : "conv_v_left", sq = paper ? "sp_wq" : "conv_q_left";
  Gates out;
  // Channel branch: z = V softmax_HW(q), w = up(z), A_ch = sigmoid(LN(w)) or sigmoid(w).
  const Vec vv = conv(sd, cv, x, c, hw);
  Vec q = conv(sd, cq, x, c, hw);
  softmax_inplace(q.data(), hw);
  Vec z(size_t(half), 0.0);
  for (int64_t i = 0; i < half; ++i)
    for (int64_t p = 0; p < hw; ++p) z[size_t(i)] += vv[size_t(i * hw + p)] * q[size_t(p)];
  Vec w;
  if (paper) {
    w = layer_norm_by_hand(sd, "ln", conv(sd, "ch_wz", z, half, 1));
  } else if (v == PSAVariant::OfficialP) {
    w = conv(sd, "conv_up", z, half, 1);
  } else {  // conv, LayerNorm([mid, 1, 1]), ReLU, conv
    Vec mid = layer_norm_by_hand(sd, "conv_up.1", conv(sd, "conv_up.0", z, half, 1));
    for (double& e : mid) e = std::max(e, 0.0);
    w = conv(sd, "conv_up.3", mid, int64_t(mid.size()), 1);
  }
  for (double e : w) out.channel.push_back(sig(e));
  Vec x1(x.size());
  for (int64_t i = 0; i < c; ++i)
    for (int64_t p = 0; p < hw; ++p)
      x1[size_t(i * hw + p)] = out.channel[size_t(i)] * x[size_t(i * hw + p)];
  // Spatial branch on S: qs = GAP(q'(S)), Vs = v'(S), softmax placed as the variant says.
  const Vec& s = seq ? x1 : x;
  const Vec qf = conv(sd, sq, s, c, hw);
  Vec vs = conv(sd, sv, s, c, hw);
  Vec qs(size_t(half), 0.0);
  for (int64_t i = 0; i < half; ++i)
    for (int64_t p = 0; p < hw; ++p) qs[size_t(i)] += qf[size_t(i * hw + p)] / double(hw);
  if (paper) softmax_inplace(qs.data(), half);
  if (v == PSAVariant::OfficialS)
    for (int64_t i = 0; i < half; ++i) softmax_inplace(vs.data() + i * hw, hw);
  Vec zs(size_t(hw), 0.0);
  for (int64_t p = 0; p < hw; ++p)
    for (int64_t i = 0; i < half; ++i) zs[size_t(p)] += qs[size_t(i)] * vs[size_t(i * hw + p)];
  if (v == PSAVariant::OfficialP) softmax_inplace(zs.data(), hw);
  for (double e : zs) out.spatial.push_back(sig(e));
  for (int64_t i = 0; i < c; ++i)
    for (int64_t p = 0; p < hw; ++p) {
      const size_t k = size_t(i * hw + p);
      out.y.push_back(seq ? x1[k] * out.spatial[size_t(p)]
                          : x1[k] + x[k] * out.spatial[size_t(p)]);
    }
  return out;
}

void check_close(const Vec& got, const Vec& want, const char* what) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(what);
    CAPTURE(i);
    CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
  }
}

}  // namespace

TEST_CASE("PSA: names of the paper and official variants") {
  CHECK(psa(16, PSAVariant::PaperParallel)->state_dict().keys() ==
        std::vector<std::string>{"ch_wv.weight", "ch_wv.bias", "ch_wq.weight", "ch_wq.bias",
                                 "ch_wz.weight", "ch_wz.bias", "ln.weight", "ln.bias",
                                 "sp_wv.weight", "sp_wv.bias", "sp_wq.weight", "sp_wq.bias"});
  CHECK(psa(16, PSAVariant::PaperSequential)->state_dict().keys() ==
        psa(16, PSAVariant::PaperParallel)->state_dict().keys());
  CHECK(psa(16, PSAVariant::OfficialP)->state_dict().keys() ==
        std::vector<std::string>{"conv_q_right.weight", "conv_v_right.weight", "conv_up.weight",
                                 "conv_q_left.weight", "conv_v_left.weight"});
  const auto s = psa(16, PSAVariant::OfficialS)->state_dict();
  CHECK(s.keys() == std::vector<std::string>{"conv_q_right.weight", "conv_v_right.weight",
                                             "conv_up.0.weight", "conv_up.0.bias",
                                             "conv_up.1.weight", "conv_up.1.bias",
                                             "conv_up.3.weight", "conv_up.3.bias",
                                             "conv_q_left.weight", "conv_v_left.weight"});
  CHECK(s.at("conv_q_right.weight").shape() == Shape{1, 16, 1, 1});
  CHECK(s.at("conv_v_right.weight").shape() == Shape{8, 16, 1, 1});
  CHECK(s.at("conv_up.0.weight").shape() == Shape{2, 8, 1, 1});  // (16 / 2) // 4
  CHECK(s.at("conv_up.1.weight").shape() == Shape{2, 1, 1});     // LayerNorm([2, 1, 1])
  CHECK(s.at("conv_up.3.weight").shape() == Shape{16, 2, 1, 1});
  const auto p = psa(16, PSAVariant::PaperParallel)->state_dict();
  CHECK(p.at("ch_wq.weight").shape() == Shape{1, 16, 1, 1});
  CHECK(p.at("ch_wz.weight").shape() == Shape{16, 8, 1, 1});
  CHECK(p.at("ln.weight").shape() == Shape{16});
  CHECK(p.at("sp_wq.weight").shape() == Shape{8, 16, 1, 1});
  CHECK(psa(16, PSAVariant::OfficialS)->extra_repr() == "channels=16, variant=official_s");
}

TEST_CASE("PSA: default init for the paper forms and kaiming fan_in for the official q and v") {
  manual_seed(3);
  const auto p = psa(256, PSAVariant::PaperParallel)->state_dict();
  // PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
  CHECK(amax(abs(p.at("ch_wv.weight"))).item() <= 1 / std::sqrt(256.0));
  CHECK(amax(abs(p.at("ch_wz.bias"))).item() <= 1 / std::sqrt(128.0));
  // U(-b, b) has std b / sqrt(3); 128 x 256 draws.
  CHECK(sample_std(p.at("sp_wq.weight")) ==
        doctest::Approx(1 / std::sqrt(3 * 256.0)).epsilon(0.05));
  CHECK(amin(p.at("ln.weight")).item() == 1.0);
  CHECK(amax(abs(p.at("ln.bias"))).item() == 0.0);
  for (PSAVariant v : {PSAVariant::OfficialP, PSAVariant::OfficialS}) {
    const auto s = psa(256, v)->state_dict();
    // kaiming_normal(fan_in, relu): std sqrt(2 / 256); 128 x 256 draws.
    for (const char* name : {"conv_v_right.weight", "conv_q_left.weight", "conv_v_left.weight"})
      CHECK(sample_std(s.at(name)) == doctest::Approx(std::sqrt(2 / 256.0)).epsilon(0.03));
    CHECK(sample_std(s.at("conv_q_right.weight")) ==
          doctest::Approx(std::sqrt(2 / 256.0)).epsilon(0.2));  // 256 draws
  }
  // conv_up keeps the default init: PSA_p's bias-free conv, PSA_s's convs with bias.
  CHECK(amax(abs(psa(256, PSAVariant::OfficialP)->state_dict().at("conv_up.weight"))).item() <=
        1 / std::sqrt(128.0));
  const auto s = psa(256, PSAVariant::OfficialS)->state_dict();
  CHECK(amax(abs(s.at("conv_up.0.bias"))).item() <= 1 / std::sqrt(128.0));
  CHECK(amax(abs(s.at("conv_up.3.weight"))).item() <= 1 / std::sqrt(32.0));
  CHECK(amin(s.at("conv_up.1.weight")).item() == 1.0);
}

TEST_CASE("PSA: constraints and bad inputs") {
  CHECK_THROWS_WITH_AS(psa(15, PSAVariant::PaperParallel),
                       Contains("PolarizedSelfAttention: channels 15 must be even and >= 2"),
                       Error);
  CHECK_THROWS_WITH_AS(psa(0, PSAVariant::OfficialP),
                       Contains("channels 0 must be even and >= 2 (both branches are channels / 2 "
                                "wide; spec §21), variant=official_p"),
                       Error);
  CHECK_THROWS_WITH_AS(psa(6, PSAVariant::OfficialS),
                       Contains("PolarizedSelfAttention: channels 6 gives official_s's conv_up "
                                "bottleneck (6 / 2) // 4 = 0 channels; variant=official_s needs "
                                "channels >= 8"),
                       Error);
  CHECK(psa(6, PSAVariant::OfficialP)->channels == 6);
  CHECK(psa(2, PSAVariant::PaperSequential)->channels == 2);
  CHECK(psa(8, PSAVariant::OfficialS)->state_dict().at("conv_up.0.weight").shape() ==
        Shape{1, 4, 1, 1});

  auto m = psa(8, PSAVariant::PaperParallel);
  CHECK_THROWS_WITH_AS((*m)(randn({2, 6, 4, 4})),
                       Contains("PolarizedSelfAttention: expected input [N, 8, H, W]"), Error);
  CHECK_THROWS_WITH_AS((*m)(randn({2, 8, 16})), Contains("expected input [N, 8, H, W]"), Error);

  // Through the slot's factory: the variant option.
  const nn::AttentionSpec spec = psa_spec();
  CHECK(spec.child_name == "psa");
  CHECK(spec.position == nn::AttentionPosition::AfterFirstConv);
  nn::AttentionContext c;
  c.channels = 16;
  for (size_t i = 0; i < 4; ++i) {
    c.options = nn::AttentionOptions("psa", spec.options, std::string("variant=") + kNames[i]);
    auto built = std::dynamic_pointer_cast<PolarizedSelfAttention>(spec.make(c));
    REQUIRE(built != nullptr);
    CHECK(built->options.variant == kVariants[i]);
  }
  c.options = nn::AttentionOptions("psa", spec.options, "");
  CHECK(std::dynamic_pointer_cast<PolarizedSelfAttention>(spec.make(c))->options.variant ==
        PSAVariant::PaperParallel);
  c.options = nn::AttentionOptions("psa", spec.options, "variant=official");
  CHECK_THROWS_WITH_AS(spec.make(c), Contains("official"), Error);
  c.options = nn::AttentionOptions("psa", spec.options, "variant=official_s");
  c.channels = 4;
  CHECK_THROWS_WITH_AS(spec.make(c), Contains("channels 4 gives official_s's conv_up bottleneck"),
                       Error);
}

TEST_CASE("PSA: every variant written out by hand, its maps, and train = eval") {
  const int64_t n = 2, c = 8, h = 3, w = 5, hw = h * w;
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(kNames[i]);
    auto m = psa64(c, kVariants[i], 10 + i);
    m->set_recording(true);
    manual_seed(20 + i);
    const Tensor x = randn({n, c, h, w}, DType::Float64);
    const Tensor y = (*m)(x);
    const Tensor ach = m->map("channel"), asp = m->map("spatial");
    REQUIRE(ach.shape() == Shape{n, c});
    REQUIRE(asp.shape() == Shape{n, 1, h, w});
    const Vec xv = x.to_vector<double>(), yv = y.to_vector<double>();
    const Vec av = ach.to_vector<double>(), sv = asp.to_vector<double>();
    for (int64_t s = 0; s < n; ++s) {
      CAPTURE(s);
      const Vec xs(xv.begin() + s * c * hw, xv.begin() + (s + 1) * c * hw);
      const Gates g = psa_by_hand(*m, xs, hw);
      check_close(Vec(av.begin() + s * c, av.begin() + (s + 1) * c), g.channel, "channel");
      check_close(Vec(sv.begin() + s * hw, sv.begin() + (s + 1) * hw), g.spatial, "spatial");
      check_close(Vec(yv.begin() + s * c * hw, yv.begin() + (s + 1) * c * hw), g.y, "output");
    }
    // No BatchNorm, and LayerNorm keeps no statistics: eval computes the same.
    m->eval();
    CHECK(amax(abs((*m)(x) - y)).item() == 0.0);
  }
}

TEST_CASE("gradcheck: PSA, all four variants, float64") {
  // Inputs and every parameter, random upstream gradient, one odd spatial size per variant;
  // train mode only, as train and eval compute the same. In the paper forms ch_wq's bias adds
  // one constant to every position before the softmax over the positions, which the softmax
  // removes: its gradient is exactly 0 (PyTorch's too), so it is asserted to be 0 instead of
  // checked. official_s at C = 32: a bottleneck of 4 (over 2 channels its LayerNorm gives
  // about +-1 whatever comes in, and conv_up.0's gradient all but vanishes).
  test::check_train_gradients_except("PSA paper_parallel", psa64(8, PSAVariant::PaperParallel, 1),
                                     {2, 8, 3, 4}, {"ch_wq.bias"});
  test::check_train_gradients_except("PSA paper_sequential",
                                     psa64(6, PSAVariant::PaperSequential, 2), {3, 6, 4, 3},
                                     {"ch_wq.bias"});
  test::check_module_gradients("PSA official_p", psa64(8, PSAVariant::OfficialP, 3), {2, 8, 3, 5});
  test::check_module_gradients("PSA official_s", psa64(32, PSAVariant::OfficialS, 4),
                               {2, 32, 3, 2});
}

TEST_CASE("directional gradcheck: PSA at 4x64x16x16, all four variants") {
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(kNames[i]);
    test::check_module_directional(std::string("PSA 4x64x16x16 ") + kNames[i],
                                   psa64(64, kVariants[i], 30 + i), {4, 64, 16, 16}, 1,
                                   test::kRealisticEps);
  }
}

TEST_CASE("PSA in a CIFAR ResNet: after the first conv + BN + ReLU of every block") {
  attention::register_all();
  manual_seed(41);
  auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "psa");
  CHECK(net->state_dict().at("layer1.0.psa.ch_wv.weight").shape() == Shape{8, 16, 1, 1});
  CHECK(net->state_dict().at("layer3.0.psa.ln.weight").shape() == Shape{64});
  net->eval();
  nn::set_map_recording(*net, true);
  const Tensor x = randn({2, 3, 8, 8});
  CHECK((*net)(x).shape() == Shape{2, 10});
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 6);
  CHECK(maps[0].first == "layer1.0.psa.channel");
  CHECK(maps[0].second.shape() == Shape{2, 16});
  CHECK(maps[1].first == "layer1.0.psa.spatial");
  CHECK(maps[1].second.shape() == Shape{2, 1, 8, 8});
  CHECK(maps[5].first == "layer3.0.psa.spatial");
  CHECK(maps[5].second.shape() == Shape{2, 1, 2, 2});

  // layer1.0 by hand: relu(bn2(conv2(psa(relu(bn1(conv1(h)))))) + h), h the stem's output.
  auto block = std::dynamic_pointer_cast<nn::BasicBlock>(child(*child(*net, "layer1"), "0"));
  REQUIRE(block != nullptr);
  auto& b = *block;
  const Tensor h = relu((*child(*net, "bn1"))((*child(*net, "conv1"))(x)));
  const Tensor inner = (*b.attention)(relu((*b.bn1)((*b.conv1)(h))));
  const Tensor expect = relu((*b.bn2)((*b.conv2)(inner)) + h);
  CHECK(amax(abs(b(h) - expect)).item() == 0.0);

  for (size_t i = 1; i < 4; ++i) {
    CAPTURE(kNames[i]);
    auto other =
        nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, std::string("psa:variant=") + kNames[i]);
    CHECK((*other)(randn({2, 3, 8, 8})).shape() == Shape{2, 10});
  }
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "psa:variant=sequential"),
                       Contains("variant"), Error);
}

TEST_CASE("PSA in a bottleneck ResNet: after the 3x3 conv + BN + ReLU, planes wide") {
  attention::register_all();
  manual_seed(42);
  nn::ResNetConfig c;
  c.blocks = {1, 2};
  c.widths = {8, 16};
  c.stem_channels = 16;
  c.bottleneck = true;
  c.attention = "psa:variant=official_s";
  auto net = std::make_shared<nn::ResNet>(c);
  const auto st = net->state_dict();
  // The module sees the 3x3 conv's planes (8, 16), not the block's 4x output.
  CHECK(st.at("layer1.0.psa.conv_v_right.weight").shape() == Shape{4, 8, 1, 1});
  CHECK(st.at("layer2.1.psa.conv_up.3.weight").shape() == Shape{16, 2, 1, 1});
  nn::set_map_recording(*net, true);
  CHECK((*net)(randn({2, 3, 9, 11})).shape() == Shape{2, 10});
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 6);
  CHECK(maps[2].first == "layer2.0.psa.channel");
  CHECK(maps[2].second.shape() == Shape{2, 16});
  CHECK(maps[3].first == "layer2.0.psa.spatial");
  CHECK(maps[3].second.shape() == Shape{2, 1, 5, 6});  // after the strided 3x3 conv
}

TEST_CASE("PSA in ResNet-50 at 32x32: one module per bottleneck, 64 to 512 planes") {
  attention::register_all();
  manual_seed(43);
  auto net = nn::resnet(50, 10, 3, "cifar", "psa", 32);
  const auto st = net->state_dict();
  CHECK(st.at("layer1.2.psa.ch_wz.weight").shape() == Shape{64, 32, 1, 1});
  CHECK(st.at("layer4.2.psa.ln.weight").shape() == Shape{512});
  net->eval();
  nn::set_map_recording(*net, true);
  CHECK((*net)(randn({1, 3, 32, 32})).shape() == Shape{1, 10});
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 32);  // 16 blocks, channel and spatial
  CHECK(maps[0].first == "layer1.0.psa.channel");
  CHECK(maps[31].first == "layer4.2.psa.spatial");
  CHECK(maps[31].second.shape() == Shape{1, 1, 4, 4});
}
