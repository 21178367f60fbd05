#include "attention/bam.h"

#include <sstream>

#include "engine/fovea.h"
#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/norm.h"

namespace fovea::attention {

namespace {

// Registers `layer` under the reference's name in `group` and appends it to the branch.
template <typename M>
std::shared_ptr<M> add(nn::Module& group, std::vector<std::shared_ptr<nn::Module>>& branch,
                       const std::string& name, std::shared_ptr<M> layer) {
  branch.push_back(group.register_module(name, layer));
  return layer;
}

std::string indexed(const char* prefix, int64_t i) { return prefix + std::to_string(i); }

// model_resnet.py: every "conv" weight kaiming_normal (fan_out), every bias 0.
std::shared_ptr<nn::Conv2d> conv(int64_t in, int64_t out, int64_t kernel, int64_t dilation) {
  Conv2dOptions o;
  o.padding = {dilation * (kernel / 2), dilation * (kernel / 2)};  // keeps H x W
  o.dilation = {dilation, dilation};
  auto c = std::make_shared<nn::Conv2d>(in, out, std::array<int64_t, 2>{kernel, kernel}, o);
  NoGradGuard no_grad;
  kaiming_normal_(c->weight, 0, FanMode::FanOut);
  c->bias.zero_();
  return c;
}

std::shared_ptr<nn::Linear> linear(int64_t in, int64_t out) {
  auto l = std::make_shared<nn::Linear>(in, out);
  NoGradGuard no_grad;
  l->bias.zero_();
  return l;
}

}  // namespace

BAM::BAM(int64_t c, const BAMOptions& o)
    : AttentionModule("BAM"), gate_channel(c), options(o), product_(o.combine == "prod") {
  check_reduction(c, o.reduction_ratio, "reduction_ratio");
  FOVEA_CHECK(o.num_layers >= 0 && o.dilation_conv_num >= 0, "BAM: num_layers ", o.num_layers,
              " and dilation_conv_num ", o.dilation_conv_num, " must be >= 0");
  FOVEA_CHECK(o.dilation_val >= 1, "BAM: dilation_val ", o.dilation_val, " must be >= 1");
  FOVEA_CHECK(o.combine == "sum" || o.combine == "prod", "BAM: combine \"", o.combine,
              "\" is neither sum (paper) nor prod (official code)");
  const int64_t hidden = c / o.reduction_ratio;

  auto gate_c = register_module("channel_att", std::make_shared<nn::Module>("ChannelGate"))
                    ->register_module("gate_c", std::make_shared<nn::Module>("Sequential"));
  int64_t width = c;
  for (int64_t i = 0; i < o.num_layers; ++i) {
    add(*gate_c, gate_c_, indexed("gate_c_fc_", i), linear(width, hidden));
    add(*gate_c, gate_c_, indexed("gate_c_bn_", i + 1), std::make_shared<nn::BatchNorm1d>(hidden));
    add(*gate_c, gate_c_, indexed("gate_c_relu_", i + 1), std::make_shared<nn::ReLU>());
    width = hidden;
  }
  add(*gate_c, gate_c_, "gate_c_fc_final", linear(width, c));

  auto gate_s = register_module("spatial_att", std::make_shared<nn::Module>("SpatialGate"))
                    ->register_module("gate_s", std::make_shared<nn::Module>("Sequential"));
  add(*gate_s, gate_s_, "gate_s_conv_reduce0", conv(c, hidden, 1, 1));
  add(*gate_s, gate_s_, "gate_s_bn_reduce0", std::make_shared<nn::BatchNorm2d>(hidden));
  add(*gate_s, gate_s_, "gate_s_relu_reduce0", std::make_shared<nn::ReLU>());
  for (int64_t i = 0; i < o.dilation_conv_num; ++i) {
    add(*gate_s, gate_s_, indexed("gate_s_conv_di_", i), conv(hidden, hidden, 3, o.dilation_val));
    add(*gate_s, gate_s_, indexed("gate_s_bn_di_", i), std::make_shared<nn::BatchNorm2d>(hidden));
    add(*gate_s, gate_s_, indexed("gate_s_relu_di_", i), std::make_shared<nn::ReLU>());
  }
  add(*gate_s, gate_s_, "gate_s_conv_final", conv(hidden, 1, 1, 1));
}

Tensor BAM::forward(const Tensor& x) {
  check_input(x, gate_channel);
  // The channel gate's BatchNorm1d sees one value per channel and sample: PyTorch refuses N = 1
  // in training, and so do we, before any NaN could appear.
  FOVEA_CHECK(!is_training() || options.num_layers == 0 || x.size(0) > 1,
              "BAM: training needs a batch of more than 1 sample (the channel gate's BatchNorm1d "
              "normalises over N), got ", x.str(), "; use eval mode or a larger batch");
  Tensor mc = mean(x, {2, 3});
  for (const auto& layer : gate_c_) mc = (*layer)(mc);
  Tensor ms = x;
  for (const auto& layer : gate_s_) ms = (*layer)(ms);
  record_map("channel", mc);
  record_map("spatial", ms);
  const Tensor mc4 = mc.reshape({x.size(0), gate_channel, 1, 1});
  const Tensor m = sigmoid(product_ ? mc4 * ms : mc4 + ms);
  record_map("attention", m);
  return x * (m + 1.0);
}

std::string BAM::extra_repr() const {
  std::ostringstream os;
  os << "gate_channel=" << gate_channel << ", reduction_ratio=" << options.reduction_ratio
     << ", num_layers=" << options.num_layers << ", dilation_conv_num="
     << options.dilation_conv_num << ", dilation_val=" << options.dilation_val
     << ", combine=" << options.combine;
  return os.str();
}

nn::AttentionSpec bam_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::StageEnd;
  s.child_name = "bam";
  s.help =
      "BAM: Y = X (1 + sigmoid(channel MLP + dilated spatial convs)) after each stage (spec §3)";
  s.options = {{"reduction_ratio", "16", "hidden width of both gates: channels // ratio"},
               {"num_layers", "1", "hidden Linear + BN1d + ReLU layers of the channel gate (0..8)"},
               {"dilation_conv_num", "2", "dilated 3x3 convs of the spatial gate (0..8)"},
               {"dilation_val", "4", "their dilation (= padding, keeps H x W; 1..64)"},
               {"combine", "sum", "sum (paper) or prod (official code and checkpoints)"}};
  s.make = [](const nn::AttentionContext& c) {
    BAMOptions o;
    o.reduction_ratio = c.options.integer("reduction_ratio");
    o.num_layers = c.options.integer("num_layers", 0, 8);
    o.dilation_conv_num = c.options.integer("dilation_conv_num", 0, 8);
    o.dilation_val = c.options.integer("dilation_val", 1, 64);
    o.combine = c.options.choice("combine", {"sum", "prod"});
    return std::make_shared<BAM>(c.channels, o);
  };
  return s;
}

}  // namespace fovea::attention
