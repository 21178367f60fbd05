// ECA: Efficient Channel Attention (Wang et al., CVPR 2020; attention-spec §4).
//
//   y = mean_hw X                                 [N, C]      viewed as [N, 1, C]
//   z_c = sum_{j=0..k-1} w_j y_{c + j - (k-1)/2}  [N, 1, C]   conv1d 1 -> 1, no bias, zero
//                                                             padding (k-1)/2 along the channel
//                                                             axis (spec §0.8);
//                                                             w "conv.weight" [1, 1, k]
//   a = sigmoid(z)                                [N, C]
//   Y = X * a[:, :, None, None]                   [N, C, H, W]
// Backward (autograd through the ops): conv1d's input and weight gradients, then GAP's 1/HW.
//
// Names as BangguWu/ECANet models/eca_module.py (eca_layer: avg_pool, conv, sigmoid; only
// conv.weight is a parameter); the reference ResNets call it "eca".
// Kernel size (spec §4 and §20 #4: the official bias-free module with the paper's adaptive k, and
// an override): k_size 0 (the default) takes the adaptive
//   t = int(|(log2 C + b) / gamma|),  k = t if t is odd else t + 1     (gamma 2, b 1)
// which gives k = 3 for C in [8, 128), 5 for [128, 2048), 7 at 2048. The paper's formula is kept
// without timm's k >= 3 clamp, so C < 8 gets k = 1 (a per-channel scale); k_size overrides it
// with any odd k >= 1 (the official models fix 3, 5, 5, 7 per stage). log2 is exact at powers of
// two, where the quotient can land on an integer and truncation would otherwise be fragile.
// Init: PyTorch's default, U(-1/sqrt(k), 1/sqrt(k)) (the ECA-ResNet init loop only touches
// Conv2d and BatchNorm2d). Train and eval do not differ. Map: "channel" = a, [N, C].
#pragma once

#include "layers/attention_slot.h"
#include "layers/conv.h"

namespace fovea::attention {

struct ECAOptions {
  int64_t k_size = 0;  // 0: adaptive from (channels, gamma, b)
  double gamma = 2;
  double b = 1;
};

class ECA : public nn::AttentionModule {
 public:
  ECA(int64_t channels, const ECAOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  // The paper's adaptive kernel size (odd, >= 1); gamma > 0.
  static int64_t adaptive_kernel_size(int64_t channels, double gamma = 2, double b = 1);

  const int64_t channels;
  const ECAOptions options;
  const int64_t k_size;  // the kernel size in use
  std::shared_ptr<nn::Conv1d> conv;
};

// "eca" in the slot (attention/register.h): its position, options and factory.
nn::AttentionSpec eca_spec();

}  // namespace fovea::attention
