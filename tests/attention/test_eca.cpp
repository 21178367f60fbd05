// ECA (spec §4): the reference state_dict name, the adaptive kernel size and its override, the
// zero padding along the channel axis, init, constraints, the channel map, and float64 gradient
// checks (input and the conv weight). Values against PyTorch are in test_fixtures.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "attention/eca.h"
#include "attention/register.h"
#include "engine/fovea.h"
#include "layers/resnet.h"
#include "support/module_check.h"

using namespace fovea;
using namespace fovea::attention;
using doctest::Contains;

namespace {

std::shared_ptr<ECA> eca64(int64_t channels, const ECAOptions& options = {}) {
  auto m = std::make_shared<ECA>(channels, options);
  m->to(DType::Float64);
  return m;
}

}  // namespace

TEST_CASE("ECA: adaptive kernel size as the spec's table, override and gamma, b") {
  const std::vector<int64_t> channels{16, 32, 64, 128, 256, 512, 1024, 2048};
  const std::vector<int64_t> expected{3, 3, 3, 5, 5, 5, 5, 7};
  for (size_t i = 0; i < channels.size(); ++i) {
    CAPTURE(channels[i]);
    CHECK(ECA::adaptive_kernel_size(channels[i]) == expected[i]);
    CHECK(ECA(channels[i]).k_size == expected[i]);
  }
  // The paper's formula has no k >= 3 clamp (timm's): C = 4 gives t = 1, C = 1 gives t = 0 -> 1.
  CHECK(ECA::adaptive_kernel_size(4) == 1);
  CHECK(ECA::adaptive_kernel_size(1) == 1);
  CHECK(ECA::adaptive_kernel_size(8) == 3);
  // gamma 1, b 1 at C = 16: t = 5. b = -9 at C = 64: |(6 - 9) / 2| = 1.5 -> 1.
  CHECK(ECA(16, {0, 1, 1}).k_size == 5);
  CHECK(ECA(64, {0, 2, -9}).k_size == 1);
  CHECK(ECA(2048, {5}).k_size == 5);
  CHECK(ECA(4, {9}).k_size == 9);  // a kernel longer than the channel axis still fits
}

