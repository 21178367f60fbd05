// The attention toolkit: options from the command line, maps by name, the context a slot hands
// its module (channels, stride, spatial size), modules keeping their own init inside a ResNet,
// and the Bottleneck block / ResNet-50.
#include <doctest/doctest.h>

#include <cmath>

#include "attention/cbam.h"
#include "attention/register.h"
#include "engine/fovea.h"
#include "layers/layers.h"
#include "layers/resnet.h"
#include "support/module_check.h"

using namespace fovea;
using doctest::Contains;
using nn::AttentionContext;
using nn::AttentionPosition;

namespace {

// Records the context of every module the slot builds; the module itself is the identity with
// one 3x3 conv set to a constant the ResNet's init must leave alone.
std::vector<AttentionContext>& seen() {
  static std::vector<AttentionContext> contexts;
  return contexts;
}

class Probe : public nn::AttentionModule {
 public:
  explicit Probe(const AttentionContext& c)
      : AttentionModule("Probe"),
        conv(register_module("conv", std::make_shared<nn::Conv2d>(c.in_channels, c.out_channels,
                                                                  3, c.stride, 1, false))) {
    NoGradGuard no_grad;
    conv->weight.fill_(0.5);
  }
  Tensor forward(const Tensor& x) override {
    record_map("input_mean", mean(x, {1}, true));
    return x;
  }
  std::shared_ptr<nn::Conv2d> conv;
};

// As the 3x3 conv it replaces (ReplaceSecondConv).
class ProbeConv : public Probe {
 public:
  using Probe::Probe;
  Tensor forward(const Tensor& x) override { return (*conv)(x); }
};

void register_probes() {
  for (const auto& [name, position] :
       std::vector<std::pair<std::string, AttentionPosition>>{
           {"probe_after_norm", AttentionPosition::AfterLastNorm},
           {"probe_after_conv1", AttentionPosition::AfterFirstConv},
           {"probe_stage_end", AttentionPosition::StageEnd}}) {
    nn::AttentionSpec s;
    s.position = position;
    s.child_name = "probe";
    s.options = {{"width", "3", "an integer option"}};
    s.make = [](const AttentionContext& c) {
      seen().push_back(c);
      return std::make_shared<Probe>(c);
    };
    nn::register_attention(name, s);
  }
  nn::AttentionSpec conv;
  conv.position = AttentionPosition::ReplaceSecondConv;
  conv.make = [](const AttentionContext& c) {
    seen().push_back(c);
    return std::make_shared<ProbeConv>(c);
  };
  nn::register_attention("probe_conv", conv);
}

nn::AttentionOptions cbam_options(const std::string& text) {
  attention::register_all();
  return nn::parse_attention("cbam" + std::string(text.empty() ? "" : ":") + text).options;
}

}  // namespace

TEST_CASE("attention options: defaults, values, and errors that list what is valid") {
  const nn::AttentionOptions d = cbam_options("");
  CHECK(d.integer("reduction_ratio") == 16);
  CHECK(d.list("pool_types", {"avg", "max", "lp", "lse"}) == std::vector<std::string>{"avg", "max"});
  CHECK_FALSE(d.flag("no_spatial"));
  CHECK(d.given().empty());
  const nn::AttentionOptions o = cbam_options("pool_types=avg+max+lse,reduction_ratio=8");
  CHECK(o.integer("reduction_ratio") == 8);
  CHECK(o.list("pool_types", {"avg", "max", "lp", "lse"}).size() == 3);
  CHECK(o.given() == "reduction_ratio=8,pool_types=avg+max+lse");  // declaration order

  CHECK_THROWS_WITH_AS(cbam_options("ratio=8"),
                       Contains("attention cbam: unknown option \"ratio\" (valid: "
                                "reduction_ratio, pool_types, no_spatial)"),
                       Error);
  CHECK_THROWS_WITH_AS(cbam_options("reduction_ratio"), Contains("is not name=value"), Error);
  CHECK_THROWS_WITH_AS(cbam_options("no_spatial=1,no_spatial=0"), Contains("given twice"), Error);
  CHECK_THROWS_WITH_AS(cbam_options("reduction_ratio=8.5").integer("reduction_ratio"),
                       Contains("option reduction_ratio=8.5 is not an integer"), Error);
  CHECK_THROWS_WITH_AS(nn::parse_attention("cbam_residual:kernel_size=100001")
                           .options.integer("kernel_size", 1, 99),
                       Contains("option kernel_size=100001 is not an integer in 1..99"), Error);
  CHECK_THROWS_WITH_AS(cbam_options("no_spatial=yes").flag("no_spatial"),
                       Contains("no_spatial=yes is not true or false"), Error);
  const std::vector<std::string> pools{"avg", "max", "lp", "lse"};
  CHECK_THROWS_WITH_AS(cbam_options("pool_types=avg+mean").list("pool_types", pools),
                       Contains("distinct items from avg, max, lp, lse"), Error);
  CHECK_THROWS_WITH_AS(cbam_options("pool_types=avg+avg").list("pool_types", pools),
                       Contains("distinct items"), Error);
  CHECK_THROWS_WITH_AS(nn::parse_attention("cbm"), Contains("unknown module \"cbm\" (known: none,"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::parse_attention("none:reduction=2"), Contains("takes no options"), Error);
  // A bad value reaches the user when the network is built, naming module, option and value.
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "cbam:pool_types=avg+median"),
                       Contains("attention cbam: option pool_types=avg+median"), Error);
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "se:reduction=32"),
                       Contains("SE: channels 16 // reduction 32 must be >= 1"), Error);
}

