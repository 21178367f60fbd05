// SE, CBAM and CBAMResidual: the reference state_dict names, init, constraints (spec §21), maps,
// and float64 gradient checks (inputs and every parameter) in train and eval mode. Values
// against PyTorch are in test_fixtures.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "attention/cbam.h"
#include "attention/se.h"
#include "engine/fovea.h"
#include "support/module_check.h"

using namespace fovea;
using namespace fovea::attention;
using doctest::Contains;

namespace {

std::vector<std::string> keys(const nn::Module& m) { return m.state_dict().keys(); }

template <typename M>
std::shared_ptr<M> in_mode(std::shared_ptr<M> m, bool train) {
  m->to(DType::Float64);
  m->train(train);
  return m;
}

}  // namespace

TEST_CASE("SE: names, bias option, constraint and the channel map") {
  auto se = std::make_shared<SE>(32, SEOptions{8, false});
  CHECK(keys(*se) == std::vector<std::string>{"fc.0.weight", "fc.2.weight"});
  CHECK(se->state_dict().at("fc.0.weight").shape() == Shape{4, 32});
  auto biased = std::make_shared<SE>(32, SEOptions{8, true});
  CHECK(keys(*biased) ==
        std::vector<std::string>{"fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"});
  CHECK_THROWS_WITH_AS(SE(8), Contains("SE: channels 8 // reduction 16 must be >= 1"), Error);
  CHECK_THROWS_WITH_AS((*se)(randn({2, 16, 4, 4})), Contains("SE: expected input [N, 32, H, W]"),
                       Error);
  se->set_recording(true);
  const Tensor x = randn({2, 32, 3, 5});
  const Tensor y = (*se)(x);
  const Tensor e = se->map("channel");
  CHECK(e.shape() == Shape{2, 32});
  // Y = X * e per channel.
  CHECK(amax(abs(y - x * e.reshape({2, 32, 1, 1}))).item() == 0.0);
}

TEST_CASE("gradcheck: SE (with and without bias), float64") {
  for (bool bias : {false, true}) {
    CAPTURE(bias);
    auto se = in_mode(std::make_shared<SE>(16, SEOptions{4, bias}), true);
    test::check_module_gradients("SE", se, {3, 16, 3, 4});
  }
  test::check_module_directional("SE 4x64x16x16", in_mode(std::make_shared<SE>(64), true),
                                 {4, 64, 16, 16}, 1,
                                 test::kRealisticEps);
}

