// Convolution layers and the ResNets: PyTorch's names and parameter counts, output shapes,
// MACs, the attention slot at every position, and gradients through whole networks.
#include <doctest/doctest.h>

#include "engine/fovea.h"
#include "layers/conv.h"
#include "layers/layers.h"
#include "layers/resnet.h"
#include "support/compare.h"
#include "support/module_check.h"

using namespace fovea;

namespace {

// A test attention module: y = x * (1 + s) with one learnable scalar s per channel, so its
// presence and position are visible in names, shapes and gradients.
class ChannelScale : public nn::Module {
 public:
  explicit ChannelScale(int64_t channels)
      : Module("ChannelScale"), scale(register_parameter("scale", zeros({1, channels, 1, 1}))) {}
  Tensor forward(const Tensor& x) override { return x * (scale + 1.0); }
  Tensor& scale;
};

class AddFusion : public nn::FusionModule {
 public:
  explicit AddFusion(int64_t channels)
      : FusionModule("AddFusion"), w(register_parameter("w", ones({1, channels, 1, 1}))) {}
  Tensor fuse(const Tensor& residual, const Tensor& identity) override {
    return residual * w + identity;
  }
  Tensor& w;
};

void register_test_attention() {
  using nn::AttentionPosition;
  auto spec = [](AttentionPosition position, const std::string& child,
                 std::function<std::shared_ptr<nn::Module>(const nn::AttentionContext&)> make) {
    nn::AttentionSpec s;
    s.position = position;
    s.child_name = child;
    s.make = std::move(make);
    return s;
  };
  auto scale = [](const nn::AttentionContext& c) { return std::make_shared<ChannelScale>(c.channels); };
  nn::register_attention("test_after_norm", spec(AttentionPosition::AfterLastNorm, "scale", scale));
  nn::register_attention("test_after_conv1", spec(AttentionPosition::AfterFirstConv, "scale", scale));
  nn::register_attention("test_stage_end", spec(AttentionPosition::StageEnd, "stage_scale", scale));
  nn::register_attention("test_fusion", spec(AttentionPosition::ReplaceAdd, "fuse",
                                             [](const nn::AttentionContext& c) {
                                               return std::make_shared<AddFusion>(c.channels);
                                             }));
  nn::register_attention("test_conv2", spec(AttentionPosition::ReplaceSecondConv, "",
                                            [](const nn::AttentionContext& c) {
                                              return std::make_shared<nn::Conv2d>(
                                                  c.channels, c.channels, 3, 1, 1, false);
                                            }));
}

bool has_key(const nn::Module& m, const std::string& key) { return m.state_dict().contains(key); }

}  // namespace

TEST_CASE("Conv2d and Conv1d layers: PyTorch's init bounds, repr and MACs") {
  manual_seed(3);
  nn::Conv2d conv(4, 6, {3, 2}, Conv2dOptions{{2, 1}, {1, 0}, {1, 1}, 2});
  CHECK(conv.weight.shape() == Shape{6, 2, 3, 2});
  const double bound = 1.0 / std::sqrt(2.0 * 3 * 2);
  CHECK(amax(abs(conv.weight)).item() <= bound);
  CHECK(amax(abs(conv.bias)).item() <= bound);
  std::ostringstream os;
  os << conv << " " << nn::Conv2d(3, 16, 3, 1, 1, false) << " "
     << nn::Conv1d(1, 1, 3, Conv1dOptions{1, 1, 1, 1}, false);
  CHECK(os.str() ==
        "Conv2d(4, 6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), groups=2) "
        "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False) "
        "Conv1d(1, 1, kernel_size=(3,), stride=(1,), padding=(1,), bias=False)");
  MacCounter counter;
  Tensor y = conv(zeros({2, 4, 5, 5}));
  CHECK(y.shape() == Shape{2, 6, 3, 4});
  CHECK(counter.macs() == 2 * 6 * 3 * 4 * (2 * 3 * 2));
  CHECK_THROWS_WITH_AS(nn::Conv2d(3, 6, 3, 1, 0, true).forward(zeros({1, 3, 2, 2})),
                       doctest::Contains("conv2d"), Error);
  CHECK_THROWS_WITH_AS(nn::Conv2d(3, 6, {3, 3}, Conv2dOptions{{1, 1}, {0, 0}, {1, 1}, 2}),
                       doctest::Contains("multiples of groups 2"), Error);
}

TEST_CASE("CIFAR ResNets: 6n+2 depths, PyTorch's parameter counts and names") {
  // Parameter counts of akamaster's option-A CIFAR ResNets (the paper's 0.27M, 0.46M, 0.85M, 1.7M).
  const std::vector<std::pair<int, int64_t>> expected = {
      {20, 269722}, {32, 464154}, {56, 853018}, {110, 1727962}};
  for (const auto& [depth, params] : expected) {
    auto net = nn::cifar_resnet(depth);
    CHECK(net->num_parameters() == params);
  }
  auto net = nn::cifar_resnet(20);
  CHECK(has_key(*net, "conv1.weight"));
  CHECK(has_key(*net, "layer1.0.bn2.running_var"));
  CHECK(has_key(*net, "layer3.2.conv2.weight"));
  CHECK(has_key(*net, "fc.bias"));
  CHECK_FALSE(has_key(*net, "layer2.0.downsample.0.weight"));  // option A: no parameters
  auto b = nn::cifar_resnet(20, 10, 3, nn::Shortcut::B);
  CHECK(has_key(*b, "layer2.0.downsample.0.weight"));
  CHECK(has_key(*b, "layer2.0.downsample.1.running_mean"));
  CHECK(b->num_parameters() == 269722 + (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64));
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(21), doctest::Contains("6n + 2"), Error);
  CHECK_THROWS_WITH_AS(nn::resnet(101, 10), doctest::Contains("18, 34 or 50"), Error);
}

