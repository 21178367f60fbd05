// Normalisation, pooling and dropout layers: buffers and names as PyTorch, running statistics,
// train/eval behaviour, and gradients through the modules' own parameters.
#include <doctest/doctest.h>

#include "engine/cpu/fill.h"
#include "engine/fovea.h"
#include "layers/layers.h"
#include "support/compare.h"
#include "support/module_check.h"

using namespace fovea;
using fovea::test::values;

TEST_CASE("BatchNorm2d: PyTorch's names, running statistics and num_batches_tracked") {
  nn::BatchNorm2d bn(3);
  CHECK(bn.state_dict().keys() ==
        std::vector<std::string>{"weight", "bias", "running_mean", "running_var",
                                 "num_batches_tracked"});
  Generator gen(5);
  Tensor x = randn({4, 3, 2, 2}, DType::Float32, &gen) * 2.0 + 1.0;
  bn(x);
  bn(x);
  CHECK(bn.num_batches_tracked.item<int64_t>() == 2);
  // after two identical batches: running = batch * (1 - 0.9^2) + initial * 0.9^2
  const std::vector<double> m = values(mean(x, {0, 2, 3}));
  const std::vector<double> v = values(var(x, {0, 2, 3}, 1));
  for (int c = 0; c < 3; ++c) {
    CHECK(bn.running_mean.at({c}) == doctest::Approx(m[c] * 0.19).epsilon(1e-5));
    CHECK(bn.running_var.at({c}) == doctest::Approx(v[c] * 0.19 + 0.81).epsilon(1e-5));
  }
  bn.eval();
  const Tensor before = bn.running_mean.clone();
  Tensor y = bn(x);
  CHECK(test::max_diff(bn.running_mean, before) == 0);
  CHECK(bn.num_batches_tracked.item<int64_t>() == 2);
  // eval: (x - running_mean) / sqrt(running_var + eps)
  CHECK(y.at({1, 2, 1, 0}) == doctest::Approx((x.at({1, 2, 1, 0}) - bn.running_mean.at({2})) /
                                               std::sqrt(bn.running_var.at({2}) + 1e-5)));
}

TEST_CASE("BatchNorm: momentum None is a cumulative average, no tracking uses batch stats") {
  nn::BatchNormOptions cumulative;
  cumulative.momentum = std::nullopt;
  nn::BatchNorm1d bn(2, cumulative);
  Tensor a = from_values({1, 10, 3, 20}, {2, 2}), b = from_values({5, 0, 7, 0}, {2, 2});
  bn(a);
  bn(b);
  CHECK(values(bn.running_mean) == std::vector<double>{(2 + 6) / 2.0, (15 + 0) / 2.0});
  nn::BatchNormOptions untracked;
  untracked.track_running_stats = false;
  nn::BatchNorm1d plain(2, untracked);
  CHECK(plain.state_dict().keys() == std::vector<std::string>{"weight", "bias"});
  plain.eval();  // still normalises with the batch's own statistics
  CHECK(plain(a).at({0, 0}) == doctest::Approx(-1.0).epsilon(1e-4));
  CHECK_THROWS_WITH_AS(bn(zeros({2, 2, 2, 2})), doctest::Contains("BatchNorm1d: expected a 2-d or 3-d"),
                       Error);
}

TEST_CASE("GroupNorm, LayerNorm and Dropout modules match their functions") {
  Generator gen(2);
  Tensor x = randn({2, 4, 3, 3}, DType::Float32, &gen);
  nn::GroupNorm gn(2, 4);
  CHECK(test::max_diff(gn(x), group_norm(x, 2, gn.weight, gn.bias)) == 0);
  nn::LayerNorm ln({3, 3});
  CHECK(test::max_diff(ln(x), layer_norm(x, {3, 3}, ln.weight, ln.bias)) == 0);
  CHECK_THROWS_WITH_AS(nn::GroupNorm(3, 4), doctest::Contains("multiple of num_groups 3"), Error);
  nn::Dropout drop(0.5);
  drop.eval();
  CHECK(drop(x).same(x));
  drop.train();
  const std::vector<double> d = values(drop(x));
  int zeros_seen = 0;
  for (double v : d) zeros_seen += v == 0;
  CHECK(zeros_seen > 0);
  std::ostringstream os;
  os << gn << " " << ln << " " << drop;
  CHECK(os.str() == "GroupNorm(2, 4, eps=1e-05, affine=True) LayerNorm((3, 3), eps=1e-05, "
                    "elementwise_affine=True) Dropout(p=0.5, inplace=False)");
}

