// MS-CAM, AFF and iAFF (spec §13): the PyTorch port's names, the default init, the constraints
// (C // r >= 1, N > 1 in training, the identity's shape), the values written out by hand (the
// factor 2 of AFF, iAFF's own global_att2), the maps, float64 gradient checks in eval and train
// mode, and the fusion in place of a block's sum. Values against PyTorch are in
// test_fixtures.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "attention/aff.h"
#include "attention/probe.h"
#include "attention/register.h"
#include "engine/fovea.h"
#include "layers/conv.h"
#include "layers/norm.h"
#include "layers/resnet.h"
#include "support/module_check.h"

using namespace fovea;
using namespace fovea::attention;
using doctest::Contains;

namespace {

Tensor fuse(nn::Module& m, const std::vector<Tensor>& x) {
  return static_cast<nn::FusionModule&>(m).fuse_call(x[0], x[1]);
}

// Float64, in the given mode, parameters moved off the init and running statistics off 0 / 1
// (so that eval mode is not the identity normalisation). The element-wise gradient checks draw
// their own parameter values (N(0, 1)) but keep these buffers; the hand-written values and the
// directional checks use both.
template <class M>
std::shared_ptr<M> prepared(std::shared_ptr<M> m, bool train, uint64_t seed) {
  m->to(DType::Float64);
  m->train(train);
  test::move_parameters(*m, seed);
  Generator gen(seed + 100);
  NoGradGuard no_grad;
  for (const auto& [name, b] : m->named_buffers()) {
    Tensor t = b;
    if (name.find("running_mean") != std::string::npos)
      t.copy_(0.2 * randn(t.shape(), DType::Float64, &gen));
    if (name.find("running_var") != std::string::npos)
      t.copy_(0.5 + rand(t.shape(), DType::Float64, &gen));
  }
  return m;
}

std::vector<std::string> sequential_keys(const std::string& prefix, bool global) {
  const int o = global ? 1 : 0;  // global_att.0 is the pool
  std::vector<std::string> keys;
  for (int conv : {o, o + 3}) {
    keys.push_back(prefix + "." + std::to_string(conv) + ".weight");
    keys.push_back(prefix + "." + std::to_string(conv) + ".bias");
    for (const char* k : {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"})
      keys.push_back(prefix + "." + std::to_string(conv + 1) + "." + k);
  }
  return keys;
}

std::vector<std::string> cam_keys(const std::string& suffix) {
  std::vector<std::string> keys = sequential_keys("local_att" + suffix, false);
  for (const auto& k : sequential_keys("global_att" + suffix, true)) keys.push_back(k);
  return keys;
}

// The conv biases, each right before a BatchNorm: zero gradient in training.
std::vector<std::string> conv_biases(const std::vector<std::string>& suffixes) {
  std::vector<std::string> keys;
  for (const auto& s : suffixes)
    for (const char* b : {"local_att", "global_att"})
      for (int conv : {0, 3})
        keys.push_back(b + s + "." + std::to_string(conv + (b[0] == 'g' ? 1 : 0)) + ".bias");
  return keys;
}

// ---- MS-CAM in eval mode, written out with loops --------------------------------------------

struct HandCam {
  const nn::Sequential& local;
  const nn::Sequential& global;

  static std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }
  // A 1x1 conv with bias on one position's channel vector.
  static std::vector<double> conv(const nn::Module& m, const std::vector<double>& in) {
    const auto& c = dynamic_cast<const nn::Conv2d&>(m);
    const std::vector<double> w = values(c.weight), b = values(c.bias);
    std::vector<double> out(size_t(c.out_channels));
    for (size_t o = 0; o < out.size(); ++o) {
      out[o] = b[o];
      for (size_t i = 0; i < in.size(); ++i) out[o] += w[o * in.size() + i] * in[i];
    }
    return out;
  }
  // Eval BN (running statistics, eps 1e-5), then optionally ReLU.
  static std::vector<double> bn(const nn::Module& m, std::vector<double> v, bool relu) {
    const auto& n = dynamic_cast<const nn::BatchNorm2d&>(m);
    const std::vector<double> g = values(n.weight), b = values(n.bias),
                              mu = values(n.running_mean), var = values(n.running_var);
    for (size_t c = 0; c < v.size(); ++c) {
      v[c] = (v[c] - mu[c]) / std::sqrt(var[c] + 1e-5) * g[c] + b[c];
      if (relu) v[c] = std::max(v[c], 0.0);
    }
    return v;
  }
  // conv, BN, ReLU, conv, BN from child `first` on.
  static std::vector<double> stack(const nn::Sequential& s, size_t first, std::vector<double> v) {
    v = bn(*s[first + 1], conv(*s[first], v), true);
    return bn(*s[first + 4], conv(*s[first + 3], v), false);
  }

  // M(z) for z = [N, C, H, W] as values.
  std::vector<double> operator()(const std::vector<double>& z, int64_t n, int64_t c,
                                 int64_t hw) const {
    std::vector<double> m(z.size());
    for (int64_t s = 0; s < n; ++s) {
      std::vector<double> gap(size_t(c), 0.0);
      for (int64_t k = 0; k < c; ++k)
        for (int64_t p = 0; p < hw; ++p) gap[size_t(k)] += z[size_t((s * c + k) * hw + p)] / hw;
      const std::vector<double> g = stack(global, 1, gap);
      for (int64_t p = 0; p < hw; ++p) {
        std::vector<double> v(static_cast<size_t>(c));
        for (int64_t k = 0; k < c; ++k) v[size_t(k)] = z[size_t((s * c + k) * hw + p)];
        const std::vector<double> l = stack(local, 0, v);
        for (int64_t k = 0; k < c; ++k)
          m[size_t((s * c + k) * hw + p)] = 1 / (1 + std::exp(-(l[size_t(k)] + g[size_t(k)])));
      }
    }
    return m;
  }
};

nn::Module& child(nn::Module& m, const std::string& name) {
  for (auto& [n, c] : m.named_children())
    if (n == name) return *c;
  FAIL("no child " << name);
  return m;
}

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

}  // namespace

TEST_CASE("AFF family: the PyTorch port's names and shapes and the default init") {
  manual_seed(41);
  MSCAM cam(16);
  AFF aff(16);
  IAFF iaff(16);
  CHECK(cam.state_dict().keys() == cam_keys(""));
  CHECK(aff.state_dict().keys() == cam_keys(""));
  std::vector<std::string> both = cam_keys("");
  for (const auto& k : cam_keys("2")) both.push_back(k);
  CHECK(iaff.state_dict().keys() == both);  // local_att, global_att, local_att2, global_att2
  CHECK(aff.inter == 4);  // r = 4 by default
  const auto s = iaff.state_dict();
  CHECK(s.at("local_att.0.weight").shape() == Shape{4, 16, 1, 1});
  CHECK(s.at("local_att.3.weight").shape() == Shape{16, 4, 1, 1});
  CHECK(s.at("global_att.1.bias").shape() == Shape{4});
  CHECK(s.at("global_att2.4.weight").shape() == Shape{16, 4, 1, 1});
  CHECK(s.at("global_att2.5.running_var").shape() == Shape{16});
  CHECK((*iaff.att2.global_att)[0]->type_name() == "AdaptiveAvgPool2d");
  CHECK((*iaff.att1.local_att)[2]->type_name() == "ReLU");
  // PyTorch's default: weight and bias in +-1/sqrt(fan_in), BN 1 / 0 with momentum 0.1.
  CHECK(amax(abs(s.at("local_att.0.weight"))).item() <= 1 / std::sqrt(16.0));
  CHECK(amax(abs(s.at("global_att2.4.bias"))).item() <= 1 / std::sqrt(4.0));
  CHECK(amax(abs(s.at("global_att2.4.bias"))).item() > 0.0);
  CHECK(amin(s.at("local_att2.4.weight")).item() == 1.0);
  CHECK(amax(abs(s.at("global_att.2.bias"))).item() == 0.0);
  for (const auto& bn : {(*aff.att.global_att)[2], (*aff.att.local_att)[4]})
    CHECK(*dynamic_cast<const nn::BatchNorm2d&>(*bn).options.momentum == 0.1);
  // Two stages, two sets of weights.
  CHECK(amax(abs(s.at("global_att.1.weight") - s.at("global_att2.1.weight"))).item() > 0.0);
  CHECK(AFF(12, {5}).inter == 2);  // 12 // 5
  CHECK(IAFF(8, {8}).inter == 1);
  CHECK(aff.extra_repr() == "channels=16, r=4, inter=4");
}

TEST_CASE("AFF family: bad configurations and inputs are errors naming them") {
  manual_seed(42);
  CHECK_THROWS_WITH_AS(MSCAM(16, {32}),
                       Contains("MS_CAM: channels 16 // r 32 must be >= 1 (spec §21)"), Error);
  CHECK_THROWS_WITH_AS(AFF(3), Contains("AFF: channels 3 // r 4 must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(IAFF(16, {0}), Contains("iAFF: channels 16 // r 0 must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(IAFF(16, {-2}), Contains("iAFF: channels 16 // r -2"), Error);

  AFF aff(16);
  IAFF iaff(16);
  MSCAM cam(16);
  const Tensor x = randn({2, 16, 4, 5});
  CHECK_THROWS_WITH_AS(aff.fuse_call(randn({2, 8, 4, 5}), x),
                       Contains("AFF: expected input [N, 16, H, W], got float32[2, 8, 4, 5]"),
                       Error);
  CHECK_THROWS_WITH_AS(aff.fuse_call(x, randn({2, 16, 4, 4})),
                       Contains("AFF: the identity path (input2) float32[2, 16, 4, 4] must have "
                                "the residual branch's shape float32[2, 16, 4, 5]"),
                       Error);
  CHECK_THROWS_WITH_AS(iaff.fuse_call(x, randn({1, 16, 4, 5})),
                       Contains("iAFF: the identity path (input2) float32[1, 16, 4, 5]"), Error);
  CHECK_THROWS_WITH_AS(iaff.fuse_call(x, randn({2, 16, 20})), Contains("float32[2, 16, 20]"),
                       Error);
  CHECK_THROWS_WITH_AS(cam(randn({2, 16, 20})), Contains("MS_CAM: expected input [N, 16, H, W]"),
                       Error);
  CHECK_THROWS_WITH_AS(aff(x), Contains("AFF: forward(x) is not implemented"), Error);

  // Batch size 1 in training: the global BNs see one value per channel. batch_norm itself
  // refuses it too; the module says which module and why.
  const Tensor one = randn({1, 16, 4, 5});
  for (const char* who : {"AFF", "iAFF", "MS_CAM"}) {
    CAPTURE(who);
    auto call = [&] {
      if (who[0] == 'A') return aff.fuse_call(one, one);
      if (who[0] == 'i') return iaff.fuse_call(one, one);
      return cam(one);
    };
    const std::string want = std::string(who) +
                             ": batch size 1 in training (input float32[1, 16, 4, 5]): the "
                             "global branch's BatchNorms";
    CHECK_THROWS_WITH_AS(call(), Contains(want.c_str()), Error);
  }
  aff.eval();
  iaff.eval();
  cam.eval();
  CHECK(aff.fuse_call(one, one).shape() == one.shape());
  CHECK(iaff.fuse_call(one, one).shape() == one.shape());
  CHECK(std::isfinite(amax(abs(cam(one))).item()));

  // Through the slot's factory: the option, its default and a bad value.
  attention::register_all();
  for (const char* name : {"ms_cam", "aff", "iaff"}) {
    CAPTURE(name);
    const nn::ParsedAttention p = nn::parse_attention(std::string(name) + ":r=8");
    nn::AttentionContext c;
    c.channels = 32;
    c.options = p.options;
    const auto m = p.spec->make(c);
    CHECK(m->extra_repr() == "channels=32, r=8, inter=4");
    c.options = nn::parse_attention(std::string(name) + ":r=x").options;
    CHECK_THROWS_WITH_AS(p.spec->make(c), Contains("option r=x is not an integer"), Error);
    CHECK_THROWS_WITH_AS(nn::parse_attention(std::string(name) + ":reduction=4"),
                         Contains("unknown option \"reduction\" (valid: r)"), Error);
  }
  CHECK(aff_spec().position == nn::AttentionPosition::ReplaceAdd);
  CHECK(iaff_spec().position == nn::AttentionPosition::ReplaceAdd);
  CHECK(aff_spec().child_name == "fuse_mode");
  CHECK(ms_cam_spec().position == nn::AttentionPosition::AfterLastNorm);
  CHECK(ms_cam_spec().child_name == "ms_cam");
}

TEST_CASE("AFF family: values by hand in eval mode (factor 2 in AFF, iAFF's own global_att2)") {
  // N = 2, C = 4, r = 2 (inter 2), H x W = 2 x 3; running statistics off 0 / 1.
  const int64_t n = 2, c = 4, hw = 6;
  manual_seed(43);
  const Tensor x = randn({n, c, 2, 3}, DType::Float64), y = randn({n, c, 2, 3}, DType::Float64);
  const std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  auto mix = [&](const std::vector<double>& w, double scale) {
    std::vector<double> z(w.size());
    for (size_t i = 0; i < z.size(); ++i) z[i] = scale * (xv[i] * w[i] + yv[i] * (1 - w[i]));
    return z;
  };
  std::vector<double> sum(xv.size());
  for (size_t i = 0; i < sum.size(); ++i) sum[i] = xv[i] + yv[i];

  auto cam = prepared(std::make_shared<MSCAM>(c, AFFOptions{2}), false, 1);
  cam->set_recording(true);
  const std::vector<double> m = HandCam{*cam->att.local_att, *cam->att.global_att}(xv, n, c, hw);
  std::vector<double> ym(xv.size());
  for (size_t i = 0; i < ym.size(); ++i) ym[i] = xv[i] * m[i];
  CHECK(max_diff((*cam)(x).to_vector<double>(), ym) < 1e-14);
  CHECK(max_diff(cam->map("weight").to_vector<double>(), m) < 1e-15);
  CHECK(cam->map("weight").shape() == x.shape());

  auto aff = prepared(std::make_shared<AFF>(c, AFFOptions{2}), false, 2);
  aff->set_recording(true);
  const std::vector<double> w = HandCam{*aff->att.local_att, *aff->att.global_att}(sum, n, c, hw);
  CHECK(max_diff(aff->fuse_call(x, y).to_vector<double>(), mix(w, 2.0)) < 1e-14);
  CHECK(max_diff(aff->map("weight").to_vector<double>(), w) < 1e-15);

  auto iaff = prepared(std::make_shared<IAFF>(c, AFFOptions{2}), false, 3);
  iaff->set_recording(true);
  const std::vector<double> w1 =
      HandCam{*iaff->att1.local_att, *iaff->att1.global_att}(sum, n, c, hw);
  const HandCam second{*iaff->att2.local_att, *iaff->att2.global_att};
  const std::vector<double> w2 = second(mix(w1, 1.0), n, c, hw);
  const std::vector<double> z = iaff->fuse_call(x, y).to_vector<double>();
  CHECK(max_diff(z, mix(w2, 1.0)) < 1e-14);
  CHECK(max_diff(iaff->map("weight1").to_vector<double>(), w1) < 1e-15);
  CHECK(max_diff(iaff->map("weight2").to_vector<double>(), w2) < 1e-15);
  // The PyTorch port's second stage (global_att in place of global_att2) gives another result.
  const HandCam port{*iaff->att2.local_att, *iaff->att1.global_att};
  CHECK(max_diff(z, mix(port(mix(w1, 1.0), n, c, hw), 1.0)) > 1e-3);
}

TEST_CASE("AFF family: a zero-weight gate is 0.5, and AFF is then the plain sum") {
  // Every last BN's weight and bias 0: L + G = 0, W = 0.5, so AFF gives 2 (x / 2 + y / 2) = x + y
  // and iAFF gives (x + y) / 2; in training the statistics do not matter.
  manual_seed(44);
  AFF aff(8, {2});
  IAFF iaff(8, {2});
  {
    NoGradGuard no_grad;
    for (auto* b : {&aff.att, &iaff.att1, &iaff.att2})
      for (const auto& s : {b->local_att, b->global_att}) {
        auto& bn = dynamic_cast<nn::BatchNorm2d&>(*(*s)[s->size() - 1]);
        bn.weight.zero_();
        bn.bias.zero_();
      }
  }
  const Tensor x = randn({3, 8, 4, 4}), y = randn({3, 8, 4, 4});
  CHECK(amax(abs(aff.fuse_call(x, y) - (x + y))).item() < 1e-6);
  CHECK(amax(abs(iaff.fuse_call(x, y) - 0.5 * (x + y))).item() < 1e-6);
}

TEST_CASE("gradcheck: MS-CAM AFF and iAFF in eval and train mode float64") {
  // N = 3: with two samples a BN over N alone maps every value to about +-1.
  const Shape s{3, 8, 3, 4};
  const AFFOptions r2{2};  // inter 4
  test::check_module_gradients("MS_CAM eval",
                               prepared(std::make_shared<MSCAM>(8, r2), false, 11), s);
  test::check_module_gradients_with("AFF eval", prepared(std::make_shared<AFF>(8, r2), false, 12),
                                    {s, s}, fuse);
  test::check_module_gradients_with("iAFF eval",
                                    prepared(std::make_shared<IAFF>(8, r2), false, 13), {s, s},
                                    fuse);
  // Training: every conv bias sits before a BN (zero gradient, asserted as such).
  test::check_train_gradients_except("MS_CAM", prepared(std::make_shared<MSCAM>(8, r2), true, 14),
                                     s, conv_biases({""}));
  test::check_train_gradients_except_with(
      "AFF", prepared(std::make_shared<AFF>(8, r2), true, 15), {s, s}, fuse, conv_biases({""}));
  test::check_train_gradients_except_with("iAFF",
                                          prepared(std::make_shared<IAFF>(8, r2), true, 16),
                                          {s, s}, fuse, conv_biases({"", "2"}));
  // C // r rounding down (9 // 2 = 4) on an odd shape. (A hidden width of 1 or 2 is compared
  // with PyTorch in the fixtures; here, where gradcheck draws every parameter from N(0, 1), a
  // BN bias well below -|weight| kills a ReLU unit at every position, and with one or two units
  // a whole hidden layer is dead for some draws: the check would be vacuous.)
  const Shape odd{4, 9, 3, 2};
  test::check_train_gradients_except_with("iAFF C 9 r 2",
                                          prepared(std::make_shared<IAFF>(9, AFFOptions{2}), true,
                                                   17),
                                          {odd, odd}, fuse, conv_biases({"", "2"}));
}

TEST_CASE("directional gradcheck: MS-CAM AFF and iAFF at 4x64x16x16 train and eval") {
  const Shape s{4, 64, 16, 16};
  for (bool train : {true, false}) {
    CAPTURE(train);
    const std::string mode = train ? " train" : " eval";
    manual_seed(45);
    test::check_module_directional("MS_CAM 4x64x16x16" + mode,
                                   prepared(std::make_shared<MSCAM>(64), train, 21), s, 1,
                                   test::kRealisticEps);
    test::check_module_directional_with("AFF 4x64x16x16" + mode,
                                        prepared(std::make_shared<AFF>(64), train, 22), {s, s},
                                        fuse, 1, test::kRealisticEps);
    test::check_module_directional_with("iAFF 4x64x16x16" + mode,
                                        prepared(std::make_shared<IAFF>(64), train, 23), {s, s},
                                        fuse, 1, test::kRealisticEps);
  }
}

TEST_CASE("AFF and iAFF in a CIFAR ResNet: the fusion replaces each block's sum") {
  attention::register_all();
  for (const char* name : {"aff", "iaff"}) {
    CAPTURE(name);
    manual_seed(46);
    auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, name);
    const auto st = net->state_dict();
    CHECK(st.at("layer1.0.fuse_mode.local_att.0.weight").shape() == Shape{4, 16, 1, 1});
    CHECK(st.at("layer3.0.fuse_mode.global_att.4.weight").shape() == Shape{64, 16, 1, 1});
    CHECK(st.contains("layer2.0.fuse_mode.global_att2.5.bias") == (name[0] == 'i'));
    nn::set_map_recording(*net, true);
    const Tensor x = randn({2, 3, 16, 16});
    CHECK((*net)(x).shape() == Shape{2, 10});
    const auto maps = nn::attention_maps(*net);
    if (name[0] == 'a') {
      REQUIRE(maps.size() == 3);
      CHECK(maps[0].first == "layer1.0.fuse_mode.weight");
      CHECK(maps[1].first == "layer2.0.fuse_mode.weight");
      CHECK(maps[1].second.shape() == Shape{2, 32, 8, 8});
    } else {
      REQUIRE(maps.size() == 6);
      CHECK(maps[4].first == "layer3.0.fuse_mode.weight1");
      CHECK(maps[5].first == "layer3.0.fuse_mode.weight2");
      CHECK(maps[5].second.shape() == Shape{2, 64, 4, 4});
    }

    // layer2.0 (stride 2, option-A shortcut): relu(fuse(bn2(conv2(...)), downsample(x))).
    auto* block = dynamic_cast<nn::BasicBlock*>(&child(child(*net, "layer2"), "0"));
    REQUIRE(block != nullptr);
    REQUIRE(block->downsample != nullptr);
    auto& fusion = dynamic_cast<nn::FusionModule&>(*block->attention);
    const Tensor in = relu(randn({2, 16, 8, 8}));
    const Tensor branch = (*block->bn2)((*block->conv2)(relu((*block->bn1)((*block->conv1)(in)))));
    const Tensor identity = (*block->downsample)(in);
    const Tensor expected = relu(fusion.fuse_call(branch, identity));
    const Tensor got = (*block)(in);
    CHECK(amax(abs(got - expected)).item() == 0.0);
    CHECK(amax(abs(got - relu(branch + identity))).item() > 1e-3);  // not the sum
  }
  // MS-CAM after the last BN of each block.
  auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "ms_cam:r=8");
  CHECK(net->state_dict().at("layer3.0.ms_cam.global_att.1.weight").shape() ==
        Shape{8, 64, 1, 1});
  nn::set_map_recording(*net, true);
  CHECK((*net)(randn({2, 3, 8, 8})).shape() == Shape{2, 10});
  CHECK(nn::attention_maps(*net).at(2).first == "layer3.0.ms_cam.weight");
  // r = 32 leaves the first stage's 16 channels no hidden unit.
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "aff:r=32"),
                       Contains("AFF: channels 16 // r 32 must be >= 1"), Error);
  // In a bottleneck ResNet the fusion sees the expanded width.
  nn::ResNetConfig cfg;
  cfg.blocks = {1, 1};
  cfg.widths = {4, 8};
  cfg.stem_channels = 16;
  cfg.bottleneck = true;
  cfg.attention = "iaff";
  auto bottleneck = std::make_shared<nn::ResNet>(cfg);
  CHECK(bottleneck->state_dict().at("layer2.0.fuse_mode.local_att2.0.weight").shape() ==
        Shape{8, 32, 1, 1});
  CHECK((*bottleneck)(randn({2, 3, 9, 7})).shape() == Shape{2, 10});
}

