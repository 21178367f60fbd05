// ShuffleAttention (spec §6): the official sa_layer's names and init, the §21 constraint, the
// gates and the channel shuffle, and float64 gradient checks (input and every parameter).
// Values against PyTorch are in test_fixtures.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "attention/shuffle_attention.h"
#include "attention/register.h"
#include "engine/fovea.h"
#include "layers/resnet.h"
#include "support/fuzz_regressions.h"
#include "support/module_check.h"

using namespace fovea;
using namespace fovea::attention;
using doctest::Contains;

namespace {

std::shared_ptr<ShuffleAttention> sa64(int64_t channels, int64_t groups) {
  auto m = std::make_shared<ShuffleAttention>(channels, ShuffleAttentionOptions{groups});
  m->to(DType::Float64);
  return m;
}

// As sa64, every parameter moved off the init: there cweight and sweight are 0, the channel
// mean and the GroupNorm reach the output multiplied by 0, and a gradient check would see
// nothing of their gradients.
std::shared_ptr<ShuffleAttention> sa64_moved(int64_t channels, int64_t groups, uint64_t seed) {
  auto m = sa64(channels, groups);
  test::move_parameters(*m, seed);
  return m;
}

}  // namespace

TEST_CASE("ShuffleAttention: official names, shapes and init, the constraint") {
  auto sa = std::make_shared<ShuffleAttention>(256);  // G = 64: c' = 2
  CHECK(sa->options.groups == 64);
  const auto s = sa->state_dict();
  CHECK(s.keys() == std::vector<std::string>{"cweight", "cbias", "sweight", "sbias", "gn.weight",
                                             "gn.bias"});
  for (const char* k : {"cweight", "cbias", "sweight", "sbias"}) {
    CAPTURE(k);
    CHECK(s.at(k).shape() == Shape{1, 2, 1, 1});
  }
  CHECK(s.at("gn.weight").shape() == Shape{2});
  CHECK(sa->gn->num_groups == 2);
  CHECK(sa->num_parameters() == 12);  // 6 c' = 3 C / G
  CHECK(amax(abs(s.at("cweight"))).item() == 0.0);
  CHECK(amax(abs(s.at("sweight"))).item() == 0.0);
  CHECK(amin(s.at("cbias")).item() == 1.0);
  CHECK(amax(s.at("cbias")).item() == 1.0);
  CHECK(amin(s.at("sbias")).item() == 1.0);
  CHECK(amin(s.at("gn.weight")).item() == 1.0);
  CHECK(amax(abs(s.at("gn.bias"))).item() == 0.0);

  CHECK_THROWS_WITH_AS(ShuffleAttention(48),
                       Contains("ShuffleAttention: channels 48 not divisible by 2*groups=128"),
                       Error);
  CHECK_THROWS_WITH_AS(ShuffleAttention(20, {4}),
                       Contains("ShuffleAttention: channels 20 not divisible by 2*groups=8"), Error);
  CHECK_THROWS_WITH_AS(ShuffleAttention(16, {0}),
                       Contains("ShuffleAttention: groups 0 must be >= 1"), Error);
  CHECK(ShuffleAttention(16, {8}).state_dict().at("cweight").shape() == Shape{1, 1, 1, 1});
  // A groups count whose double overflows int64 (fuzz_attention's input): the same error.
  attention::register_all();
  const std::vector<uint8_t> text = test::fuzz_input("fuzz_attention", "sa-groups-overflow");
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, std::string(text.begin(), text.end())),
                       Contains("channels 16 not divisible by 2*groups=2*4777777777777777777"),
                       Error);
  CHECK_THROWS_WITH_AS((*sa)(randn({2, 128, 4, 4})),
                       Contains("ShuffleAttention: expected input [N, 256, H, W]"), Error);
}