TEST_CASE("pooling modules wrap the pooling ops") {
  Tensor x = arange(32, DType::Float32).reshape({1, 2, 4, 4});
  CHECK(nn::MaxPool2d(2)(x).shape() == Shape{1, 2, 2, 2});
  CHECK(nn::MaxPool2d(2)(x).at({0, 1, 1, 1}) == 31);
  CHECK(nn::AvgPool2d(2)(x).at({0, 0, 0, 0}) == 2.5);
  CHECK(nn::AdaptiveAvgPool2d(1)(x).shape() == Shape{1, 2, 1, 1});
  CHECK(nn::AdaptiveAvgPool2d({-1, 1})(x).shape() == Shape{1, 2, 4, 1});
  CHECK(nn::AdaptiveMaxPool2d(1)(x).at({0, 0, 0, 0}) == 15);
  std::ostringstream os;
  os << nn::MaxPool2d(3, 2, 1) << " " << nn::AdaptiveAvgPool2d({-1, 1});
  CHECK(os.str() == "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False) "
                    "AdaptiveAvgPool2d(output_size=(None, 1))");
}

TEST_CASE("gradcheck: normalisation modules through their own parameters") {
  nn::BatchNormOptions f64;
  f64.dtype = DType::Float64;
  auto bn = std::make_shared<nn::BatchNorm2d>(3, f64);
  {
    NoGradGuard no_grad;  // random affine parameters, never the initial 1 / 0
    Generator gen(4);
    normal_(bn->weight, 1, 0.5, &gen);
    normal_(bn->bias, 0, 0.5, &gen);
  }
  test::check_module_gradients("BatchNorm2d train", bn, {2, 3, 2, 3});
  bn->eval();
  test::check_module_gradients("BatchNorm2d eval", bn, {2, 3, 2, 3});
  test::check_module_gradients("GroupNorm",
                               std::make_shared<nn::GroupNorm>(2, 4, 1e-5, true, DType::Float64),
                               {2, 4, 3, 2});
  test::check_module_gradients("LayerNorm",
                               std::make_shared<nn::LayerNorm>(Shape{4}, 1e-5, true, DType::Float64),
                               {2, 3, 4});
}

TEST_CASE("Module::to converts parameters and buffers, keeps leaves and ties") {
  auto seq = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(3, 2), std::make_shared<nn::BatchNorm1d>(2)});
  seq->to(DType::Float64);
  for (const auto& [name, t] : seq->state_dict())
    CHECK(t.dtype() == (name == "1.num_batches_tracked" ? DType::Int64 : DType::Float64));
  for (const Tensor& p : seq->parameters()) {
    CHECK(p.is_leaf());
    CHECK(p.requires_grad());
  }
  auto frozen = std::make_shared<nn::Linear>(2, 2);
  frozen->bias.set_requires_grad(false);
  frozen->to(DType::Float64);
  CHECK_FALSE(frozen->bias.requires_grad());  // stays frozen
  CHECK(frozen->weight.requires_grad());
  auto lin = std::dynamic_pointer_cast<nn::Linear>((*seq)[0]);
  CHECK(lin->weight.dtype() == DType::Float64);  // the layer's handle follows its slot
  CHECK((*seq)(zeros({4, 3}, DType::Float64)).dtype() == DType::Float64);
}

