// TripletAttention (spec §12): the MODELS/triplet_attention.py state_dict names, the init of
// MODELS/resnet.py (and its zero_spatial_gamma flag), the maps, the rotations against a literal
// rotate-gate-rotate forward, and float64 gradient checks in train and eval mode. Values
// against PyTorch are in test_fixtures.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "attention/triplet.h"
#include "attention/register.h"
#include "engine/fovea.h"
#include "layers/resnet.h"
#include "support/module_check.h"

using namespace fovea;
using namespace fovea::attention;
using doctest::Contains;

namespace {

std::vector<std::string> keys(const nn::Module& m) { return m.state_dict().keys(); }

std::shared_ptr<TripletAttention> in_mode(std::shared_ptr<TripletAttention> m, bool train) {
  m->to(DType::Float64);
  m->train(train);
  return m;
}

std::vector<std::string> gate_keys(const std::string& gate) {
  std::vector<std::string> k;
  for (const char* leaf : {"conv.weight", "bn.weight", "bn.bias", "bn.running_mean",
                           "bn.running_var", "bn.num_batches_tracked"})
    k.push_back(gate + ".spatial." + leaf);
  return k;
}

// The spec's forward taken literally: rotate X, ZPool over dim 1, conv, BN, sigmoid, multiply,
// rotate back, average (what the module computes with pooled-only rotations).
Tensor literal_forward(const TripletAttention& m, const Tensor& x) {
  auto apply = [](const TripletAttention::Gate& g, const Tensor& t) {
    const Tensor z = cat({amax(t, {1}, true), mean(t, {1}, true)}, 1);
    return t * sigmoid((*g.bn)((*g.conv)(z)));
  };
  const Tensor o1 =
      apply(m.channel_gate_h, x.permute({0, 2, 1, 3}).contiguous()).permute({0, 2, 1, 3});
  const Tensor o2 =
      apply(m.channel_gate_w, x.permute({0, 3, 2, 1}).contiguous()).permute({0, 3, 2, 1});
  if (m.options.no_spatial) return (o1 + o2) * 0.5;
  return (apply(m.spatial_gate, x) + o1 + o2) * (1.0 / 3.0);
}

}  // namespace

TEST_CASE("TripletAttention: MODELS names, init and the zero_spatial_gamma flag") {
  manual_seed(11);
  auto m = std::make_shared<TripletAttention>(64);
  std::vector<std::string> expected;
  for (const char* gate : {"ChannelGateH", "ChannelGateW", "SpatialGate"})
    for (const auto& k : gate_keys(gate)) expected.push_back(k);
  CHECK(keys(*m) == expected);
  const auto s = m->state_dict();
  std::vector<Tensor> convs;
  for (const char* gate : {"ChannelGateH", "ChannelGateW", "SpatialGate"}) {
    CAPTURE(gate);
    const std::string p = std::string(gate) + ".spatial.";
    CHECK(s.at(p + "conv.weight").shape() == Shape{1, 2, 7, 7});
    CHECK(amin(s.at(p + "bn.weight")).item() == 1.0);  // gamma 1 for every gate by default
    CHECK(amax(abs(s.at(p + "bn.bias"))).item() == 0.0);
    convs.push_back(s.at(p + "conv.weight").reshape({-1}));
  }
  // kaiming_normal fan_out: fan_out = 1 * 7 * 7, std sqrt(2 / 49) = 0.202. Pooled over the
  // three gates of this module and four more, 15 x 98 = 1470 draws: a sample std's relative
  // spread is 1 / sqrt(2 n) = 0.018, the tolerance 0.09 is 5 of those. PyTorch's default conv
  // init (uniform, bound 1 / sqrt(98), std 1 / sqrt(3 * 98) = 0.058) is at ratio 0.29,
  // kaiming fan_in (sqrt(2 / 98) = 0.143) at 0.71, zeros at 0.
  for (int i = 1; i < 5; ++i) {
    TripletAttention more(64);
    for (const auto* g : {&more.channel_gate_h, &more.channel_gate_w, &more.spatial_gate})
      convs.push_back(g->conv->weight.reshape({-1}));
  }
  CHECK(std::abs(stddev(cat(convs, 0)).item() / std::sqrt(2.0 / 49) - 1) < 0.09);
  for (const auto* g : {&m->channel_gate_h, &m->channel_gate_w, &m->spatial_gate}) {
    CHECK(g->bn->options.momentum.value() == 0.01);
    CHECK(g->bn->options.eps == 1e-5);
    CHECK(!g->conv->bias.defined());
  }

  auto zero = std::make_shared<TripletAttention>(64, TripletOptions{false, true});
  const auto z = zero->state_dict();
  CHECK(amax(abs(z.at("SpatialGate.spatial.bn.weight"))).item() == 0.0);
  CHECK(amin(z.at("ChannelGateH.spatial.bn.weight")).item() == 1.0);
  CHECK(amin(z.at("ChannelGateW.spatial.bn.weight")).item() == 1.0);
  // With gamma 0 the H-W gate is sigmoid(beta) = 0.5 everywhere at init, in train and eval.
  zero->set_recording(true);
  (*zero)(randn({2, 64, 4, 5}));
  CHECK(amin(zero->map("hw")).item() == 0.5);
  CHECK(amax(zero->map("hw")).item() == 0.5);

  auto two = std::make_shared<TripletAttention>(64, TripletOptions{true, false});
  std::vector<std::string> two_keys = gate_keys("ChannelGateH");
  for (const auto& k : gate_keys("ChannelGateW")) two_keys.push_back(k);
  CHECK(keys(*two) == two_keys);
  CHECK(!two->spatial_gate.conv);
}

