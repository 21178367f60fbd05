#include "attention/coord_attention.h"

#include <algorithm>
#include <sstream>

#include "engine/fovea.h"

namespace fovea::attention {

namespace {

int64_t checked_mip(int64_t inp, int64_t oup, int64_t reduction) {
  FOVEA_CHECK(inp >= 1 && oup == inp, "CoordAtt: oup ", oup, " must equal inp ", inp,
              " (Y = X * a_w * a_h; spec §21)");
  FOVEA_CHECK(reduction >= 1, "CoordAtt: reduction ", reduction, " must be >= 1");
  return std::max<int64_t>(8, inp / reduction);
}

// mbv2_ca.py's _initialize_weights: N(0, 2 / (k k out_channels)), bias 0.
void init_conv(nn::Conv2d& conv) {
  kaiming_normal_(conv.weight, 0, FanMode::FanOut);
  conv.bias.zero_();
}

}  // namespace

Tensor h_swish(const Tensor& x) { return x * (relu6(x + 3.0) / 6.0); }

CoordAtt::CoordAtt(int64_t in, int64_t out, const CoordAttOptions& o)
    : AttentionModule("CoordAtt"), inp(in), oup(out), mip(checked_mip(in, out, o.reduction)),
      options(o) {
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(inp, mip, 1));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(mip));
  conv_h = register_module("conv_h", std::make_shared<nn::Conv2d>(mip, oup, 1));
  conv_w = register_module("conv_w", std::make_shared<nn::Conv2d>(mip, oup, 1));
  NoGradGuard no_grad;
  for (nn::Conv2d* conv : {conv1.get(), conv_h.get(), conv_w.get()}) init_conv(*conv);
}

Tensor CoordAtt::forward(const Tensor& x) {
  check_input(x, inp);
  const int64_t h = x.size(2), w = x.size(3);
  const Tensor x_h = mean(x, {3}, true);                           // [N, C, H, 1]
  const Tensor x_w = mean(x, {2}, true).permute({0, 1, 3, 2});     // [N, C, W, 1]
  // One conv and one BN over both strips: the BN's statistics mix H and W positions.
  const Tensor y = h_swish((*bn1)((*conv1)(cat({x_h, x_w}, 2))));  // [N, mip, H + W, 1]
  const std::vector<Tensor> parts = split_sizes(y, {h, w}, 2);
  const Tensor a_h = sigmoid((*conv_h)(parts[0]));                          // [N, C, H, 1]
  const Tensor a_w = sigmoid((*conv_w)(parts[1].permute({0, 1, 3, 2})));  // [N, C, 1, W]
  record_map("h", a_h);
  record_map("w", a_w);
  return x * a_w * a_h;
}

std::string CoordAtt::extra_repr() const {
  std::ostringstream os;
  os << "inp=" << inp << ", oup=" << oup << ", reduction=" << options.reduction << ", mip=" << mip;
  return os.str();
}

nn::AttentionSpec ca_spec() {
  nn::AttentionSpec s;
  // The official placement is inside MobileNetV2 blocks (after the depth-wise conv); in a
  // ResNet it sits where the other gates do (spec §0.11's list), after the last BN.
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "ca";
  s.help =
      "Coordinate Attention: H and W strip gates from one shared conv1 + BN + h-swish (spec §9)";
  s.options = {{"reduction", "32", "hidden width mip = max(8, channels // reduction)"}};
  s.make = [](const nn::AttentionContext& c) {
    CoordAttOptions o;
    o.reduction = c.options.integer("reduction");
    return std::make_shared<CoordAtt>(c.channels, c.channels, o);
  };
  return s;
}

}  // namespace fovea::attention
