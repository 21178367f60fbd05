#include "attention/triplet.h"

#include <sstream>

#include "engine/fovea.h"

namespace fovea::attention {

namespace {

// ZPool of X along `dim` (the axis the gate's rotation puts first), rotated by `perm` so that the
// two pooled maps become the conv's 2 input channels: cat(max, mean) [N, 2, ., .].
Tensor zpool(const Tensor& x, int64_t dim, const std::vector<int64_t>& perm) {
  return cat({amax(x, {dim}, true).permute(perm), mean(x, {dim}, true).permute(perm)}, 1);
}

}  // namespace

TripletAttention::Gate TripletAttention::make_gate(const std::string& name) {
  // MODELS/triplet_attention.py nests each gate's layers as <gate>.spatial.{conv, bn}.
  auto spatial = register_module(name, std::make_shared<nn::Module>("SpatialGate"))
                     ->register_module("spatial", std::make_shared<nn::Module>("BasicConv"));
  Gate g;
  g.conv = spatial->register_module("conv", std::make_shared<nn::Conv2d>(2, 1, 7, 1, 3, false));
  nn::BatchNormOptions bn;
  bn.momentum = 0.01;
  g.bn = spatial->register_module("bn", std::make_shared<nn::BatchNorm2d>(1, bn));
  NoGradGuard no_grad;
  kaiming_normal_(g.conv->weight, 0, FanMode::FanOut);  // BN gamma 1, beta 0: its own default
  return g;
}

TripletAttention::TripletAttention(int64_t c, const TripletOptions& o)
    : AttentionModule("TripletAttention"), gate_channels(c), options(o) {
  FOVEA_CHECK(c >= 1, "TripletAttention: gate_channels ", c, " must be >= 1");
  channel_gate_h = make_gate("ChannelGateH");
  channel_gate_w = make_gate("ChannelGateW");
  if (o.no_spatial) return;
  spatial_gate = make_gate("SpatialGate");
  if (o.zero_spatial_gamma) {
    NoGradGuard no_grad;
    spatial_gate.bn->weight.zero_();  // MODELS/resnet.py: the H-W gate starts at sigmoid(0) = 0.5
  }
}

Tensor TripletAttention::gate(const Gate& g, const Tensor& z) {
  return sigmoid((*g.bn)((*g.conv)(z)));
}

Tensor TripletAttention::forward(const Tensor& x) {
  check_input(x, gate_channels);
  // C-W: pool H; the gate's [N, 1, C, W] goes back to [N, C, 1, W] (permute (0,2,1,3) is its own
  // inverse).
  const Tensor cw = gate(channel_gate_h, zpool(x, 2, {0, 2, 1, 3})).permute({0, 2, 1, 3});
  // H-C: pool W; [N, 1, H, C] back to [N, C, H, 1] ((0,3,2,1) is its own inverse too).
  const Tensor hc = gate(channel_gate_w, zpool(x, 3, {0, 3, 2, 1})).permute({0, 3, 2, 1});
  record_map("cw", cw);
  record_map("hc", hc);
  if (options.no_spatial) return (x * cw + x * hc) * 0.5;
  const Tensor hw = gate(spatial_gate, zpool(x, 1, {0, 1, 2, 3}));
  record_map("hw", hw);
  return (x * hw + x * cw + x * hc) * (1.0 / 3.0);
}

std::string TripletAttention::extra_repr() const {
  std::ostringstream os;
  os << "gate_channels=" << gate_channels << ", no_spatial=" << nn::py_bool(options.no_spatial)
     << ", zero_spatial_gamma=" << nn::py_bool(options.zero_spatial_gamma);
  return os.str();
}

nn::AttentionSpec triplet_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "triplet_attention";
  s.help = "Triplet Attention: C-W, H-C and H-W gates (ZPool, 7x7 conv, BN), averaged (spec §12)";
  s.options = {{"no_spatial", "false", "drop the H-W gate: Y = (O_cw + O_hc) / 2"},
               {"zero_spatial_gamma", "false",
                "H-W gate BN weight 0 at init (MODELS/resnet.py); false: 1 for all gates"}};
  s.make = [](const nn::AttentionContext& c) {
    TripletOptions o;
    o.no_spatial = c.options.flag("no_spatial");
    o.zero_spatial_gamma = c.options.flag("zero_spatial_gamma");
    return std::make_shared<TripletAttention>(c.channels, o);
  };
  return s;
}

}  // namespace fovea::attention
