#include "attention/cbam.h"

#include <sstream>

#include "engine/fovea.h"
#include "layers/activation.h"
#include "layers/flatten.h"
#include "layers/linear.h"

namespace fovea::attention {

Tensor channel_pool(const Tensor& x) {
  return cat({amax(x, {1}, true), mean(x, {1}, true)}, 1);
}

// ---- CBAM (official) -------------------------------------------------------------------------------

CBAM::CBAM(int64_t c, const CBAMOptions& o)
    : AttentionModule("CBAM"), gate_channels(c), options(o) {
  check_reduction(c, o.reduction_ratio);
  FOVEA_CHECK(!o.pool_types.empty(), "CBAM: pool_types is empty (avg, max, lp, lse)");
  for (const auto& p : o.pool_types)
    FOVEA_CHECK(p == "avg" || p == "max" || p == "lp" || p == "lse", "CBAM: unknown pool type \"",
                p, "\" (avg, max, lp, lse)");
  const int64_t hidden = c / o.reduction_ratio;
  auto fc1 = std::make_shared<nn::Linear>(c, hidden);
  auto fc2 = std::make_shared<nn::Linear>(hidden, c);
  {
    NoGradGuard no_grad;
    fc1->bias.zero_();  // model_resnet.py zeroes every bias
    fc2->bias.zero_();
  }
  mlp = nn::add_group(*this, "ChannelGate")
            ->register_module("mlp", std::make_shared<nn::Sequential>(
                                         std::initializer_list<std::shared_ptr<nn::Module>>{
                                             std::make_shared<nn::Flatten>(), fc1,
                                             std::make_shared<nn::ReLU>(), fc2}));
  if (o.no_spatial) return;
  auto spatial = nn::add_group(*this, "SpatialGate")->register_module(
      "spatial", std::make_shared<nn::Module>("BasicConv"));
  spatial_conv =
      spatial->register_module("conv", std::make_shared<nn::Conv2d>(2, 1, 7, 1, 3, false));
  nn::BatchNormOptions bn;
  bn.momentum = 0.01;
  spatial_bn = spatial->register_module("bn", std::make_shared<nn::BatchNorm2d>(1, bn));
  NoGradGuard no_grad;
  kaiming_normal_(spatial_conv->weight, 0, FanMode::FanOut);
  spatial_bn->weight.zero_();  // the gate starts at sigmoid(0) = 0.5
}

Tensor CBAM::pool(const Tensor& x, const std::string& type) const {
  if (type == "avg") return mean(x, {2, 3});
  if (type == "max") return amax(x, {2, 3});
  if (type == "lp") return norm(x, 2, {2, 3});
  return logsumexp(x, {2, 3});
}

Tensor CBAM::forward(const Tensor& x) {
  check_input(x, gate_channels);
  Tensor a;
  for (const auto& type : options.pool_types) {
    const Tensor raw = (*mlp)(pool(x, type));
    a = a.defined() ? a + raw : raw;
  }
  const Tensor mc = sigmoid(a);
  record_map("channel", mc);
  const Tensor xc = x * mc.reshape({x.size(0), gate_channels, 1, 1});
  if (options.no_spatial) return xc;
  const Tensor ms = sigmoid((*spatial_bn)((*spatial_conv)(channel_pool(xc))));
  record_map("spatial", ms);
  return xc * ms;
}

std::string CBAM::extra_repr() const {
  std::ostringstream os;
  os << "gate_channels=" << gate_channels << ", reduction_ratio=" << options.reduction_ratio
     << ", pool_types=[";
  for (size_t i = 0; i < options.pool_types.size(); ++i)
    os << (i ? ", " : "") << "'" << options.pool_types[i] << "'";
  os << "], no_spatial=" << nn::py_bool(options.no_spatial);
  return os.str();
}

// ---- CBAMResidual (xmu) ----------------------------------------------------------------------------

CBAMResidual::CBAMResidual(int64_t c, const CBAMResidualOptions& o)
    : AttentionModule("CBAMResidual"), channel(c), options(o) {
  check_reduction(c, o.reduction);
  FOVEA_CHECK(o.kernel_size >= 1 && o.kernel_size % 2 == 1, "CBAMResidual: kernel_size ",
              o.kernel_size, " must be odd and positive (padding k//2 keeps H x W only then)");
  const int64_t hidden = c / o.reduction;
  se = nn::add_group(*this, "ca")->register_module(
      "se", std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
                std::make_shared<nn::Conv2d>(c, hidden, 1, 1, 0, false),
                std::make_shared<nn::ReLU>(),
                std::make_shared<nn::Conv2d>(hidden, c, 1, 1, 0, false)}));
  auto sa = nn::add_group(*this, "sa");
  conv = sa->register_module("conv", std::make_shared<nn::Conv2d>(2, 1, o.kernel_size, 1,
                                                                   o.kernel_size / 2, o.conv_bias));
  if (o.spatial_bn) bn = sa->register_module("bn", std::make_shared<nn::BatchNorm2d>(1));
}

