#include "attention/register.h"

#include <mutex>

#include "attention/cbam.h"
#include "attention/se.h"

namespace fovea::attention {

namespace {

using nn::AttentionContext;
using nn::AttentionPosition;
using nn::AttentionSpec;

const std::vector<std::string> kPoolTypes{"avg", "max", "lp", "lse"};

AttentionSpec se_spec() {
  AttentionSpec s;
  s.position = AttentionPosition::AfterLastNorm;
  s.child_name = "se";
  s.help = "Squeeze-and-Excitation (spec §1)";
  s.options = {{"reduction", "16", "hidden width channels // reduction"},
               {"bias", "false", "biases in both FC layers (true: the Caffe / timm models)"}};
  s.make = [](const AttentionContext& c) {
    SEOptions o;
    o.reduction = c.options.integer("reduction");
    o.bias = c.options.flag("bias");
    return std::make_shared<SE>(c.channels, o);
  };
  return s;
}

AttentionSpec cbam_spec() {
  AttentionSpec s;
  s.position = AttentionPosition::AfterLastNorm;
  s.child_name = "cbam";
  s.help = "CBAM, official: channel gate then 7x7 spatial gate with BN (spec §2a)";
  s.options = {{"reduction_ratio", "16", "hidden width of the shared MLP: channels // ratio"},
               {"pool_types", "avg+max", "channel descriptors, '+'-separated: avg, max, lp, lse"},
               {"no_spatial", "false", "channel gate only"}};
  s.make = [](const AttentionContext& c) {
    CBAMOptions o;
    o.reduction_ratio = c.options.integer("reduction_ratio");
    o.pool_types = c.options.list("pool_types", kPoolTypes);
    o.no_spatial = c.options.flag("no_spatial");
    return std::make_shared<CBAM>(c.channels, o);
  };
  return s;
}

AttentionSpec cbam_residual_spec() {
  AttentionSpec s;
  s.position = AttentionPosition::AfterLastNorm;
  s.child_name = "cbam";
  s.help = "CBAM, the seed's residual variant: Y = CBAM(X) + X (spec §2b)";
  s.options = {{"reduction", "16", "hidden width of the 1x1-conv MLP: channels // reduction"},
               {"kernel_size", "7", "spatial conv kernel (odd)"},
               {"spatial_bn", "false", "BatchNorm after the spatial conv"},
               {"conv_bias", "true", "bias in the spatial conv"}};
  s.make = [](const AttentionContext& c) {
    CBAMResidualOptions o;
    o.reduction = c.options.integer("reduction");
    o.kernel_size = c.options.integer("kernel_size");
    o.spatial_bn = c.options.flag("spatial_bn");
    o.conv_bias = c.options.flag("conv_bias");
    return std::make_shared<CBAMResidual>(c.channels, o);
  };
  return s;
}

std::vector<std::pair<std::string, AttentionSpec>> builtin_specs() {
  return {{"cbam", cbam_spec()}, {"cbam_residual", cbam_residual_spec()}, {"se", se_spec()}};
}

}  // namespace

void register_all() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (auto& [name, spec] : builtin_specs()) nn::register_attention(name, std::move(spec));
  });
}

std::vector<std::string> builtin_names() {
  std::vector<std::string> names;
  for (const auto& entry : builtin_specs()) names.push_back(entry.first);
  return names;
}

}  // namespace fovea::attention