TEST_CASE("CBAM: official names and init, constraints, maps") {
  manual_seed(7);
  auto cbam = std::make_shared<CBAM>(64);
  CHECK(keys(*cbam) == std::vector<std::string>{
                           "ChannelGate.mlp.1.weight", "ChannelGate.mlp.1.bias",
                           "ChannelGate.mlp.3.weight", "ChannelGate.mlp.3.bias",
                           "SpatialGate.spatial.conv.weight", "SpatialGate.spatial.bn.weight",
                           "SpatialGate.spatial.bn.bias", "SpatialGate.spatial.bn.running_mean",
                           "SpatialGate.spatial.bn.running_var",
                           "SpatialGate.spatial.bn.num_batches_tracked"});
  const auto s = cbam->state_dict();
  CHECK(s.at("ChannelGate.mlp.1.weight").shape() == Shape{4, 64});
  CHECK(amax(abs(s.at("ChannelGate.mlp.1.bias"))).item() == 0.0);
  CHECK(amax(abs(s.at("ChannelGate.mlp.3.bias"))).item() == 0.0);
  CHECK(amax(abs(s.at("SpatialGate.spatial.bn.weight"))).item() == 0.0);
  CHECK(cbam->spatial_bn->options.momentum.value() == 0.01);
  // kaiming_normal fan_out: std sqrt(2 / 49) = 0.202. One conv has 98 weights: a sample std's
  // relative spread is 1 / sqrt(2 n) = 0.071, and kaiming fan_in, sqrt(2 / 98) = 0.143 (ratio
  // 0.71), is only 4 of those away. Pooled over 20 CBAMs, n = 1960, the spread is 0.016 and the
  // tolerance 0.08 is 5 of those. PyTorch's default conv init (uniform, bound 1 / sqrt(98),
  // std 1 / sqrt(3 * 98) = 0.058) is at ratio 0.29, fan_in at 0.71, zeros at 0.
  std::vector<Tensor> spatial{s.at("SpatialGate.spatial.conv.weight").reshape({-1})};
  for (int i = 1; i < 20; ++i) spatial.push_back(CBAM(64).spatial_conv->weight.reshape({-1}));
  CHECK(std::abs(stddev(cat(spatial, 0)).item() / std::sqrt(2.0 / 49) - 1) < 0.08);
  // A linear layer's default bound.
  CHECK(amax(abs(s.at("ChannelGate.mlp.1.weight"))).item() <= 1 / std::sqrt(64.0));
  // At init the spatial gate is sigmoid(0) = 0.5 everywhere (train and eval).
  cbam->set_recording(true);
  (*cbam)(randn({2, 64, 4, 4}));
  CHECK(amin(cbam->map("spatial")).item() == 0.5);
  CHECK(amax(cbam->map("spatial")).item() == 0.5);
  CHECK(cbam->map("channel").shape() == Shape{2, 64});

  CHECK(keys(CBAM(64, {16, {"avg"}, true})).size() == 4);  // no_spatial: no SpatialGate
  CHECK_THROWS_WITH_AS(CBAM(8), Contains("CBAM: channels 8 // reduction 16 must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(CBAM(64, {16, {"avg", "median"}, false}),
                       Contains("CBAM: unknown pool type \"median\" (avg, max, lp, lse)"), Error);
  CHECK_THROWS_WITH_AS(CBAM(64, {16, {}, false}), Contains("pool_types is empty"), Error);
  // One value per channel for the spatial BatchNorm in training: an error, never NaN.
  CHECK_THROWS_WITH_AS((*cbam)(randn({1, 64, 1, 1})),
                       Contains("expected more than 1 value per channel when training"), Error);
  cbam->eval();
  CHECK((*cbam)(randn({1, 64, 1, 1})).shape() == Shape{1, 64, 1, 1});
}

// With the parameters moved off the init (test::move_parameters): there the spatial BN weight
// is 0, the spatial gate is the constant sigmoid(0), and every gradient through the spatial
// conv, the BN and the channel pools of the spatial gate is multiplied by 0.
TEST_CASE("gradcheck: CBAM, every pool type, spatial gate in train and eval, float64") {
  for (bool train : {true, false}) {
    CAPTURE(train);
    auto all = in_mode(std::make_shared<CBAM>(8, CBAMOptions{4, {"avg", "max", "lp", "lse"}}),
                       train);
    test::move_parameters(*all, 2);
    test::check_module_gradients("CBAM avg+max+lp+lse", all, {2, 8, 3, 4});
  }
  auto channel_only = in_mode(std::make_shared<CBAM>(8, CBAMOptions{2, {"max", "lp"}, true}), true);
  test::check_module_gradients("CBAM no_spatial", channel_only, {2, 8, 3, 4});
  auto big = in_mode(std::make_shared<CBAM>(64), true);
  test::move_parameters(*big, 3);
  test::check_module_directional("CBAM 4x64x16x16", big, {4, 64, 16, 16}, 1,
                                 test::kRealisticEps);
}

TEST_CASE("CBAMResidual: the seed's names, options and constraint") {
  auto m = std::make_shared<CBAMResidual>(32, CBAMResidualOptions{8, 7, false, true});
  CHECK(keys(*m) == std::vector<std::string>{"ca.se.0.weight", "ca.se.2.weight", "sa.conv.weight",
                                             "sa.conv.bias"});
  CHECK(m->state_dict().at("sa.conv.weight").shape() == Shape{1, 2, 7, 7});
  auto bn = std::make_shared<CBAMResidual>(32, CBAMResidualOptions{8, 3, true, false});
  CHECK(keys(*bn) == std::vector<std::string>{"ca.se.0.weight", "ca.se.2.weight", "sa.conv.weight",
                                              "sa.bn.weight", "sa.bn.bias", "sa.bn.running_mean",
                                              "sa.bn.running_var", "sa.bn.num_batches_tracked"});
  CHECK_THROWS_WITH_AS(CBAMResidual(32, {8, 4, false, true}),
                       Contains("CBAMResidual: kernel_size 4 must be odd"), Error);
  // Y = CBAM'(X) + X: with both gates at their value the residual is visible.
  m->set_recording(true);
  const Tensor x = randn({2, 32, 5, 5});
  const Tensor y = (*m)(x);
  const Tensor expect = x * m->map("channel").reshape({2, 32, 1, 1}) * m->map("spatial") + x;
  CHECK(amax(abs(y - expect)).item() < 1e-6);
}

TEST_CASE("gradcheck: CBAMResidual with and without the spatial BN, float64") {
  for (bool train : {true, false}) {
    CAPTURE(train);
    auto m = in_mode(std::make_shared<CBAMResidual>(8, CBAMResidualOptions{4, 3, true, false}),
                     train);
    test::check_module_gradients("CBAMResidual spatial_bn", m, {2, 8, 4, 3});
  }
  auto plain = in_mode(std::make_shared<CBAMResidual>(8, CBAMResidualOptions{2, 5, false, true}),
                       true);
  test::check_module_gradients("CBAMResidual", plain, {2, 8, 5, 4});
  test::check_module_directional("CBAMResidual 4x64x16x16",
                                 in_mode(std::make_shared<CBAMResidual>(64), true), {4, 64, 16, 16}, 1,
                                 test::kRealisticEps);
}