TEST_CASE("TripletAttention: maps, the rotations and the input check") {
  manual_seed(12);
  for (bool no_spatial : {false, true}) {
    CAPTURE(no_spatial);
    for (bool train : {true, false}) {
      CAPTURE(train);
      auto m = in_mode(std::make_shared<TripletAttention>(5, TripletOptions{no_spatial, false}), train);
      {
        // Move the BN affine and running statistics away from their init so that the check
        // sees every term.
        NoGradGuard no_grad;
        for (auto& named : m->named_parameters())
          named.second.copy_(named.second + randn(named.second.shape(), DType::Float64) * 0.3);
        for (auto* g : {&m->channel_gate_h, &m->channel_gate_w, &m->spatial_gate}) {
          if (!g->bn) continue;
          g->bn->running_mean.fill_(0.2);
          g->bn->running_var.fill_(1.7);
        }
      }
      m->set_recording(true);
      const Tensor x = randn({3, 5, 4, 6}, DType::Float64);
      const Tensor y = (*m)(x);
      CHECK(y.shape() == x.shape());
      const Tensor cw = m->map("cw"), hc = m->map("hc");
      CHECK(cw.shape() == Shape{3, 5, 1, 6});
      CHECK(hc.shape() == Shape{3, 5, 4, 1});
      Tensor expect;
      if (no_spatial) {
        CHECK(m->maps().size() == 2);
        expect = x * (cw + hc) * 0.5;
      } else {
        const Tensor hw = m->map("hw");
        CHECK(hw.shape() == Shape{3, 1, 4, 6});
        expect = x * (cw + hc + hw) / 3.0;
      }
      CHECK(amax(abs(y - expect)).item() < 1e-14);
      // In training this second forward updates the running statistics again, which does not
      // change its output (batch statistics).
      const Tensor literal = literal_forward(*m, x);
      CHECK(amax(abs(y - literal)).item() < 1e-14);
    }
  }
  auto m = std::make_shared<TripletAttention>(32);
  CHECK_THROWS_WITH_AS((*m)(randn({2, 16, 4, 4})),
                       Contains("TripletAttention: expected input [N, 32, H, W]"), Error);
  CHECK_THROWS_WITH_AS(TripletAttention(0), Contains("TripletAttention: gate_channels 0 must be >= 1"),
                       Error);
  // N = 1 and a 1x1 map in training: the H-W gate's BN sees one value; an error, never NaN.
  CHECK_THROWS_WITH_AS((*m)(randn({1, 32, 1, 1})),
                       Contains("expected more than 1 value per channel when training"), Error);
  m->eval();
  CHECK((*m)(randn({1, 32, 1, 1})).shape() == Shape{1, 32, 1, 1});
}

TEST_CASE("gradcheck: TripletAttention, three and two gates, train and eval, float64") {
  for (bool train : {true, false}) {
    CAPTURE(train);
    test::check_module_gradients(
        "TripletAttention", in_mode(std::make_shared<TripletAttention>(3), train), {2, 3, 4, 5});
    test::check_module_gradients(
        "TripletAttention no_spatial",
        in_mode(std::make_shared<TripletAttention>(4, TripletOptions{true, false}), train),
        {3, 4, 2, 5});
  }
  test::check_module_directional("TripletAttention 4x64x16x16",
                                 in_mode(std::make_shared<TripletAttention>(64), true),
                                 {4, 64, 16, 16}, 1, test::kRealisticEps);
}

TEST_CASE("TripletAttention in a CIFAR ResNet: every block, as triplet_attention") {
  attention::register_all();
  auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "triplet:zero_spatial_gamma=true");
  const auto st = net->state_dict();
  CHECK(st.at("layer3.0.triplet_attention.ChannelGateH.spatial.conv.weight").shape() ==
        Shape{1, 2, 7, 7});
  // The module keeps its own init inside the network (the trunk's init leaves it alone).
  CHECK(amax(abs(st.at("layer2.0.triplet_attention.SpatialGate.spatial.bn.weight"))).item() == 0.0);
  CHECK(amin(st.at("layer2.0.triplet_attention.ChannelGateW.spatial.bn.weight")).item() == 1.0);
  nn::set_map_recording(*net, true);
  CHECK((*net)(randn({2, 3, 16, 16})).shape() == Shape{2, 10});
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 9);
  CHECK(maps[0].first == "layer1.0.triplet_attention.cw");
  CHECK(maps[0].second.shape() == Shape{2, 16, 1, 16});
  CHECK(maps[4].first == "layer2.0.triplet_attention.hc");
  CHECK(maps[4].second.shape() == Shape{2, 32, 8, 1});
  CHECK(maps[8].first == "layer3.0.triplet_attention.hw");
  CHECK(maps[8].second.shape() == Shape{2, 1, 4, 4});
  auto two = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "triplet:no_spatial=true");
  CHECK_FALSE(two->state_dict().contains("layer1.0.triplet_attention.SpatialGate.spatial.conv.weight"));
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "triplet:kernel_size=3"),
                       Contains("kernel_size"), Error);
}