TEST_CASE("AFF probe: input2 of another shape or none at all is an error") {
  const std::string dir = std::string(FOVEA_TEST_FIXTURES) + "/attention/";
  const io::SafetensorsFile good = io::load_safetensors(dir + "aff-train.in.safetensors");
  const probe::Request r = probe::request_of(good.metadata);
  auto edited = [&](const io::SafetensorsFile& from, const std::string& key, const Tensor* value) {
    io::SafetensorsFile f = from;
    io::NamedTensors kept;
    for (const auto& item : f.tensors)
      if (item.first != key) kept.push_back(item);
    if (value) kept.emplace_back(key, *value);
    f.tensors = kept;
    return f;
  };
  const Tensor wrong = zeros({3, 16, 5, 5}, DType::Float64);
  CHECK_THROWS_WITH_AS(probe::run(r, edited(good, "input2", &wrong)),
                       Contains("AFF: the identity path (input2) float64[3, 16, 5, 5] must have "
                                "the residual branch's shape float64[3, 16, 5, 6]"),
                       Error);
  CHECK_THROWS_WITH_AS(probe::run(r, edited(good, "input2", nullptr)),
                       Contains("attention_probe: aff takes a second input, \"input2\", and the "
                                "input file has none"),
                       Error);
  const io::SafetensorsFile iaff = io::load_safetensors(dir + "iaff-train.in.safetensors");
  const probe::Request iaff_request = probe::request_of(iaff.metadata);
  CHECK_THROWS_WITH_AS(probe::run(iaff_request, edited(iaff, "input2", nullptr)),
                       Contains("iaff takes a second input, \"input2\""), Error);
  // MS-CAM takes one input: an input2 is an unknown key.
  const io::SafetensorsFile cam = io::load_safetensors(dir + "ms_cam-train.in.safetensors");
  CHECK_THROWS_WITH_AS(probe::run(probe::request_of(cam.metadata), edited(cam, "input2", &wrong)),
                       Contains("unknown key \"input2\""), Error);
  // Batch size 1 in training through the probe.
  const io::SafetensorsFile n1 = io::load_safetensors(dir + "aff-n1-eval.in.safetensors");
  probe::Request train = probe::request_of(n1.metadata);
  train.train = true;
  CHECK_THROWS_WITH_AS(probe::run(train, n1), Contains("AFF: batch size 1 in training"), Error);
}