TEST_CASE("Module::to(cuda) moves every tensor where a device can take them, else is an error") {
  auto seq = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(3, 2), std::make_shared<nn::BatchNorm1d>(2)});
  std::string why;
  if (!cuda_available(&why)) {
    CHECK_THROWS_AS(seq->to(Device::cuda()), Error);
    return;
  }
  seq->to(Device::cuda());
  for (const auto& entry : seq->state_dict())
    CHECK_MESSAGE(entry.second.device() == Device::cuda(), entry.first);
}

TEST_CASE("summary: output shapes, parameters and MACs per module") {
  auto net = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(12, 5),
      std::make_shared<nn::BatchNorm1d>(5), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(5, 3, false)});
  const nn::Summary s = nn::summarize(*net, {2, 3, 4});
  REQUIRE(s.rows.size() == 6);
  CHECK(s.output == Shape{2, 3});
  CHECK(s.rows[2].name == "1");
  CHECK(s.rows[2].type == "Linear");
  CHECK(s.rows[2].output == Shape{2, 5});
  CHECK(s.rows[2].params == 12 * 5 + 5);
  CHECK(s.rows[2].ops.macs == 2 * 5 * 12);
  CHECK(s.rows[5].ops.macs == 2 * 3 * 5);
  CHECK(s.total_params == 65 + 10 + 15);
  CHECK(s.total.macs == 120 + 30);
  CHECK(net->is_training());  // restored
  const std::string table = s.table();
  CHECK(table.find("1 (Linear)") != std::string::npos);
  CHECK(table.find("[2, 5]") != std::string::npos);
  CHECK(table.find("parameters: 90 (90 trainable)") != std::string::npos);
}

TEST_CASE("summary: each module's count is what ran inside its calls, children included") {
  auto head = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::AdaptiveAvgPool2d>(1), std::make_shared<nn::Flatten>()});
  auto net = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      head, std::make_shared<nn::Linear>(3, 2)});
  const nn::Summary s = nn::summarize(*net, {2, 3, 4, 4});
  REQUIRE(s.rows.size() == 5);  // the model, 0, 0.0, 0.1, 1
  CHECK(s.rows[1].name == "0");
  CHECK(s.rows[1].ops.reduce_reads == 2 * 3 * 16);  // the pooling inside it
  CHECK(s.rows[2].ops.reduce_reads == 2 * 3 * 16);
  CHECK(s.rows[3].ops.reduce_reads == 0);
  CHECK(s.rows[4].ops.macs == 2 * 2 * 3);
  CHECK(s.rows[4].ops.reduce_reads == 0);
  CHECK(s.total.macs == 12);
  CHECK(s.total.reduce_reads == 96);
  CHECK(s.total.softmax_elements == 0);
  CHECK(s.table().find("softmax elements: 0; elements read by poolings and reductions: 96") !=
        std::string::npos);
}

TEST_CASE("summary: the peak memory of a forward and backward, with no trace left behind") {
  auto bn = std::make_shared<nn::BatchNorm1d>(64);
  auto net = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(12, 64), bn, std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(64, 3)});
  const Tensor mean_before = bn->running_mean.clone();
  const size_t small = nn::forward_backward_peak_bytes(*net, {4, 12});
  const size_t large = nn::forward_backward_peak_bytes(*net, {64, 12});
  // Every parameter's gradient is alive at the end of the backward.
  CHECK(small >= size_t(net->num_parameters()) * sizeof(float));
  // At the end of the forward, 64 rows of input, of at least two activations of 64 kept for the
  // backward (the first linear's output for the norm, the ReLU's for the last linear) and of
  // output are alive.
  CHECK(large >= 64 * (12 + 2 * 64 + 3) * sizeof(float));
  CHECK(large > small);
  CHECK(net->is_training());  // restored
  for (const auto& named : net->named_parameters()) {
    CAPTURE(named.first);
    CHECK_FALSE(named.second.grad().defined());  // cleared
  }
  CHECK(amax(abs(bn->running_mean - mean_before)).item() == 0.0);  // eval mode: no update
}
