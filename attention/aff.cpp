#include "attention/aff.h"

#include <sstream>

#include "engine/fovea.h"
#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/norm.h"
#include "layers/pool.h"

namespace fovea::attention {

namespace {

using Layers = std::vector<std::shared_ptr<nn::Module>>;

// conv1x1 (with bias), BN, ReLU, conv1x1, BN: C -> inter -> C, appended to `layers`.
void add_bottleneck(Layers& layers, int64_t c, int64_t inter) {
  layers.push_back(std::make_shared<nn::Conv2d>(c, inter, 1));
  layers.push_back(std::make_shared<nn::BatchNorm2d>(inter));
  layers.push_back(std::make_shared<nn::ReLU>());
  layers.push_back(std::make_shared<nn::Conv2d>(inter, c, 1));
  layers.push_back(std::make_shared<nn::BatchNorm2d>(c));
}

std::shared_ptr<nn::Sequential> branch(bool global, int64_t c, int64_t inter) {
  Layers layers;
  if (global) layers.push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1));  // global_att.0
  add_bottleneck(layers, c, inter);
  return std::make_shared<nn::Sequential>(layers);
}

// x W + y (1 - W): the convex mix of both fusions (AFF doubles it).
Tensor mix(const Tensor& x, const Tensor& y, const Tensor& w) { return x * w + y * (1.0 - w); }

void check_identity(const nn::Module& m, const Tensor& residual, const Tensor& identity) {
  FOVEA_CHECK(identity.shape() == residual.shape(), m.type_name(), ": the identity path (input2) ",
              identity.str(), " must have the residual branch's shape ", residual.str());
}

std::string repr(int64_t channels, int64_t r, int64_t inter) {
  std::ostringstream os;
  os << "channels=" << channels << ", r=" << r << ", inter=" << inter;
  return os.str();
}

int64_t option_r(const nn::AttentionContext& c) { return c.options.integer("r"); }

nn::AttentionSpec spec(nn::AttentionPosition position, const std::string& child,
                       const std::string& help) {
  nn::AttentionSpec s;
  s.position = position;
  s.child_name = child;
  s.help = help;
  s.options = {{"r", "4",
                "reduction: hidden width channels // r of both branches (the official "
                "ImageNet ResNet-50 uses 16)"}};
  return s;
}

}  // namespace

// ---- MS-CAM branches ------------------------------------------------------------------------

MSCAMBranches::MSCAMBranches(nn::Module& owner, const std::string& suffix, int64_t c,
                             int64_t inter)
    : local_att(owner.register_module("local_att" + suffix, branch(false, c, inter))),
      global_att(owner.register_module("global_att" + suffix, branch(true, c, inter))),
      owner_(owner) {}

Tensor MSCAMBranches::operator()(const Tensor& z) const {
  // batch_norm's own error would name neither the module nor why a 4-d input has one value.
  FOVEA_CHECK(!owner_.is_training() || z.size(0) > 1, owner_.type_name(),
              ": batch size 1 in training (input ", z.str(), "): the global branch's ",
              "BatchNorms see [N, C, 1, 1] after its pool, one value per channel, and need N > 1 ",
              "(spec §13); eval mode takes N = 1");
  return sigmoid((*local_att)(z) + (*global_att)(z));
}

// ---- the modules ----------------------------------------------------------------------------
// inter is checked (spec §21) before the branches are built from it.

MSCAM::MSCAM(int64_t c, const AFFOptions& o)
    : AttentionModule("MS_CAM"),
      channels(c),
      inter((check_reduction(c, o.r, "r"), c / o.r)),
      options(o),
      att(*this, "", c, inter) {}

Tensor MSCAM::forward(const Tensor& x) {
  check_input(x, channels);
  const Tensor w = att(x);
  record_map("weight", w);
  return x * w;
}

AFF::AFF(int64_t c, const AFFOptions& o)
    : FusionModule("AFF"),
      channels(c),
      inter((check_reduction(c, o.r, "r"), c / o.r)),
      options(o),
      att(*this, "", c, inter) {}

Tensor AFF::fuse(const Tensor& x, const Tensor& y) {
  check_input(x, channels);
  check_identity(*this, x, y);
  const Tensor w = att(x + y);
  record_map("weight", w);
  return 2.0 * mix(x, y, w);
}

IAFF::IAFF(int64_t c, const AFFOptions& o)
    : FusionModule("iAFF"),
      channels(c),
      inter((check_reduction(c, o.r, "r"), c / o.r)),
      options(o),
      att1(*this, "", c, inter),
      att2(*this, "2", c, inter) {}

Tensor IAFF::fuse(const Tensor& x, const Tensor& y) {
  check_input(x, channels);
  check_identity(*this, x, y);
  const Tensor w1 = att1(x + y);
  const Tensor w2 = att2(mix(x, y, w1));
  record_map("weight1", w1);
  record_map("weight2", w2);
  return mix(x, y, w2);
}

std::string MSCAM::extra_repr() const { return repr(channels, options.r, inter); }
std::string AFF::extra_repr() const { return repr(channels, options.r, inter); }
std::string IAFF::extra_repr() const { return repr(channels, options.r, inter); }

// ---- the slot -------------------------------------------------------------------------------

nn::AttentionSpec ms_cam_spec() {
  nn::AttentionSpec s = spec(nn::AttentionPosition::AfterLastNorm, "ms_cam",
                             "MS-CAM: Y = X * sigmoid(local + global branch) (spec §13)");
  s.make = [](const nn::AttentionContext& c) {
    return std::make_shared<MSCAM>(c.channels, AFFOptions{option_r(c)});
  };
  return s;
}

nn::AttentionSpec aff_spec() {
  nn::AttentionSpec s = spec(nn::AttentionPosition::ReplaceAdd, "fuse_mode",
                             "Attentional Feature Fusion: replaces the residual sum by "
                             "2 x W + 2 y (1 - W), W = MS-CAM(x + y) (spec §13)");
  s.make = [](const nn::AttentionContext& c) {
    return std::make_shared<AFF>(c.channels, AFFOptions{option_r(c)});
  };
  return s;
}

nn::AttentionSpec iaff_spec() {
  nn::AttentionSpec s = spec(nn::AttentionPosition::ReplaceAdd, "fuse_mode",
                             "iterative AFF: two MS-CAM stages with their own weights replace "
                             "the residual sum (spec §13)");
  s.make = [](const nn::AttentionContext& c) {
    return std::make_shared<IAFF>(c.channels, AFFOptions{option_r(c)});
  };
  return s;
}

}  // namespace fovea::attention
