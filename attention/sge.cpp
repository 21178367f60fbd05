#include "attention/sge.h"

#include <sstream>

#include "engine/fovea.h"

namespace fovea::attention {

namespace {

constexpr double kStdEps = 1e-5;  // added to the std (resnet_sge.py)

// Runs before the parameters are shaped by G.
int64_t checked_groups(int64_t c, int64_t g) {
  FOVEA_CHECK(g >= 1, "SpatialGroupEnhance: groups ", g, " must be >= 1");
  FOVEA_CHECK(c >= 1 && c % g == 0, "SpatialGroupEnhance: channels ", c,
              " not divisible by groups=", g, " (spec §21)");
  return g;
}

void check_spatial(int64_t h, int64_t w) {
  FOVEA_CHECK(h * w > 1, "SpatialGroupEnhance: H x W = ", h, " x ", w,
              " must hold more than one position (the unbiased std divides by HW - 1; spec §21)");
}

}  // namespace

SpatialGroupEnhance::SpatialGroupEnhance(int64_t c, const SGEOptions& o)
    : AttentionModule("SpatialGroupEnhance"),
      channels(c),
      options(o),
      weight(register_parameter("weight", zeros({1, checked_groups(c, o.groups), 1, 1}))),
      bias(register_parameter("bias", full({1, o.groups, 1, 1}, o.xmu_init ? 0.0 : 1.0))) {}

Tensor SpatialGroupEnhance::forward(const Tensor& x) {
  check_input(x, channels);
  const int64_t n = x.size(0), g = options.groups, h = x.size(2), w = x.size(3);
  check_spatial(h, w);
  const Tensor xg = x.reshape({n * g, channels / g, h, w});
  const Tensor xn = sum(xg * mean(xg, {2, 3}, true), {1}, true);  // [NG, 1, H, W]
  Tensor t = xn.reshape({n * g, h * w});
  t = t - mean(t, {1}, true);
  t = t / (stddev(t, {1}, 1, true) + kStdEps);
  const Tensor m = sigmoid(t.reshape({n, g, h, w}) * weight + bias);
  record_map("spatial", m);
  return (xg * m.reshape({n * g, 1, h, w})).reshape({n, channels, h, w});
}

std::string SpatialGroupEnhance::extra_repr() const {
  std::ostringstream os;
  os << "channels=" << channels << ", groups=" << options.groups;
  if (options.xmu_init) os << ", xmu_init=True";
  return os.str();
}

nn::AttentionSpec sge_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "sge";
  s.help = "Spatial Group-wise Enhance: per-group spatial gate from a normalised similarity "
           "(spec §7)";
  s.options = {{"groups", "64", "groups G (channels % G == 0)"},
               {"xmu_init", "false", "bias init 0 (xmu / seed) instead of the official 1"}};
  s.make = [](const nn::AttentionContext& c) {
    SGEOptions o;
    o.groups = c.options.integer("groups");
    o.xmu_init = c.options.flag("xmu_init");
    if (c.height > 0 && c.width > 0) check_spatial(c.height, c.width);
    return std::make_shared<SpatialGroupEnhance>(c.channels, o);
  };
  return s;
}

}  // namespace fovea::attention