TEST_CASE("ECA: name, init, constraints and the spec's options") {
  manual_seed(3);
  ECA m(256);
  CHECK(m.state_dict().keys() == std::vector<std::string>{"conv.weight"});
  const Tensor w = m.state_dict().at("conv.weight");
  CHECK(w.shape() == Shape{1, 1, 5});
  // PyTorch's default init: U(-1/sqrt(k), 1/sqrt(k)), fan_in = k.
  CHECK(amax(abs(w)).item() <= 1 / std::sqrt(5.0));
  CHECK(amax(abs(w)).item() > 0);
  CHECK(m.conv->options.padding == 2);
  CHECK_FALSE(m.conv->bias.defined());

  CHECK_THROWS_WITH_AS(ECA(16, {4}), Contains("ECA: k_size 4 must be odd and positive"), Error);
  CHECK_THROWS_WITH_AS(ECA(16, {-3}), Contains("ECA: k_size -3 must be odd and positive"), Error);
  CHECK_THROWS_WITH_AS(ECA(16, {0, 0, 1}), Contains("ECA: gamma 0 must be > 0"), Error);
  // A gamma of 1e-7 would ask for a kernel of 5e7 (gigabytes), 1e-300 for one past int64.
  CHECK_THROWS_WITH_AS(ECA(16, {0, 1e-7, 1}),
                       Contains("ECA: the adaptive kernel size |(log2 16 + b 1) / gamma 1e-07| = "
                                "5e+07 is more than 99"),
                       Error);
  CHECK_THROWS_WITH_AS(ECA(16, {0, 1e-300, 1}), Contains("is more than 99"), Error);
  CHECK_THROWS_WITH_AS(ECA(16, {0, 2, -1e30}), Contains("is more than 99"), Error);
  CHECK_THROWS_WITH_AS(ECA(0), Contains("ECA: channels 0 must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(m(randn({2, 32, 4, 4})), Contains("ECA: expected input [N, 256, H, W]"),
                       Error);
  CHECK_THROWS_WITH_AS(m(randn({2, 256, 4})), Contains("ECA: expected input [N, 256, H, W]"),
                       Error);

  // Through the slot's factory with options as the command line gives them.
  const nn::AttentionSpec spec = eca_spec();
  CHECK(spec.child_name == "eca");
  nn::AttentionContext c;
  c.channels = 16;
  c.options = nn::AttentionOptions("eca", spec.options, "gamma=1");
  CHECK(std::dynamic_pointer_cast<ECA>(spec.make(c))->k_size == 5);
  c.options = nn::AttentionOptions("eca", spec.options, "k_size=7");
  CHECK(std::dynamic_pointer_cast<ECA>(spec.make(c))->conv->weight.shape() == Shape{1, 1, 7});
  c.options = nn::AttentionOptions("eca", spec.options, "");
  CHECK(std::dynamic_pointer_cast<ECA>(spec.make(c))->k_size == 3);
}

TEST_CASE("ECA: the channel map is sigmoid of the zero-padded channel convolution of GAP") {
  auto m = eca64(5, {3});
  {
    NoGradGuard no_grad;
    m->conv->weight.copy_(from_values({0.5, -1.0, 2.0}, {1, 1, 3}, DType::Float64));
  }
  m->set_recording(true);
  manual_seed(11);
  const Tensor x = randn({2, 5, 3, 4}, DType::Float64);
  const Tensor y = (*m)(x);
  const Tensor a = m->map("channel");
  REQUIRE(a.shape() == Shape{2, 5});
  const std::vector<double> g = mean(x, {2, 3}).to_vector<double>();
  const std::vector<double> got = a.to_vector<double>();
  const double w[3] = {0.5, -1.0, 2.0};
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 5; ++c) {
      double z = 0;
      for (int j = 0; j < 3; ++j) {
        const int src = c + j - 1;  // zero padding: channels -1 and 5 read 0
        if (src >= 0 && src < 5) z += w[j] * g[n * 5 + src];
      }
      CAPTURE(n);
      CAPTURE(c);
      CHECK(got[n * 5 + c] == doctest::Approx(1 / (1 + std::exp(-z))).epsilon(1e-14));
    }
  CHECK(amax(abs(y - x * a.reshape({2, 5, 1, 1}))).item() == 0.0);
  // Train and eval are the same function.
  m->eval();
  CHECK(amax(abs((*m)(x) - y)).item() == 0.0);
}

TEST_CASE("gradcheck: ECA adaptive, overridden and k = 1 kernels, float64") {
  test::check_module_gradients("ECA C=16 k=3", eca64(16), {3, 16, 3, 4});
  test::check_module_gradients("ECA C=8 k=5", eca64(8, {5}), {2, 8, 4, 3});
  test::check_module_gradients("ECA C=4 k=1", eca64(4), {2, 4, 3, 2});
  test::check_module_gradients("ECA C=6 k=9", eca64(6, {9}), {2, 6, 2, 3});
  test::check_module_directional("ECA 4x64x16x16", eca64(64), {4, 64, 16, 16}, 1,
                                 test::kRealisticEps);
}

TEST_CASE("ECA in a CIFAR ResNet: named eca, its channel map per block") {
  attention::register_all();
  auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "eca:k_size=5");
  nn::set_map_recording(*net, true);
  (*net)(randn({2, 3, 8, 8}));
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 3);
  CHECK(maps[0].first == "layer1.0.eca.channel");
  CHECK(maps[0].second.shape() == Shape{2, 16});
  CHECK(maps[2].first == "layer3.0.eca.channel");
  CHECK(maps[2].second.shape() == Shape{2, 64});
  CHECK(net->state_dict().at("layer2.0.eca.conv.weight").shape() == Shape{1, 1, 5});
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "eca:k_size=2"),
                       Contains("ECA: k_size 2 must be odd"), Error);
}
