// CoordAtt (spec §9): the official names, mip, the mbv2_ca.py init, the §21 constraint, h-swish at
// its kinks, the two strip gates, batch size 1, and float64 gradient checks (input and every
// parameter) in train and eval mode. Values against PyTorch are in test_fixtures.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "attention/coord_attention.h"
#include "attention/register.h"
#include "engine/fovea.h"
#include "layers/resnet.h"
#include "support/module_check.h"
#include "support/op_check.h"

using namespace fovea;
using namespace fovea::attention;
using doctest::Contains;

namespace {

std::shared_ptr<CoordAtt> ca64(int64_t channels, int64_t reduction, bool train) {
  auto m = std::make_shared<CoordAtt>(channels, channels, CoordAttOptions{reduction});
  m->to(DType::Float64);
  m->train(train);
  return m;
}

}  // namespace

TEST_CASE("CoordAtt: official names, mip, mbv2 init and the constraint") {
  manual_seed(5);
  auto ca = std::make_shared<CoordAtt>(256, 256);  // mip = max(8, 256 // 32) = 8
  CHECK(ca->mip == 8);
  const auto s = ca->state_dict();
  CHECK(s.keys() == std::vector<std::string>{
                        "conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias",
                        "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
                        "conv_h.weight", "conv_h.bias", "conv_w.weight", "conv_w.bias"});
  CHECK(s.at("conv1.weight").shape() == Shape{8, 256, 1, 1});
  CHECK(s.at("conv_h.weight").shape() == Shape{256, 8, 1, 1});
  CHECK(s.at("conv_w.weight").shape() == Shape{256, 8, 1, 1});
  // N(0, 2 / out_channels) for the 1x1 convs, biases 0, BN 1 / 0 with PyTorch's defaults.
  // Each conv has 2048 weights: a sample std's relative spread is 1 / sqrt(2 n) = 0.016, the
  // tolerance 0.08 is 5 of those. conv1 (8 x 256): sqrt(2 / 8) = 0.5; PyTorch's default conv
  // init (uniform, bound 1 / sqrt(fan_in = 256), std 1 / sqrt(3 * 256) = 0.036) is at ratio
  // 0.07, kaiming fan_in (sqrt(2 / 256) = 0.088) at 0.18. conv_h, conv_w (256 x 8):
  // sqrt(2 / 256) = 0.088; the default (std 1 / sqrt(3 * 8) = 0.204) is at ratio 2.3, kaiming
  // fan_in (sqrt(2 / 8) = 0.5) at 5.7. Zeros are at 0.
  CHECK(std::abs(stddev(s.at("conv1.weight")).item() / std::sqrt(2.0 / 8) - 1) < 0.08);
  CHECK(std::abs(stddev(s.at("conv_h.weight")).item() / std::sqrt(2.0 / 256) - 1) < 0.08);
  CHECK(std::abs(stddev(s.at("conv_w.weight")).item() / std::sqrt(2.0 / 256) - 1) < 0.08);
  for (const char* k : {"conv1.bias", "conv_h.bias", "conv_w.bias", "bn1.bias"}) {
    CAPTURE(k);
    CHECK(amax(abs(s.at(k))).item() == 0.0);
  }
  CHECK(amin(s.at("bn1.weight")).item() == 1.0);
  CHECK(ca->bn1->options.momentum.value() == 0.1);
  CHECK(ca->bn1->options.eps == 1e-5);

  CHECK(CoordAtt(16, 16).mip == 8);
  CHECK(CoordAtt(512, 512).mip == 16);
  CHECK(CoordAtt(512, 512, {16}).mip == 32);
  CHECK_THROWS_WITH_AS(CoordAtt(16, 32), Contains("CoordAtt: oup 32 must equal inp 16"), Error);
  CHECK_THROWS_WITH_AS(CoordAtt(16, 16, {0}), Contains("CoordAtt: reduction 0 must be >= 1"),
                       Error);
  CHECK_THROWS_WITH_AS((*ca)(randn({2, 64, 4, 4})),
                       Contains("CoordAtt: expected input [N, 256, H, W]"), Error);
}

TEST_CASE("CoordAtt: h-swish from ReLU6, gradient 0 at -3 and 1 at 3") {
  const Tensor x =
      from_values({-4, -3, -1.5, 0.5, 3, 4}, {6}, DType::Float64).set_requires_grad();
  const Tensor y = h_swish(x);
  CHECK(y.to_vector<double>() == std::vector<double>{0, 0, -1.5 * 1.5 / 6, 0.5 * 3.5 / 6, 3, 4});
  sum(y).backward();
  // (2x + 3) / 6 inside (-3, 3); the kinks take ReLU6's one-sided gradient 0.
  const std::vector<double> g = x.grad().to_vector<double>();
  CHECK(g[0] == 0.0);
  CHECK(g[1] == 0.0);  // x = -3
  CHECK(g[2] == 0.0);  // (2x + 3) / 6 at x = -1.5
  CHECK(g[3] == doctest::Approx(4.0 / 6).epsilon(1e-15));
  CHECK(g[4] == 1.0);  // x = 3 (the fused hardswish would give 1.5)
  CHECK(g[5] == 1.0);
}

