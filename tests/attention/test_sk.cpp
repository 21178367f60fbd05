// SK (spec §5): SKConv (the official unit, §5a, timm's names) and SKAttention (xmu, §5b): the
// state_dict names, the prototxt init, the constraints, the strided replacement, the maps,
// float64 gradient checks in train and eval mode, and both inside ResNets (basic and bottleneck
// blocks). Values against PyTorch are in test_fixtures.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "attention/register.h"
#include "attention/sk.h"
#include "engine/fovea.h"
#include "layers/resnet.h"
#include "support/module_check.h"
#include "support/op_check.h"

using namespace fovea;
using namespace fovea::attention;
using doctest::Contains;

namespace {

std::vector<std::string> keys(const nn::Module& m) { return m.state_dict().keys(); }

template <class M>
std::shared_ptr<M> in_mode(std::shared_ptr<M> m, bool train) {
  m->to(DType::Float64);
  m->train(train);
  return m;
}

SKConvOptions sk_opts(int64_t groups, int64_t r, int64_t L, bool fuse_bn = true) {
  SKConvOptions o;
  o.groups = groups;
  o.r = r;
  o.L = L;
  o.fuse_bn = fuse_bn;
  return o;
}

SKAttentionOptions xmu_opts(std::vector<int64_t> kernels, int64_t reduction, int64_t group,
                            int64_t L) {
  SKAttentionOptions o;
  o.kernels = std::move(kernels);
  o.reduction = reduction;
  o.group = group;
  o.L = L;
  return o;
}

std::vector<std::string> bn_keys(const std::string& prefix) {
  return {prefix + ".weight", prefix + ".bias", prefix + ".running_mean", prefix + ".running_var",
          prefix + ".num_batches_tracked"};
}

double sample_std(const Tensor& w) {
  const Tensor c = w - mean(w);
  return std::sqrt(mean(c * c).item());
}

}  // namespace

