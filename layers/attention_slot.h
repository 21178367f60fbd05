// The attention slot of the residual blocks: a name -> factory registry that the ResNets ask
// for the module to place at each block (spec §0.11). "none" places nothing.
//
// Where a module sits depends on the module:
//   AfterLastNorm      SE, CBAM, ECA, SA, SGE, FcaNet, Triplet, GAM: on the residual branch after
//                      the block's last BatchNorm, before "+ identity"
//   AfterFirstConv     PSA: after the block's first conv (+ BN + ReLU)
//   ReplaceSecondConv  SK, GSA: instead of the block's second 3x3 conv (same channels, stride 1)
//   ReplaceAdd         AFF / iAFF: a FusionModule combines (residual branch, identity) instead
//                      of adding them
//   StageEnd           BAM: after every stage but the last
// Attention modules register themselves here (attention/ calls register_attention); a ResNet
// built with an unknown name fails with the list of known names.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace fovea::nn {

enum class AttentionPosition { AfterLastNorm, AfterFirstConv, ReplaceSecondConv, ReplaceAdd, StageEnd };

struct AttentionContext {
  int64_t channels = 0;  // channels of the tensor the module sees (and must return)
  int stage = 0;         // 1-based stage of the network
  int block = 0;         // 0-based block within the stage (0 for StageEnd)
};

// A module that combines two tensors of the same shape (ReplaceAdd). Call it through fuse_call
// so forward hooks (summaries, attention-map captures) see it.
class FusionModule : public Module {
 public:
  using Module::Module;
  virtual Tensor fuse(const Tensor& residual, const Tensor& identity) = 0;
  Tensor fuse_call(const Tensor& residual, const Tensor& identity);
};

struct AttentionSpec {
  AttentionPosition position = AttentionPosition::AfterLastNorm;
  std::string child_name;  // the module's name inside a block, as the reference code names it
  std::function<std::shared_ptr<Module>(const AttentionContext&)> make;
};

// Registers (or replaces) `name`. "none" is reserved.
void register_attention(const std::string& name, AttentionSpec spec);
// The spec for `name`, or null for "none"; an unknown name is an error listing the known ones.
const AttentionSpec* find_attention(const std::string& name);
std::vector<std::string> attention_names();  // "none" first, then the registered ones, sorted

}  // namespace fovea::nn