TEST_CASE("CoordAtt: the strip gates, non-square maps, batch size 1") {
  manual_seed(9);
  auto ca = ca64(16, 4, true);
  ca->set_recording(true);
  const Tensor x = randn({2, 16, 3, 5}, DType::Float64);
  const Tensor y = (*ca)(x);
  const Tensor& a_h = ca->map("h");
  const Tensor& a_w = ca->map("w");
  CHECK(a_h.shape() == Shape{2, 16, 3, 1});
  CHECK(a_w.shape() == Shape{2, 16, 1, 5});
  CHECK(amax(abs(y - x * a_w * a_h)).item() == 0.0);
  // One BN over both strips: N (H + W) = 16 values per channel, batch statistics in training.
  CHECK(ca->bn1->num_batches_tracked.to_vector<int64_t>() == std::vector<int64_t>{1});
  // Batch size 1 with a 1x1 map: the BN still sees 2 values per channel (the equal H and W
  // strips), so training runs, and the output is finite.
  for (bool train : {true, false}) {
    CAPTURE(train);
    ca->train(train);
    const Tensor one = (*ca)(randn({1, 16, 1, 1}, DType::Float64));
    CHECK(one.shape() == Shape{1, 16, 1, 1});
    CHECK(std::isfinite(sum(one).item()));
    CHECK(std::isfinite(sum(ca->bn1->running_var).item()));
  }
}

TEST_CASE("CoordAtt: in training the BN cancels conv1.bias, whose gradient is zero") {
  manual_seed(3);
  auto ca = ca64(16, 4, true);
  {
    NoGradGuard no_grad;
    ca->conv1->bias.copy_(randn({8}, DType::Float64));
  }
  const Tensor x = randn({2, 16, 3, 4}, DType::Float64).set_requires_grad();
  const Tensor y = (*ca)(x);
  y.backward(randn(y.shape(), DType::Float64));
  CHECK(amax(abs(ca->conv1->bias.grad())).item() < 1e-12);
  CHECK(amax(abs(ca->conv1->weight.grad())).item() > 1e-3);
  // Its value does not change the training output either.
  Tensor before = y.detach();
  {
    NoGradGuard no_grad;
    ca->conv1->bias.copy_(randn({8}, DType::Float64));
  }
  CHECK(amax(abs((*ca)(x).detach() - before)).item() < 1e-12);
}

TEST_CASE("gradcheck: CoordAtt in train and eval, float64") {
  // In training bn1 cancels conv1.bias (its gradient is exactly 0; the test above checks it).
  test::check_train_gradients_except("CoordAtt train", ca64(16, 4, true), {2, 16, 3, 4},
                                     {"conv1.bias"});
  test::check_module_gradients("CoordAtt eval", ca64(16, 4, false), {2, 16, 3, 4});
  test::check_train_gradients_except("CoordAtt train mip 8 > C // 32", ca64(24, 32, true),
                                     {3, 24, 4, 2}, {"conv1.bias"});
  test::check_module_gradients("CoordAtt eval mip 8 > C // 32", ca64(24, 32, false), {3, 24, 4, 2});
  test::check_module_directional("CoordAtt 4x64x16x16", ca64(64, 32, true), {4, 64, 16, 16}, 1,
                                 test::kRealisticEps);
}

TEST_CASE("CoordAtt in a CIFAR ResNet: after the last BN of every block, as ca") {
  attention::register_all();
  auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "ca");
  const auto st = net->state_dict();
  CHECK(st.at("layer1.0.ca.conv1.weight").shape() == Shape{8, 16, 1, 1});  // mip = 8
  CHECK(st.at("layer3.0.ca.conv_w.weight").shape() == Shape{64, 8, 1, 1});
  // The module keeps its own (mbv2_ca.py) init inside the network: conv biases 0.
  CHECK(amax(abs(st.at("layer2.0.ca.conv_h.bias"))).item() == 0.0);
  nn::set_map_recording(*net, true);
  CHECK((*net)(randn({1, 3, 16, 12})).shape() == Shape{1, 10});  // batch size 1 trains
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 6);
  CHECK(maps[2].first == "layer2.0.ca.h");
  CHECK(maps[2].second.shape() == Shape{1, 32, 8, 1});
  CHECK(maps[3].first == "layer2.0.ca.w");
  CHECK(maps[3].second.shape() == Shape{1, 32, 1, 6});
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "ca:reduction=0"),
                       Contains("CoordAtt: reduction 0 must be >= 1"), Error);
}