TEST_CASE("SKConv: timm names, prototxt init, momentum 0.05 and constraints") {
  manual_seed(31);
  auto m = std::make_shared<SKConv>(64, 64);
  std::vector<std::string> want;
  for (const char* p : {"paths.0", "paths.1"}) {
    want.push_back(std::string(p) + ".conv.weight");
    for (const auto& k : bn_keys(std::string(p) + ".bn")) want.push_back(k);
  }
  want.push_back("attn.fc_reduce.weight");
  for (const auto& k : bn_keys("attn.bn")) want.push_back(k);
  want.push_back("attn.fc_select.weight");
  CHECK(keys(*m) == want);
  const auto s = m->state_dict();
  CHECK(m->d == 32);  // max(64 // 16, 32)
  CHECK(s.at("paths.0.conv.weight").shape() == Shape{64, 2, 3, 3});  // groups 32
  CHECK(s.at("paths.1.conv.weight").shape() == Shape{64, 2, 3, 3});
  CHECK(s.at("attn.fc_reduce.weight").shape() == Shape{32, 64, 1, 1});
  CHECK(s.at("attn.fc_select.weight").shape() == Shape{128, 32, 1, 1});
  CHECK(m->convs[0]->options.dilation == std::array<int64_t, 2>{1, 1});
  CHECK(m->convs[0]->options.padding == std::array<int64_t, 2>{1, 1});
  CHECK(m->convs[1]->options.dilation == std::array<int64_t, 2>{2, 2});
  CHECK(m->convs[1]->options.padding == std::array<int64_t, 2>{2, 2});
  CHECK(m->convs[1]->options.groups == 32);
  CHECK_FALSE(m->convs[0]->bias.defined());
  // msra: N(0, 2 / fan_in), fan_in = 2 * 9 = 18, std 0.333; fc layers N(0, 0.01^2). A sample
  // std's relative spread is 1 / sqrt(2 n); each tolerance is 5 of those. The two path convs,
  // 2 x 1152 draws: spread 0.015, tolerance 0.075; PyTorch's default conv init (uniform, bound
  // 1 / sqrt(18), std 1 / sqrt(3 * 18) = 0.136) is at ratio 0.41, kaiming fan_out
  // (sqrt(2 / (64 * 9)) = 0.059) at 0.18. fc_reduce (32 x 64, 2048 draws, tolerance 0.08): the
  // default std 1 / sqrt(3 * 64) = 0.072 is at ratio 7.2. fc_select (128 x 32, 4096 draws,
  // tolerance 0.055): the default std 1 / sqrt(3 * 32) = 0.102 is at ratio 10. Zeros are at 0.
  const Tensor paths =
      cat({s.at("paths.0.conv.weight").reshape({-1}), s.at("paths.1.conv.weight").reshape({-1})},
          0);
  CHECK(std::abs(sample_std(paths) / std::sqrt(2.0 / 18) - 1) < 0.075);
  CHECK(std::abs(sample_std(s.at("attn.fc_reduce.weight")) / 0.01 - 1) < 0.08);
  CHECK(std::abs(sample_std(s.at("attn.fc_select.weight")) / 0.01 - 1) < 0.055);
  CHECK(amin(s.at("paths.1.bn.weight")).item() == 1.0);
  CHECK(amax(abs(s.at("attn.bn.bias"))).item() == 0.0);
  // Caffe's momentum 0.95 weights the old statistic: PyTorch's 0.05, on all three BNs.
  for (const auto* bn : {m->bns[0].get(), m->bns[1].get(), m->fuse_bn.get()})
    CHECK(*bn->options.momentum == 0.05);

  // fuse_bn=false drops attn.bn only.
  auto plain = std::make_shared<SKConv>(64, 64, 1, sk_opts(32, 16, 32, false));
  CHECK(keys(*plain).size() == want.size() - 5);
  CHECK(plain->fuse_bn == nullptr);

  CHECK_THROWS_WITH_AS(SKConv(48, 48),
                       Contains("SKConv: in_channels 48 and out_channels 48 must be divisible by "
                                "groups=32"),
                       Error);
  CHECK_THROWS_WITH_AS(SKConv(64, 48, 1, sk_opts(32, 16, 32)),
                       Contains("out_channels 48 must be divisible by groups=32"), Error);
  SKConvOptions one;
  one.kernels = {{3, 1}};
  CHECK_THROWS_WITH_AS(SKConv(16, 16, 1, one), Contains("SKConv: 1 paths given; expected 2 to 16"),
                       Error);
  SKConvOptions even;
  even.kernels = {{3, 1}, {4, 1}};
  even.groups = 4;
  CHECK_THROWS_WITH_AS(SKConv(16, 16, 1, even), Contains("SKConv: path kernel 4 dilation 1"),
                       Error);
  CHECK_THROWS_WITH_AS(SKConv(16, 16, 1, sk_opts(4, 0, 32)), Contains("SKConv: r 0 and L 32"),
                       Error);
  SKConvOptions mom = sk_opts(4, 16, 32);
  mom.bn_momentum = 0.95;
  CHECK_NOTHROW(SKConv(16, 16, 1, mom));
  mom.bn_momentum = 1.5;
  CHECK_THROWS_WITH_AS(SKConv(16, 16, 1, mom), Contains("SKConv: bn_momentum 1.5"), Error);
  CHECK_THROWS_WITH_AS((*m)(randn({2, 32, 4, 4})), Contains("SKConv: expected input [N, 64, H, W]"),
                       Error);

  CHECK(parse_sk_kernels("3d1+3d2") == std::vector<std::pair<int64_t, int64_t>>{{3, 1}, {3, 2}});
  CHECK(parse_sk_kernels("5+3d3") == std::vector<std::pair<int64_t, int64_t>>{{5, 1}, {3, 3}});
  CHECK_THROWS_WITH_AS(parse_sk_kernels("3x1+3"), Contains("SK: kernels=\"3x1+3\": \"3x1\" is not a number"),
                       Error);
  CHECK_THROWS_WITH_AS(parse_sk_kernels("3+"), Contains("\"\" is not a number"), Error);
  CHECK_THROWS_WITH_AS(parse_sk_kernels("3+99999999"), Contains("\"99999999\" is not a number"),
                       Error);
}

TEST_CASE("SKConv: batch size 1 in training is an error, in eval it runs") {
  manual_seed(32);
  auto m = std::make_shared<SKConv>(16, 16, 1, sk_opts(4, 16, 32));
  // The path BNs see 1 x 4 x 4 values per channel; the fuse BN sees one value per channel.
  CHECK_THROWS_WITH_AS((*m)(randn({1, 16, 4, 4})),
                       Contains("expected more than 1 value per channel when training"), Error);
  m->eval();
  const Tensor y = (*m)(randn({1, 16, 4, 4}));
  CHECK(y.shape() == Shape{1, 16, 4, 4});
  CHECK(std::isfinite(amax(abs(y)).item()));
  // Without the fuse BN nothing normalises over N alone.
  auto plain = std::make_shared<SKConv>(16, 16, 1, sk_opts(4, 16, 32, false));
  CHECK((*plain)(randn({1, 16, 4, 4})).shape() == Shape{1, 16, 4, 4});
}