TEST_CASE("ShuffleAttention: at init a sigmoid(1) scale plus the shuffle, maps as computed") {
  auto sa = sa64(16, 2);  // c' = 4
  sa->set_recording(true);
  const Tensor x = randn({3, 16, 4, 5}, DType::Float64);
  const Tensor y = (*sa)(x);
  CHECK(y.shape() == x.shape());
  CHECK(sa->map("channel").shape() == Shape{6, 4, 1, 1});  // [N G, c', 1, 1]
  CHECK(sa->map("spatial").shape() == Shape{6, 4, 4, 5});  // [N G, c', H, W]
  const double s1 = 1 / (1 + std::exp(-1.0));
  CHECK(amin(sa->map("channel")).item() == doctest::Approx(s1).epsilon(1e-15));
  CHECK(amax(sa->map("spatial")).item() == doctest::Approx(s1).epsilon(1e-15));
  // Y[:, j] = sigmoid(1) X[:, (j mod 2) C/2 + j div 2].
  for (int64_t j = 0; j < 16; ++j) {
    CAPTURE(j);
    const Tensor from = x.narrow(1, (j % 2) * 8 + j / 2, 1);
    CHECK(amax(abs(y.narrow(1, j, 1) - from * s1)).item() < 1e-15);
  }
}

TEST_CASE("ShuffleAttention: gates away from init, train equals eval, 1x1 maps stay finite") {
  manual_seed(11);
  auto sa = sa64(16, 4);  // c' = 2
  {
    NoGradGuard no_grad;
    for (Tensor p : sa->parameters()) p.copy_(randn(p.shape(), DType::Float64));
  }
  sa->set_recording(true);
  const Tensor x = randn({2, 16, 3, 3}, DType::Float64);
  const Tensor y_train = (*sa)(x);
  // The channel gate of (sample, group) g: sigmoid(cweight * mean_hw x0 + cbias).
  const Tensor x0 = x.reshape({8, 4, 3, 3}).narrow(1, 0, 2);
  const Tensor expect = sigmoid(sa->cweight * mean(x0, {2, 3}, true) + sa->cbias);
  CHECK(amax(abs(sa->map("channel") - expect)).item() < 1e-15);
  sa->eval();
  CHECK(amax(abs((*sa)(x) - y_train)).item() == 0.0);
  // One value per GroupNorm group (H = W = 1, N = 1): the spatial gate is sigmoid(sweight *
  // gn.bias + sbias), finite; train and eval alike.
  for (bool train : {true, false}) {
    CAPTURE(train);
    sa->train(train);
    const Tensor one = (*sa)(randn({1, 16, 1, 1}, DType::Float64));
    CHECK(one.shape() == Shape{1, 16, 1, 1});
    CHECK(std::isfinite(sum(one).item()));
  }
}

TEST_CASE("gradcheck: ShuffleAttention, c' = 4, 2 and 1, float64") {
  test::check_module_gradients("ShuffleAttention G=2", sa64_moved(16, 2, 1), {2, 16, 3, 4});
  test::check_module_gradients("ShuffleAttention G=4", sa64_moved(16, 4, 2), {3, 16, 4, 3});
  test::check_module_gradients("ShuffleAttention G=8", sa64_moved(16, 8, 3), {2, 16, 3, 3});
  test::check_module_directional("ShuffleAttention 4x64x16x16", sa64_moved(64, 16, 4),
                                 {4, 64, 16, 16}, 1, test::kRealisticEps);
}

TEST_CASE("ShuffleAttention in a CIFAR ResNet: after the last BN of every block, as sa") {
  attention::register_all();
  // The default G = 64 does not fit the CIFAR widths: the constraint names the numbers.
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "sa"),
                       Contains("ShuffleAttention: channels 16 not divisible by 2*groups=128"),
                       Error);
  auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "sa:groups=8");
  const auto st = net->state_dict();
  CHECK(st.at("layer1.0.sa.cweight").shape() == Shape{1, 1, 1, 1});  // 16 / (2 * 8)
  CHECK(st.at("layer3.0.sa.gn.weight").shape() == Shape{4});         // 64 / (2 * 8)
  // The module keeps its own init inside the network.
  CHECK(amin(st.at("layer2.0.sa.sbias")).item() == 1.0);
  nn::set_map_recording(*net, true);
  CHECK((*net)(randn({2, 3, 16, 16})).shape() == Shape{2, 10});
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 6);
  CHECK(maps[0].first == "layer1.0.sa.channel");
  CHECK(maps[0].second.shape() == Shape{16, 1, 1, 1});
  CHECK(maps[5].first == "layer3.0.sa.spatial");
  CHECK(maps[5].second.shape() == Shape{16, 4, 4, 4});
}
