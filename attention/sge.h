// SGE: Spatial Group-wise Enhance (Li et al., 2019; attention-spec §7).
//
//   x  = X.view(N G, C/G, H, W)                  groups of C/G sub-features
//   g  = mean_hw x                               [NG, C/G, 1, 1]  the group's mean feature
//   xn = sum_c (x * g)                           [NG, 1, H, W]    similarity to it per position
//   t  = xn.view(NG, HW);  t = t - mean_hw t
//   s  = sqrt(sum_hw t^2 / (HW - 1))             UNBIASED std (torch's Tensor.std, spec §0.5)
//   t  = t / (s + 1e-5)                          eps on the std, not the variance
//   t  = t.view(N, G, H, W) * weight + bias      weight, bias [1, G, 1, 1] ("weight", "bias")
//   M  = sigmoid(t)                              [N, G, H, W]
//   Y  = (x * M.view(NG, 1, H, W)).view(N, C, H, W)
// Backward: autograd through the ops (reduce.h: the std's gradient is 0 where s == 0, as
// PyTorch's masked std backward, so a constant map - xn equal at every position, e.g. a zero
// group - gives a finite gate sigmoid(bias) AND finite gradients; nothing is guarded beyond
// that, as in the reference).
//
// Names as implus/PytorchInsight resnet_sge.py (SpatialGroupEnhance: weight, bias; avg_pool and
// sig hold no parameters); the reference ResNets call it "sge". Options: groups (64, every block
// of SGE-ResNet), xmu_init (false). Init (spec §7 decision): official weight 0, bias 1, so the
// gate starts at sigmoid(1) ~ 0.731 everywhere; xmu_init (the seed / xmu SGE.py) sets bias 0,
// a gate of 0.5 (xmu's init_weights() touches no SGE parameter). Constraints (§21): C % G == 0
// at construction, HW > 1 at construction when the slot knows the spatial size and in every
// forward (HW = 1 divides by n - 1 = 0). Train and eval do not differ.
// Map: "spatial" = M, [N, G, H, W] (group g of sample n at [n, g]).
#pragma once

#include "layers/attention_slot.h"

namespace fovea::attention {

struct SGEOptions {
  int64_t groups = 64;
  bool xmu_init = false;  // bias 0 instead of 1
};

class SpatialGroupEnhance : public nn::AttentionModule {
 public:
  SpatialGroupEnhance(int64_t channels, const SGEOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t channels;
  const SGEOptions options;
  Tensor& weight;  // [1, G, 1, 1]
  Tensor& bias;    // [1, G, 1, 1]
};

// "sge" in the slot (attention/register.h): its position, options and factory.
nn::AttentionSpec sge_spec();

}  // namespace fovea::attention