TEST_CASE("SKConv: strided replacement, the branch map and V = sum a_i U_i") {
  manual_seed(33);
  const Tensor x = randn({3, 32, 7, 9}, DType::Float64);
  for (bool train : {true, false}) {
    CAPTURE(train);
    auto m = in_mode(std::make_shared<SKConv>(32, 64, 2, sk_opts(8, 16, 32)), train);
    m->set_recording(true);
    const Tensor y = (*m)(x);
    CHECK(y.shape() == Shape{3, 64, 4, 5});  // ceil(7 / 2), ceil(9 / 2)
    const Tensor a = m->map("branch");
    REQUIRE(a.shape() == Shape{3, 2, 64});
    CHECK(amax(abs(sum(a, {1}) - 1.0)).item() < 1e-14);
    CHECK(amin(a).item() > 0.0);
    if (!train) {  // eval: the paths recomputed from the children give the same V
      const Tensor u0 = relu((*m->bns[0])((*m->convs[0])(x)));
      const Tensor u1 = relu((*m->bns[1])((*m->convs[1])(x)));
      const Tensor v = u0 * a.select(1, 0).reshape({3, 64, 1, 1}) +
                       u1 * a.select(1, 1).reshape({3, 64, 1, 1});
      CHECK(amax(abs(y - v)).item() < 1e-13);
    }
  }
  // Three paths with a 5x5 and an odd size: still ceil(H / stride).
  SKConvOptions o = sk_opts(4, 4, 8);
  o.kernels = {{3, 1}, {5, 1}, {3, 3}};
  auto three = in_mode(std::make_shared<SKConv>(16, 16, 3, o), true);
  three->set_recording(true);
  CHECK((*three)(randn({2, 16, 10, 8}, DType::Float64)).shape() == Shape{2, 16, 4, 3});
  CHECK(three->map("branch").shape() == Shape{2, 3, 16});
}

TEST_CASE("SKAttention (xmu): names, default init and constraints") {
  manual_seed(34);
  auto m = std::make_shared<SKAttention>(64);
  std::vector<std::string> want;
  for (int i = 0; i < 4; ++i) {
    const std::string p = "convs." + std::to_string(i);
    want.push_back(p + ".conv.weight");
    want.push_back(p + ".conv.bias");
    for (const auto& k : bn_keys(p + ".bn")) want.push_back(k);
  }
  want.push_back("fc.weight");
  want.push_back("fc.bias");
  for (int i = 0; i < 4; ++i) {
    want.push_back("fcs." + std::to_string(i) + ".weight");
    want.push_back("fcs." + std::to_string(i) + ".bias");
  }
  CHECK(keys(*m) == want);
  const auto s = m->state_dict();
  CHECK(m->d == 32);
  CHECK(s.at("convs.0.conv.weight").shape() == Shape{64, 64, 1, 1});
  CHECK(s.at("convs.3.conv.weight").shape() == Shape{64, 64, 7, 7});
  CHECK(m->convs[3]->options.padding == std::array<int64_t, 2>{3, 3});
  CHECK(s.at("fc.weight").shape() == Shape{32, 64});
  CHECK(s.at("fcs.2.weight").shape() == Shape{64, 32});
  // PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), BN 1 / 0, momentum 0.1.
  CHECK(amax(abs(s.at("convs.3.conv.bias"))).item() <= 1 / std::sqrt(64.0 * 49));
  CHECK(amax(abs(s.at("fcs.1.weight"))).item() <= 1 / std::sqrt(32.0));
  CHECK(amin(s.at("convs.2.bn.weight")).item() == 1.0);
  CHECK(*m->bns[0]->options.momentum == 0.1);

  CHECK_THROWS_WITH_AS(SKAttention(48, 1, xmu_opts({3, 5}, 16, 32, 32)),
                       Contains("SKAttention: channels 48 must be divisible by group=32"), Error);
  CHECK_THROWS_WITH_AS(SKAttention(16, 1, xmu_opts({3}, 16, 1, 32)),
                       Contains("SKAttention: 1 kernels given; expected 2 to 16"), Error);
  CHECK_THROWS_WITH_AS(SKAttention(16, 1, xmu_opts({3, 2}, 16, 1, 32)),
                       Contains("SKAttention: kernel 2 (expected an odd size"), Error);
  CHECK_THROWS_WITH_AS(SKAttention(16, 1, xmu_opts({3, 5}, 0, 1, 32)),
                       Contains("SKAttention: reduction 0 and L 32 must be >= 1"), Error);
  CHECK_THROWS_WITH_AS((*m)(randn({2, 32, 4, 4})),
                       Contains("SKAttention: expected input [N, 64, H, W]"), Error);
  // No BN on [N, d]: batch size 1 in training runs (the path BNs see H x W values).
  auto small = std::make_shared<SKAttention>(8, 1, xmu_opts({1, 3}, 2, 1, 4));
  small->set_recording(true);
  CHECK((*small)(randn({1, 8, 3, 3})).shape() == Shape{1, 8, 3, 3});
  CHECK(small->map("branch").shape() == Shape{1, 2, 8});
  // Strided in a bottleneck: every path conv takes the stride.
  auto strided = std::make_shared<SKAttention>(8, 2, xmu_opts({1, 3, 5}, 2, 1, 4));
  CHECK((*strided)(randn({2, 8, 5, 6})).shape() == Shape{2, 8, 3, 3});
}