TEST_CASE("ResNets: output shapes and MACs on CIFAR and 64x64 inputs") {
  auto net = nn::cifar_resnet(20);
  const nn::Summary s = nn::summarize(*net, {1, 3, 32, 32});
  CHECK(s.output == Shape{1, 10});
  // 40.55M: per conv, output elements x (C_in / groups) x kernel area, and the linear layer.
  const int64_t macs = 32 * 32 * 16 * 27 + 6 * 32 * 32 * 16 * 144 + 16 * 16 * 32 * 144 +
                       5 * 16 * 16 * 32 * 288 + 8 * 8 * 64 * 288 + 5 * 8 * 8 * 64 * 576 + 640;
  CHECK(s.total.macs == macs);
  auto gray = nn::cifar_resnet(20, 10, 1);
  CHECK((*gray)(zeros({2, 1, 28, 28})).shape() == Shape{2, 10});
  auto r18 = nn::resnet(18, 200);
  CHECK(r18->num_parameters() == 11271432);  // torchvision resnet18 with a 3x3 stem, 200 classes
  const nn::Summary s18 = nn::summarize(*r18, {1, 3, 64, 64});
  CHECK(s18.output == Shape{1, 200});
  CHECK(s18.rows.back().output == Shape{1, 200});
  auto in224 = nn::resnet(18, 1000, 3, "imagenet");
  CHECK(in224->num_parameters() == 11689512);  // torchvision resnet18 exactly
  CHECK(nn::summarize(*in224, {1, 3, 64, 64}).output == Shape{1, 1000});
}

TEST_CASE("attention slot: modules appear at their positions and train") {
  register_test_attention();
  auto after_norm = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "test_after_norm");
  CHECK(has_key(*after_norm, "layer1.0.scale.scale"));
  CHECK(has_key(*after_norm, "layer3.0.scale.scale"));
  CHECK(after_norm->state_dict().at("layer3.0.scale.scale").shape() == Shape{1, 64, 1, 1});
  auto after_conv1 = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "test_after_conv1");
  CHECK(has_key(*after_conv1, "layer2.0.scale.scale"));
  auto stage_end = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "test_stage_end");
  CHECK(has_key(*stage_end, "stage_scale1.scale"));
  CHECK(has_key(*stage_end, "stage_scale2.scale"));
  CHECK_FALSE(has_key(*stage_end, "stage_scale3.scale"));  // not after the last stage
  auto fusion = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "test_fusion");
  CHECK(has_key(*fusion, "layer2.0.fuse.w"));
  auto conv2 = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "test_conv2");
  CHECK(has_key(*conv2, "layer1.0.conv2.weight"));
  CHECK(conv2->num_parameters() == nn::cifar_resnet(8)->num_parameters());
  // With the scale at 0 the "after norm" network computes what the plain one does.
  auto plain = nn::cifar_resnet(8);
  auto plain_state = plain->state_dict();
  nn::StateDict shared;
  for (const auto& [k, v] : after_norm->state_dict())
    shared.insert(k, plain_state.contains(k) ? plain_state.at(k) : v);
  after_norm->load_state_dict(shared);
  plain->eval();
  after_norm->eval();
  Tensor x = randn({2, 3, 16, 16});
  CHECK(test::max_diff((*plain)(x), (*after_norm)(x)) < 1e-6);
  // and the attention parameters receive gradients
  after_norm->train();
  sum((*after_norm)(x)).backward();
  for (const auto& named : after_norm->named_parameters()) {
    INFO(named.first);
    CHECK(named.second.grad().defined());
  }
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "no_such_module"),
                       doctest::Contains("unknown module \"no_such_module\" (known: none,"), Error);
}

TEST_CASE("gradcheck: ResNet blocks and whole networks in float64") {
  register_test_attention();
  // Full element-wise check of one small block (every parameter), then directional checks of
  // whole networks with each shortcut and an attention module at each position.
  auto block = std::make_shared<nn::BasicBlock>(2, 4, 2, nn::Shortcut::B, "none",
                                                nn::AttentionContext{});
  block->to(DType::Float64);
  test::check_module_gradients("BasicBlock stride 2, option B", block, {2, 2, 4, 4},
                               test::Inputs::Normal, {test::Layout::Contiguous});
  for (const std::string attention : {"none", "test_after_norm", "test_after_conv1",
                                      "test_stage_end", "test_fusion", "test_conv2"}) {
    auto net = nn::cifar_resnet(8, 5, 3, nn::Shortcut::A, attention);
    net->to(DType::Float64);
    test::check_module_directional("ResNet-8 option A, attention " + attention, net,
                                   {3, 3, 8, 8});
  }
  auto net_b = nn::cifar_resnet(8, 5, 3, nn::Shortcut::B);
  net_b->to(DType::Float64);
  test::check_module_directional("ResNet-8 option B", net_b, {3, 3, 8, 8});
  auto r18 = nn::resnet(18, 4, 3, "imagenet");
  r18->to(DType::Float64);
  // 64x64, not 32x32: at 32x32 layer4 is 1x1, so its training-mode BatchNorm sees two values
  // per channel and maps them to +-1; the loss is then so ill-conditioned (gradients ~2e4) that
  // the finite difference depends on BLAS rounding and the check fails on some CPUs.
  test::check_module_directional("ResNet-18 imagenet stem", r18, {2, 3, 64, 64});
}