TEST_CASE("attention maps: recorded by name only when recording is on") {
  attention::register_all();
  auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "cbam:reduction_ratio=4");
  const Tensor x = randn({2, 3, 8, 8});
  (*net)(x);
  CHECK(nn::attention_maps(*net).empty());
  nn::set_map_recording(*net, true);
  (*net)(x);
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 6);  // 3 blocks x (channel, spatial)
  CHECK(maps[0].first == "layer1.0.cbam.channel");
  CHECK(maps[0].second.shape() == Shape{2, 16});
  CHECK(maps[5].first == "layer3.0.cbam.spatial");
  CHECK(maps[5].second.shape() == Shape{2, 1, 2, 2});
  CHECK_FALSE(maps[5].second.requires_grad());  // detached: maps hold no graph
  const double lo = amin(maps[5].second).item(), hi = amax(maps[5].second).item();
  CHECK(lo > 0);
  CHECK(hi < 1);
  auto* cbam = dynamic_cast<nn::AttentionModule*>(
      std::static_pointer_cast<nn::ResidualBlock>((*std::static_pointer_cast<nn::Sequential>(
          net->named_children()[2].second))[0])->attention.get());
  REQUIRE(cbam != nullptr);
  CHECK(cbam->map("spatial").shape() == Shape{2, 1, 8, 8});
  CHECK_THROWS_WITH_AS(cbam->map("temporal"),
                       Contains("CBAM: no attention map \"temporal\" (recorded: channel, spatial)"),
                       Error);
  nn::set_map_recording(*net, false);
  CHECK(nn::attention_maps(*net).empty());
  CHECK_THROWS_WITH_AS(cbam->map("channel"), Contains("recording is off"), Error);
}

