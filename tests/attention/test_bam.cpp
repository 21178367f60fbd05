// BAM: the reference state_dict names, init, constraints (spec §21), maps, the stage-end
// placement in a ResNet, and float64 gradient checks (inputs and every parameter) in train and
// eval mode. Values against PyTorch are in test_fixtures.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "attention/bam.h"
#include "attention/register.h"
#include "engine/fovea.h"
#include "layers/resnet.h"
#include "support/module_check.h"
#include "support/op_check.h"

using namespace fovea;
using namespace fovea::attention;
using doctest::Contains;

namespace {

std::vector<std::string> keys(const nn::Module& m) { return m.state_dict().keys(); }

std::vector<std::string> bn_keys(const std::string& prefix) {
  std::vector<std::string> k;
  for (const char* s : {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"})
    k.push_back(prefix + "." + s);
  return k;
}

void append(std::vector<std::string>& to, const std::vector<std::string>& more) {
  to.insert(to.end(), more.begin(), more.end());
}

std::shared_ptr<BAM> bam64(bool train, const BAMOptions& o = {}) {
  auto m = std::make_shared<BAM>(64, o);
  m->to(DType::Float64);
  m->train(train);
  return m;
}

// In training a bias right before a BatchNorm (gate_c_fc_i, gate_s_conv_reduce0,
// gate_s_conv_di_i) has a gradient of exactly 0: the batch mean removes it. Such an input would
// make the check vacuous: they are left out, and checked to get zero.
bool before_norm(const std::string& key) {
  const bool bias = key.size() > 5 && key.compare(key.size() - 5, 5, ".bias") == 0;
  const bool layer = key.find("gate_c_fc_") != std::string::npos ||
                     key.find("gate_s_conv_") != std::string::npos;
  return bias && layer && key.find("_final.") == std::string::npos;
}

void check_bam_gradients(const std::string& name, const std::shared_ptr<BAM>& bam,
                         const Shape& input_shape) {
  if (!bam->is_training()) {
    test::check_module_gradients(name, bam, input_shape, test::Inputs::Normal,
                                 {test::Layout::Contiguous, test::Layout::Permuted});
    return;
  }
  std::vector<std::string> fixed;
  for (const auto& named : bam->named_parameters())
    if (before_norm(named.first)) fixed.push_back(named.first);
  test::check_train_gradients_except(name, bam, input_shape, fixed);
}

}  // namespace

TEST_CASE("BAM: official names, shapes and init") {
  manual_seed(11);
  auto bam = std::make_shared<BAM>(64);
  const std::string c = "channel_att.gate_c.", s = "spatial_att.gate_s.";
  std::vector<std::string> want{c + "gate_c_fc_0.weight", c + "gate_c_fc_0.bias"};
  append(want, bn_keys(c + "gate_c_bn_1"));
  append(want, {c + "gate_c_fc_final.weight", c + "gate_c_fc_final.bias",
                s + "gate_s_conv_reduce0.weight", s + "gate_s_conv_reduce0.bias"});
  append(want, bn_keys(s + "gate_s_bn_reduce0"));
  for (const char* i : {"0", "1"}) {
    append(want, {s + "gate_s_conv_di_" + i + ".weight", s + "gate_s_conv_di_" + i + ".bias"});
    append(want, bn_keys(s + "gate_s_bn_di_" + i));
  }
  append(want, {s + "gate_s_conv_final.weight", s + "gate_s_conv_final.bias"});
  CHECK(keys(*bam) == want);

  const auto st = bam->state_dict();
  CHECK(st.at(c + "gate_c_fc_0.weight").shape() == Shape{4, 64});
  CHECK(st.at(c + "gate_c_bn_1.weight").shape() == Shape{4});
  CHECK(st.at(c + "gate_c_fc_final.weight").shape() == Shape{64, 4});
  CHECK(st.at(s + "gate_s_conv_reduce0.weight").shape() == Shape{4, 64, 1, 1});
  CHECK(st.at(s + "gate_s_conv_di_1.weight").shape() == Shape{4, 4, 3, 3});
  CHECK(st.at(s + "gate_s_conv_final.weight").shape() == Shape{1, 4, 1, 1});
  // model_resnet.py: every bias 0, BN weight 1, linear weights PyTorch's default bound,
  // conv weights kaiming_normal fan_out.
  for (const auto& named : bam->named_parameters()) {
    const std::string& key = named.first;
    CAPTURE(key);
    if (key.size() > 5 && key.compare(key.size() - 5, 5, ".bias") == 0)
      CHECK(amax(abs(named.second)).item() == 0.0);
  }
  CHECK(amin(st.at(s + "gate_s_bn_di_0.weight")).item() == 1.0);
  CHECK(amax(abs(st.at(c + "gate_c_fc_0.weight"))).item() <= 1 / std::sqrt(64.0));
  CHECK(amax(abs(st.at(c + "gate_c_fc_final.weight"))).item() <= 1 / std::sqrt(4.0));
  // The dilated 3x3 convs: std sqrt(2 / (4 * 9)) = 0.236 (fan_in is the same 36), over the
  // 2 x 144 draws of both: a sample std's relative spread is 1 / sqrt(2 n) = 0.042, the
  // tolerance 0.2 is 5 of those. PyTorch's default conv init (uniform, bound 1 / sqrt(36), std
  // 1 / sqrt(3 * 36) = 0.096) is at ratio 0.41, zeros at 0.
  const Tensor dilated = cat({st.at(s + "gate_s_conv_di_0.weight").reshape({-1}),
                              st.at(s + "gate_s_conv_di_1.weight").reshape({-1})},
                             0);
  CHECK(std::abs(stddev(dilated).item() / std::sqrt(2.0 / 36) - 1) < 0.2);
  // The 1x1 reduction, 4 x 64: std sqrt(2 / 4) = 0.707 over 256 draws (spread 0.044, tolerance
  // 0.22). The default (std 1 / sqrt(3 * 64) = 0.072) is at ratio 0.10, kaiming fan_in
  // (sqrt(2 / 64) = 0.177) at 0.25.
  CHECK(std::abs(stddev(st.at(s + "gate_s_conv_reduce0.weight")).item() / std::sqrt(2.0 / 4) -
                 1) < 0.22);

  // num_layers and dilation_conv_num change the number of layers as the reference loops do.
  auto deep = std::make_shared<BAM>(64, BAMOptions{8, 2, 3, 2, "sum"});
  const auto ds = deep->state_dict();
  CHECK(ds.at(c + "gate_c_fc_1.weight").shape() == Shape{8, 8});
  CHECK(ds.contains(c + "gate_c_bn_2.running_var"));
  CHECK(ds.at(s + "gate_s_conv_di_2.weight").shape() == Shape{8, 8, 3, 3});
  CHECK(keys(BAM(64, {16, 0, 0, 4, "prod"})) ==
        std::vector<std::string>{c + "gate_c_fc_final.weight", c + "gate_c_fc_final.bias",
                                 s + "gate_s_conv_reduce0.weight", s + "gate_s_conv_reduce0.bias",
                                 s + "gate_s_bn_reduce0.weight", s + "gate_s_bn_reduce0.bias",
                                 s + "gate_s_bn_reduce0.running_mean",
                                 s + "gate_s_bn_reduce0.running_var",
                                 s + "gate_s_bn_reduce0.num_batches_tracked",
                                 s + "gate_s_conv_final.weight", s + "gate_s_conv_final.bias"});
}

TEST_CASE("BAM: constraints and a one-sample batch in training") {
  CHECK_THROWS_WITH_AS(BAM(8), Contains("BAM: channels 8 // reduction_ratio 16 must be >= 1"),
                       Error);
  CHECK_THROWS_WITH_AS(BAM(64, {16, 1, 2, 4, "max"}),
                       Contains("BAM: combine \"max\" is neither sum (paper) nor prod"), Error);
  CHECK_THROWS_WITH_AS(BAM(64, {16, -1, 2, 4, "sum"}), Contains("num_layers -1"), Error);
  CHECK_THROWS_WITH_AS(BAM(64, {16, 1, 2, 0, "sum"}), Contains("dilation_val 0 must be >= 1"),
                       Error);
  auto bam = std::make_shared<BAM>(64);
  CHECK_THROWS_WITH_AS((*bam)(randn({2, 32, 4, 4})), Contains("BAM: expected input [N, 64, H, W]"),
                       Error);
  // The channel gate's BatchNorm1d sees one value per channel: an error, never NaN.
  CHECK_THROWS_WITH_AS((*bam)(randn({1, 64, 4, 4})),
                       Contains("BAM: training needs a batch of more than 1 sample"), Error);
  bam->eval();
  const Tensor y = (*bam)(randn({1, 64, 4, 4}));
  CHECK(y.shape() == Shape{1, 64, 4, 4});
  CHECK(std::isfinite(sum(y).item()));
}

TEST_CASE("BAM: Y = X (1 + sigmoid(channel + spatial)) and the product option, with its maps") {
  manual_seed(12);
  for (const std::string combine : {"sum", "prod"}) {
    CAPTURE(combine);
    auto bam = bam64(true, {16, 1, 2, 4, combine});
    bam->set_recording(true);
    const Tensor x = randn({3, 64, 5, 7}, DType::Float64);  // not square: GAP
    const Tensor y = (*bam)(x);
    const Tensor mc = bam->map("channel").reshape({3, 64, 1, 1});
    const Tensor ms = bam->map("spatial");
    const Tensor m = bam->map("attention");
    CHECK(bam->map("channel").shape() == Shape{3, 64});
    CHECK(ms.shape() == Shape{3, 1, 5, 7});
    CHECK(m.shape() == Shape{3, 64, 5, 7});
    const Tensor a = combine == "sum" ? mc + ms : mc * ms;
    CHECK(amax(abs(m - sigmoid(a))).item() < 1e-15);
    CHECK(amax(abs(y - x * (m + 1.0))).item() < 1e-14);
  }
}

TEST_CASE("gradcheck: BAM sum and prod in train and eval, more layers, float64") {
  for (bool train : {true, false}) {
    CAPTURE(train);
    for (const std::string combine : {"sum", "prod"}) {
      CAPTURE(combine);
      auto m = std::make_shared<BAM>(8, BAMOptions{4, 1, 2, 2, combine});
      m->to(DType::Float64);
      m->train(train);
      check_bam_gradients("BAM", m, {3, 8, 4, 5});
    }
  }
  auto deep = std::make_shared<BAM>(8, BAMOptions{2, 2, 1, 1, "sum"});
  deep->to(DType::Float64);
  check_bam_gradients("BAM num_layers=2", deep, {4, 8, 3, 4});
  test::check_module_directional("BAM 4x64x16x16", bam64(true), {4, 64, 16, 16}, 1,
                                 test::kRealisticEps);
}

TEST_CASE("BAM in a CIFAR ResNet: after every stage but the last, as bam1 and bam2") {
  attention::register_all();
  auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "bam:reduction_ratio=4,combine=prod");
  const auto st = net->state_dict();
  CHECK(st.at("bam1.channel_att.gate_c.gate_c_fc_0.weight").shape() == Shape{4, 16});
  CHECK(st.at("bam2.spatial_att.gate_s.gate_s_conv_di_1.weight").shape() == Shape{8, 8, 3, 3});
  for (const auto& key : st.keys()) {
    CAPTURE(key);
    CHECK(key.rfind("bam3", 0) != 0);
    CHECK(key.find(".bam") == std::string::npos);  // none inside the blocks
  }
  // The module keeps its own init inside the network: biases 0.
  CHECK(amax(abs(st.at("bam2.spatial_att.gate_s.gate_s_conv_final.bias"))).item() == 0.0);
  nn::set_map_recording(*net, true);
  CHECK((*net)(randn({2, 3, 16, 16})).shape() == Shape{2, 10});
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 6);
  CHECK(maps[0].first == "bam1.channel");
  CHECK(maps[2].first == "bam1.attention");
  CHECK(maps[2].second.shape() == Shape{2, 16, 16, 16});
  CHECK(maps[4].first == "bam2.spatial");
  CHECK(maps[4].second.shape() == Shape{2, 1, 8, 8});
  // The defaults: C = 16 // 16 = 1 hidden unit in the first gate.
  auto plain = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "bam");
  CHECK(plain->state_dict().at("bam1.channel_att.gate_c.gate_c_fc_0.weight").shape() ==
        Shape{1, 16});
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "bam:combine=max"),
                       Contains("attention bam: option combine=max"), Error);
}