TEST_CASE("gradcheck: SKConv and SKAttention, train and eval, strided, float64") {
  manual_seed(35);
  auto sk = [](int64_t stride, bool fuse_bn) {
    return std::make_shared<SKConv>(8, 8, stride, sk_opts(2, 2, 2, fuse_bn));  // d = 4
  };
  // N = 3: with two samples a BN over N alone maps every value to about +-1.
  test::check_module_gradients("SKConv eval", in_mode(sk(1, true), false), {3, 8, 3, 4});
  test::check_module_gradients("SKConv train", in_mode(sk(1, true), true), {3, 8, 3, 4});
  test::check_module_gradients("SKConv stride 2 train", in_mode(sk(2, true), true), {3, 8, 5, 4});
  test::check_module_gradients("SKConv no fuse BN train", in_mode(sk(1, false), true), {2, 8, 4, 3});
  SKConvOptions o = sk_opts(4, 2, 2);
  o.kernels = {{1, 1}, {3, 2}, {5, 1}};
  test::check_module_gradients("SKConv three paths train",
                               in_mode(std::make_shared<SKConv>(8, 8, 1, o), true), {3, 8, 4, 5});

  auto xmu = [] { return std::make_shared<SKAttention>(6, 1, xmu_opts({1, 3, 5}, 2, 2, 3)); };
  // Unit-range values: with N(0, 1) weights and eval BN statistics 0 / 1 the paths reach |U| ~ 10
  // and the path softmax saturates, so the fcs gradients vanish (a vacuous check).
  test::check_module_gradients("SKAttention eval", in_mode(xmu(), false), {2, 6, 4, 3},
                               test::Inputs::Unit);
  test::check_train_gradients_except(
      "SKAttention", in_mode(xmu(), true), {2, 6, 4, 3},
      {"convs.0.conv.bias", "convs.1.conv.bias", "convs.2.conv.bias"});  // each before a BN
}

TEST_CASE("directional gradcheck: SKConv and SKAttention at 4x64x16x16, train and eval") {
  // 131,072 path ReLUs: a step of 1e-4 along a unit-variance direction crosses some of their
  // kinks, and one sitting almost at the current point escapes the h-versus-h/2 test. Measured
  // over 3 inits x 3 directions x (train, eval), 17 of 18 draws passed at kRealisticEps; the one
  // that failed (init 36, direction 1, train: 1.08e-7) had a small directional derivative (356
  // against ~2000 typical), so the missed kink's ~4e-5 counted more, and the same draw matched
  // the analytic value to 9.7e-9 at eps 3e-5 and 1.2e-8 at eps 1e-7. Init 37 is used below.
  for (bool train : {true, false}) {
    CAPTURE(train);
    manual_seed(37);  // the module's init is part of what the directional difference sees
    test::check_module_directional(train ? "SKConv 4x64x16x16 train" : "SKConv 4x64x16x16 eval",
                                   in_mode(std::make_shared<SKConv>(64, 64), train),
                                   {4, 64, 16, 16}, 1, test::kRealisticEps);
  }
  // The xmu layout with its default 1+3+5+7 paths (262,144 ReLUs), in training. In eval mode
  // its BNs (statistics 0 / 1) leave the path pre-activations at the conv's own scale (~0.5),
  // which a unit-variance direction moves by ~60 h for the 7x7 path (fan_in 3136, weights
  // ~0.01): at every h down to 1e-4 / 4096 some of the 262,144 kinks are crossed (measured: 8 of
  // 8 directions redrawn). The eval-mode gradients are checked element-wise above. In training
  // the same holds more mildly: of inits 39..42, 39, 40 and 42 passed (errors 3e-9 .. 2e-8) and
  // 41 had a kink within every h of all 8 directions; a wrong gradient would fail every init.
  manual_seed(39);
  test::check_module_directional("SKAttention 4x64x16x16 train",
                                 in_mode(std::make_shared<SKAttention>(64), true), {4, 64, 16, 16},
                                 1, test::kRealisticEps);
}