TEST_CASE("attention slot: the context gives channels, stride, stage, block and spatial size") {
  register_probes();
  seen().clear();
  nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "probe_after_norm", 32);
  REQUIRE(seen().size() == 3);
  for (int s = 0; s < 3; ++s) {
    CAPTURE(s);
    CHECK(seen()[size_t(s)].stage == s + 1);
    CHECK(seen()[size_t(s)].block == 0);
    CHECK(seen()[size_t(s)].channels == (int64_t(16) << s));
    CHECK(seen()[size_t(s)].height == (int64_t(32) >> s));  // after the block's stride
    CHECK(seen()[size_t(s)].width == (int64_t(32) >> s));
    CHECK(seen()[size_t(s)].options.integer("width") == 3);
  }
  seen().clear();
  nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "probe_stage_end:width=5");  // CIFAR's 32 x 32
  REQUIRE(seen().size() == 2);
  CHECK(seen()[1].channels == 32);
  CHECK(seen()[1].height == 16);
  CHECK(seen()[1].options.integer("width") == 5);
  seen().clear();
  nn::ResNetConfig unsized;  // a hand-made config says nothing of the input: size unknown
  unsized.blocks = {1, 1};
  unsized.widths = {16, 32};
  unsized.attention = "probe_after_norm";
  std::make_shared<nn::ResNet>(unsized);
  REQUIRE(seen().size() == 2);
  CHECK(seen()[1].height == 0);
  seen().clear();
  nn::resnet(18, 10, 3, "imagenet", "probe_after_norm");  // no size: the stem's 224
  REQUIRE(seen().size() == 8);
  CHECK(seen()[0].height == 56);
  CHECK(seen()[7].height == 7);
  seen().clear();
  nn::resnet(18, 10, 3, "cifar", "probe_after_norm");  // the cifar stem serves 32 to 64: unknown
  REQUIRE(seen().size() == 8);
  CHECK(seen()[0].height == 0);
  // ImageNet stem: 224 -> 56 before layer1; a bottleneck's AfterFirstConv sees `planes`.
  seen().clear();
  nn::resnet(50, 10, 3, "imagenet", "probe_after_conv1", 224);
  REQUIRE(seen().size() == 16);
  CHECK(seen()[0].channels == 64);
  CHECK(seen()[0].height == 56);
  CHECK(seen()[3].channels == 128);  // layer2.0: after its strided 3x3 conv
  CHECK(seen()[3].height == 28);
  CHECK(seen()[15].height == 7);
  // Replacing a bottleneck's 3x3 conv: the module gets its stride and sees the block's input.
  seen().clear();
  auto net = nn::resnet(50, 10, 3, "cifar", "probe_conv", 32);
  CHECK(seen()[3].in_channels == 128);
  CHECK(seen()[3].out_channels == 128);
  CHECK(seen()[3].stride == 2);
  CHECK(seen()[3].height == 32);
  CHECK(seen()[4].stride == 1);
  CHECK(seen()[4].height == 16);
  CHECK((*net)(randn({1, 3, 32, 32})).shape() == Shape{1, 10});
}

TEST_CASE("attention slot: modules keep their own init, the trunk is kaiming-initialised") {
  register_probes();
  manual_seed(4);
  for (const std::string name : {"probe_after_norm", "probe_stage_end", "probe_conv"}) {
    CAPTURE(name);
    auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, name);
    int probes = 0;
    for (const auto& [key, value] : net->named_parameters()) {
      const bool in_probe = key.find("probe") != std::string::npos ||
                            (name == "probe_conv" && key.find(".conv2.conv.") != std::string::npos);
      if (!in_probe) continue;
      ++probes;
      CHECK(amin(value).item() == 0.5);
      CHECK(amax(value).item() == 0.5);
    }
    CHECK(probes >= 2);
    // The trunk's conv is re-drawn: kaiming_normal fan_out, std sqrt(2 / (16 * 9)) = 0.118,
    // over 16 x 16 x 9 = 2304 draws: a sample std's relative spread is 1 / sqrt(2 n) = 0.015,
    // the tolerance 0.075 is 5 of those. Left at PyTorch's default conv init (uniform, bound
    // 1 / sqrt(144), std 1 / sqrt(3 * 144) = 0.048) it would be at ratio 0.41.
    const Tensor w = net->state_dict().at("layer1.0.conv1.weight");
    CHECK(std::abs(stddev(w).item() / std::sqrt(2.0 / 144) - 1) < 0.075);
  }
  // CBAM keeps its own parameters inside a ResNet, the spatial conv nested three deep
  // (cbam.SpatialGate.spatial.conv). Its own init is kaiming_normal fan_out, as the trunk's, so
  // a re-drawn conv would have the same distribution and only the values can tell: "cbam" as
  // registered, with a factory that keeps a copy of every parameter of each CBAM it builds,
  // and after the ResNet's init each must hold its copy exactly.
  attention::register_all();
  struct Built {
    std::shared_ptr<nn::Module> module;
    std::vector<std::pair<std::string, Tensor>> at_construction;
  };
  auto built = std::make_shared<std::vector<Built>>();
  nn::AttentionSpec copied = *nn::find_attention("cbam");
  copied.make = [built, make = copied.make](const AttentionContext& c) {
    auto m = make(c);
    Built b{m, {}};
    for (const auto& named : m->named_parameters())
      b.at_construction.emplace_back(named.first, named.second.detach().clone());
    built->push_back(b);
    return m;
  };
  nn::register_attention("cbam_kept", copied);
  auto net = nn::cifar_resnet(20, 10, 3, nn::Shortcut::A, "cbam_kept");
  CHECK(built->size() == 9);  // one per block
  int compared = 0;
  for (const auto& b : *built) {
    const auto now = b.module->named_parameters();
    REQUIRE(now.size() == b.at_construction.size());
    for (size_t i = 0; i < now.size(); ++i) {
      const std::string key = now[i].first;
      CAPTURE(key);
      CHECK(amax(abs(now[i].second - b.at_construction[i].second)).item() == 0.0);
      compared += key == "SpatialGate.spatial.conv.weight";
    }
  }
  CHECK(compared == 9);
  // The modules compared are the network's own, under the child name "cbam", in block order.
  std::vector<const nn::Module*> in_net;
  for (const auto& named : net->named_modules()) {
    const std::string& path = named.first;
    if (path.size() > 5 && path.compare(path.size() - 5, 5, ".cbam") == 0)
      in_net.push_back(named.second);
  }
  REQUIRE(in_net.size() == built->size());
  for (size_t i = 0; i < in_net.size(); ++i) CHECK(in_net[i] == (*built)[i].module.get());
  CHECK(amax(abs(net->state_dict().at("layer2.1.cbam.SpatialGate.spatial.bn.weight"))).item() ==
        0.0);
}