Tensor CBAMResidual::forward(const Tensor& x) {
  check_input(x, channel);
  const Tensor mc = sigmoid((*se)(amax(x, {2, 3}, true)) + (*se)(mean(x, {2, 3}, true)));
  record_map("channel", mc.reshape({x.size(0), channel}));
  const Tensor xc = x * mc;
  Tensor z = (*conv)(channel_pool(xc));
  if (bn) z = (*bn)(z);
  const Tensor ms = sigmoid(z);
  record_map("spatial", ms);
  return xc * ms + x;
}

std::string CBAMResidual::extra_repr() const {
  std::ostringstream os;
  os << "channel=" << channel << ", reduction=" << options.reduction
     << ", kernel_size=" << options.kernel_size
     << ", spatial_bn=" << nn::py_bool(options.spatial_bn)
     << ", conv_bias=" << nn::py_bool(options.conv_bias);
  return os.str();
}

// ---- registration ----------------------------------------------------------------------------------

nn::AttentionSpec cbam_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "cbam";
  s.help = "CBAM, official: channel gate then 7x7 spatial gate with BN (spec §2a)";
  s.options = {{"reduction_ratio", "16", "hidden width of the shared MLP: channels // ratio"},
               {"pool_types", "avg+max", "channel descriptors, '+'-separated: avg, max, lp, lse"},
               {"no_spatial", "false", "channel gate only"}};
  s.make = [](const nn::AttentionContext& c) {
    CBAMOptions o;
    o.reduction_ratio = c.options.integer("reduction_ratio");
    o.pool_types = c.options.list("pool_types", {"avg", "max", "lp", "lse"});
    o.no_spatial = c.options.flag("no_spatial");
    return std::make_shared<CBAM>(c.channels, o);
  };
  return s;
}

nn::AttentionSpec cbam_residual_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "cbam";
  s.help = "CBAM, the seed's residual variant: Y = CBAM(X) + X (spec §2b)";
  s.options = {{"reduction", "16", "hidden width of the 1x1-conv MLP: channels // reduction"},
               {"kernel_size", "7", "spatial conv kernel (odd, 1..99)"},
               {"spatial_bn", "false", "BatchNorm after the spatial conv"},
               {"conv_bias", "true", "bias in the spatial conv"}};
  s.make = [](const nn::AttentionContext& c) {
    CBAMResidualOptions o;
    o.reduction = c.options.integer("reduction");
    o.kernel_size = c.options.integer("kernel_size", 1, 99);
    o.spatial_bn = c.options.flag("spatial_bn");
    o.conv_bias = c.options.flag("conv_bias");
    return std::make_shared<CBAMResidual>(c.channels, o);
  };
  return s;
}

}  // namespace fovea::attention