TEST_CASE("SK in a CIFAR ResNet: replaces conv2 of every block") {
  attention::register_all();
  manual_seed(37);
  auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "sk:groups=4,r=4,L=8");
  const auto st = net->state_dict();
  CHECK(st.at("layer1.0.conv2.paths.0.conv.weight").shape() == Shape{16, 4, 3, 3});
  CHECK(st.at("layer3.0.conv2.paths.1.conv.weight").shape() == Shape{64, 16, 3, 3});
  CHECK(st.at("layer3.0.conv2.attn.fc_reduce.weight").shape() == Shape{16, 64, 1, 1});
  CHECK(st.at("layer3.0.conv2.attn.fc_select.weight").shape() == Shape{128, 16, 1, 1});
  const auto names = st.keys();
  CHECK(std::find(names.begin(), names.end(), "layer1.0.conv2.weight") == names.end());
  // The module keeps its own init (fc_select N(0, 0.01^2)), not the trunk's kaiming.
  CHECK(amax(abs(st.at("layer3.0.conv2.attn.fc_select.weight"))).item() < 0.07);
  nn::set_map_recording(*net, true);
  CHECK((*net)(randn({2, 3, 16, 16})).shape() == Shape{2, 10});
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 3);
  CHECK(maps[0].first == "layer1.0.conv2.branch");
  CHECK(maps[2].first == "layer3.0.conv2.branch");
  CHECK(maps[2].second.shape() == Shape{2, 2, 64});

  // groups=32 does not divide the first stage's 16 channels.
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "sk"),
                       Contains("in_channels 16 and out_channels 16 must be divisible by groups=32"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "sk:groups=4,kernels=3+4"),
                       Contains("SKConv: path kernel 4 dilation 1"), Error);
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "sk:groups=4,kernels=3+3q2"),
                       Contains("\"3q2\" is not a number"), Error);
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "sk:groups=100000"),
                       Contains("groups"), Error);

  auto xmu = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "sk_xmu:kernels=1+3,reduction=4,L=8");
  CHECK(xmu->state_dict().at("layer2.0.conv2.convs.1.conv.weight").shape() == Shape{32, 32, 3, 3});
  CHECK(xmu->state_dict().at("layer2.0.conv2.fcs.1.weight").shape() == Shape{32, 8});
  CHECK((*xmu)(randn({2, 3, 8, 8})).shape() == Shape{2, 10});
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "sk_xmu:kernels=3d2+1"),
                       Contains("SKAttention: kernels take no dilation"), Error);
}

TEST_CASE("SK in a bottleneck ResNet: the strided 3x3 conv is replaced") {
  attention::register_all();
  manual_seed(38);
  nn::ResNetConfig c;
  c.blocks = {1, 2};
  c.widths = {8, 16};
  c.stem_channels = 16;
  c.bottleneck = true;
  c.attention = "sk:groups=8";
  auto net = std::make_shared<nn::ResNet>(c);
  const auto st = net->state_dict();
  CHECK(st.at("layer2.0.conv2.paths.0.conv.weight").shape() == Shape{16, 2, 3, 3});
  CHECK(st.at("layer2.0.conv2.attn.fc_select.weight").shape() == Shape{32, 32, 1, 1});
  const SKConv* strided = nullptr;
  const SKConv* plain = nullptr;
  for (const auto& named : net->named_modules()) {
    if (named.first == "layer2.0.conv2") strided = dynamic_cast<const SKConv*>(named.second);
    if (named.first == "layer2.1.conv2") plain = dynamic_cast<const SKConv*>(named.second);
  }
  REQUIRE(strided != nullptr);
  REQUIRE(plain != nullptr);
  CHECK(strided->stride == 2);
  CHECK(strided->convs[1]->options.stride == std::array<int64_t, 2>{2, 2});
  CHECK(plain->stride == 1);
  nn::set_map_recording(*net, true);
  CHECK((*net)(randn({2, 3, 9, 11})).shape() == Shape{2, 10});
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 3);
  CHECK(maps[1].first == "layer2.0.conv2.branch");
  CHECK(maps[1].second.shape() == Shape{2, 2, 16});

  c.attention = "sk_xmu:kernels=1+3+5,reduction=2,L=4";
  auto xmu = std::make_shared<nn::ResNet>(c);
  CHECK((*xmu)(randn({2, 3, 9, 11})).shape() == Shape{2, 10});
}