TEST_CASE("Bottleneck and ResNet-50: torchvision's names, parameter counts and shapes") {
  auto r50 = nn::resnet(50, 1000, 3, "imagenet");
  CHECK(r50->num_parameters() == 25557032);  // torchvision resnet50 exactly
  const auto state = r50->state_dict();
  CHECK(state.contains("layer1.0.conv3.weight"));
  CHECK(state.at("layer1.0.conv3.weight").shape() == Shape{256, 64, 1, 1});
  CHECK(state.at("layer2.0.conv2.weight").shape() == Shape{128, 128, 3, 3});
  CHECK(state.contains("layer1.0.downsample.0.weight"));  // 64 -> 256 channels
  CHECK(state.at("fc.weight").shape() == Shape{1000, 2048});
  auto cifar50 = nn::resnet(50, 10, 3, "cifar");
  CHECK(cifar50->num_parameters() == 25557032 - 9408 + 1728 - 2049 * 990);
  CHECK((*cifar50)(randn({2, 3, 16, 16})).shape() == Shape{2, 10});
  attention::register_all();
  auto se50 = nn::resnet(50, 10, 3, "cifar", "se");
  CHECK(se50->state_dict().at("layer4.2.se.fc.0.weight").shape() == Shape{128, 2048});
  nn::ResNetConfig c;
  c.blocks = {1, 1};
  c.widths = {2, 4};
  c.stem_channels = 4;
  c.shortcut = nn::Shortcut::B;
  c.bottleneck = true;
  c.zero_init_residual = true;
  auto small = std::make_shared<nn::ResNet>(c);
  CHECK(amax(abs(small->state_dict().at("layer2.0.bn3.weight"))).item() == 0.0);
}

TEST_CASE("gradcheck: Bottleneck block and a small bottleneck ResNet with CBAM, float64") {
  auto block = std::make_shared<nn::Bottleneck>(4, 2, 2, nn::Shortcut::B, "none",
                                                nn::AttentionContext{});
  block->to(DType::Float64);
  test::check_module_gradients("Bottleneck stride 2, option B", block, {2, 4, 4, 4},
                               test::Inputs::Normal, {test::Layout::Contiguous});
  attention::register_all();
  nn::ResNetConfig c;
  c.blocks = {1, 1};
  c.widths = {4, 8};
  c.stem_channels = 8;
  c.shortcut = nn::Shortcut::B;
  c.bottleneck = true;
  c.num_classes = 3;
  c.attention = "cbam:reduction_ratio=4,pool_types=avg+max+lp+lse";
  auto net = std::make_shared<nn::ResNet>(c);
  net->to(DType::Float64);
  // Off the init, where CBAM's spatial BN weight is 0 and the spatial gate's path carries no
  // gradient.
  test::move_parameters(*net, 5);
  test::check_module_directional("bottleneck ResNet + CBAM", net, {2, 3, 8, 8});
}
