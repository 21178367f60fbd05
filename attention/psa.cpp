#include "attention/psa.h"

#include <sstream>
#include <vector>

#include "engine/fovea.h"
#include "layers/activation.h"
#include "layers/sequential.h"

namespace fovea::attention {

namespace {

// Option text <-> variant, in the order of PSAVariant.
const std::vector<std::string>& variant_names() {
  static const std::vector<std::string> names{"paper_parallel", "paper_sequential", "official_p",
                                              "official_s"};
  return names;
}

bool is_paper(PSAVariant v) {
  return v == PSAVariant::PaperParallel || v == PSAVariant::PaperSequential;
}
bool is_sequential(PSAVariant v) {
  return v == PSAVariant::PaperSequential || v == PSAVariant::OfficialS;
}

constexpr int64_t kOfficialRatio = 4;  // PSA_s: conv_up's bottleneck (C/2) // 4

// Runs before any layer is shaped by C/2 (spec §21).
int64_t checked_channels(int64_t c, PSAVariant v) {
  const std::string& name = variant_names()[size_t(v)];
  FOVEA_CHECK(c >= 2 && c % 2 == 0, "PolarizedSelfAttention: channels ", c,
              " must be even and >= 2 (both branches are channels / 2 wide; spec §21), variant=",
              name);
  FOVEA_CHECK(v != PSAVariant::OfficialS || (c / 2) / kOfficialRatio >= 1,
              "PolarizedSelfAttention: channels ", c, " gives official_s's conv_up bottleneck (",
              c, " / 2) // ", kOfficialRatio,
              " = 0 channels; variant=official_s needs channels >= ", 2 * kOfficialRatio);
  return c;
}

std::shared_ptr<nn::Conv2d> conv1x1(int64_t in, int64_t out, bool bias) {
  return std::make_shared<nn::Conv2d>(in, out, 1, 1, 0, bias);
}

}  // namespace

PolarizedSelfAttention::PolarizedSelfAttention(int64_t c, const PSAOptions& o)
    : AttentionModule("PolarizedSelfAttention"),
      channels(checked_channels(c, o.variant)),
      options(o) {
  const int64_t half = c / 2;
  if (is_paper(o.variant)) {
    // Registration order = the reference's state_dict order.
    ch_v = register_module("ch_wv", conv1x1(c, half, true));
    ch_q = register_module("ch_wq", conv1x1(c, 1, true));
    ch_up = register_module("ch_wz", conv1x1(half, c, true));
    ln = register_module("ln", std::make_shared<nn::LayerNorm>(Shape{c}));
    sp_v = register_module("sp_wv", conv1x1(c, half, true));
    sp_q = register_module("sp_wq", conv1x1(c, half, true));
    return;
  }
  ch_q = register_module("conv_q_right", conv1x1(c, 1, false));
  ch_v = register_module("conv_v_right", conv1x1(c, half, false));
  if (o.variant == PSAVariant::OfficialP) {
    ch_up = register_module("conv_up", conv1x1(half, c, false));
  } else {
    const int64_t mid = half / kOfficialRatio;
    ch_up = register_module(
        "conv_up", std::make_shared<nn::Sequential>(
                       std::initializer_list<std::shared_ptr<nn::Module>>{
                           conv1x1(half, mid, true),
                           std::make_shared<nn::LayerNorm>(Shape{mid, 1, 1}),
                           std::make_shared<nn::ReLU>(), conv1x1(mid, c, true)}));
  }
  sp_q = register_module("conv_q_left", conv1x1(c, half, false));
  sp_v = register_module("conv_v_left", conv1x1(c, half, false));
  NoGradGuard no_grad;  // PSA.py reset_parameters: kaiming_init(mode='fan_in'), relu gain
  for (auto* conv : {&ch_q, &ch_v, &sp_q, &sp_v})
    kaiming_normal_((*conv)->weight, 0, FanMode::FanIn, "relu");
}

Tensor PolarizedSelfAttention::channel_gate(const Tensor& x) {
  const int64_t n = x.size(0), hw = x.size(2) * x.size(3), half = channels / 2;
  const Tensor v = (*ch_v)(x).reshape({n, half, hw});
  const Tensor q = softmax((*ch_q)(x).reshape({n, hw, 1}), 1);  // over the positions
  const Tensor w = (*ch_up)(matmul(v, q).reshape({n, half, 1, 1})).reshape({n, channels});
  const Tensor a = sigmoid(ln ? (*ln)(w) : w);  // [N, C]
  record_map("channel", a);
  return a.reshape({n, channels, 1, 1});
}

Tensor PolarizedSelfAttention::spatial_gate(const Tensor& s) {
  const int64_t n = s.size(0), h = s.size(2), w = s.size(3), half = channels / 2;
  const Tensor q = mean((*sp_q)(s), {2, 3}).reshape({n, 1, half});
  const Tensor v = (*sp_v)(s).reshape({n, half, h * w});
  Tensor z;  // [N, 1, HW]
  switch (options.variant) {
    case PSAVariant::OfficialP: z = softmax(matmul(q, v), 2); break;
    case PSAVariant::OfficialS: z = matmul(q, softmax(v, 2)); break;
    default: z = matmul(softmax(q, 2), v); break;  // the paper: over the C/2 channels
  }
  const Tensor a = sigmoid(z).reshape({n, 1, h, w});
  record_map("spatial", a);
  return a;
}

Tensor PolarizedSelfAttention::forward(const Tensor& x) {
  check_input(x, channels);
  const Tensor x1 = x * channel_gate(x);
  if (is_sequential(options.variant)) return x1 * spatial_gate(x1);
  return x1 + x * spatial_gate(x);
}

std::string PolarizedSelfAttention::extra_repr() const {
  std::ostringstream os;
  os << "channels=" << channels << ", variant=" << variant_names()[size_t(options.variant)];
  return os.str();
}

nn::AttentionSpec psa_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterFirstConv;
  s.child_name = "psa";
  s.help = "Polarized Self-Attention: channel-only and spatial-only gates, after the block's "
           "first conv (spec §8)";
  s.options = {{"variant", "paper_parallel",
                "paper_parallel, paper_sequential (paper / xmu), official_p, official_s "
                "(DeLightCMU PSA_p / PSA_s)"}};
  s.make = [](const nn::AttentionContext& c) {
    const std::string v = c.options.choice("variant", variant_names());
    PSAOptions o;
    for (size_t i = 0; i < variant_names().size(); ++i)
      if (variant_names()[i] == v) o.variant = PSAVariant(i);
    return std::make_shared<PolarizedSelfAttention>(c.channels, o);
  };
  return s;
}

}  // namespace fovea::attention
