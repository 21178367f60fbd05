// Triplet Attention (Misra et al., WACV 2021; attention-spec §12).
//
// One gate G(T) = T * sigmoid(BN(conv7x7(ZPool(T)))) for T [N, A, B, D]:
//   ZPool(T) = cat(max_1 T, mean_1 T)   [N, 2, B, D]  (max first; gradient to the first arg-max)
//   conv 7x7, 2 -> 1, pad 3, no bias    [N, 1, B, D]  (zero padding, also along a channel axis)
//   BN(1), eps 1e-5, momentum 0.01 (PyTorch convention: the new batch weighs 0.01)
// applied three times, on three rotations of X [N, C, H, W]:
//   C-W  T1 = X.permute(0,2,1,3) [N, H, C, W]: ZPool reduces H, the conv runs over (C, W)
//        O1 = G_cw(T1).permute(0,2,1,3)
//   H-C  T2 = X.permute(0,3,2,1) [N, W, H, C]: ZPool reduces W, the conv runs over (H, C)
//        O2 = G_hc(T2).permute(0,3,2,1)
//   H-W  O3 = G_hw(X), a CBAM spatial gate (reduces C)
//   Y = (O1 + O2 + O3) / 3;   no_spatial: Y = (O1 + O2) / 2
// Since a gate only scales T, the forward pools X directly along the reduced axis and rotates
// only the small pooled tensor: O1 = X * s_cw with s_cw [N, C, 1, W] (the gate's [N, 1, C, W]
// rotated back), and likewise s_hc [N, C, H, 1], s_hw [N, 1, H, W]. Same values as the
// reference's rotate-gate-rotate, without the three full-size permuted copies.
// Backward: autograd through the ops (amax, mean, cat, permute, conv2d, batch_norm, sigmoid).
//
// Names: the version MODELS/resnet.py imports (landskape-ai/triplet-attention
// MODELS/triplet_attention.py): ChannelGateH (the C-W gate, it pools H), ChannelGateW (the H-C
// gate, it pools W), SpatialGate (H-W), each ".spatial.conv.weight" [1, 2, 7, 7] and
// ".spatial.bn.*". The root triplet_attention.py calls the same gates cw, hc, hw; the maps use
// those names because they say which plane each gate spans.
// Options: no_spatial (false). gate_channels only checks the input; the kernel is fixed at 7
// and the reference's reduction_ratio / pool_types are unused (spec §12).
// Init (MODELS/resnet.py's state-dict loop): conv kaiming_normal fan_out, BN gamma 1, beta 0.
// That loop zeroes the gamma of keys containing "SpatialGate"; the spec recommends gamma 1 for
// all gates (the root module) with a flag for the released ResNet-50 training code:
// zero_spatial_gamma (false) sets SpatialGate's gamma to 0, so its gate starts at 0.5.
// Maps: "cw" [N, C, 1, W], "hc" [N, C, H, 1], "hw" [N, 1, H, W] (absent with no_spatial): the
// gates' sigmoids rotated back, so each broadcasts against X and Y = X * (cw + hc + hw) / 3.
#pragma once

#include "layers/attention_slot.h"
#include "layers/conv.h"
#include "layers/norm.h"

namespace fovea::attention {

struct TripletOptions {
  bool no_spatial = false;
  bool zero_spatial_gamma = false;
};

class TripletAttention : public nn::AttentionModule {
 public:
  TripletAttention(int64_t gate_channels, const TripletOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  // One gate's BasicConv (conv 7x7 2 -> 1 without bias, BN(1) momentum 0.01, no ReLU).
  struct Gate {
    std::shared_ptr<nn::Conv2d> conv;
    std::shared_ptr<nn::BatchNorm2d> bn;
  };

  const int64_t gate_channels;
  const TripletOptions options;
  Gate channel_gate_h;  // ChannelGateH: the C-W gate
  Gate channel_gate_w;  // ChannelGateW: the H-C gate
  Gate spatial_gate;    // SpatialGate: the H-W gate (null members with no_spatial)

 private:
  Gate make_gate(const std::string& name);
  static Tensor gate(const Gate& g, const Tensor& zpool);  // sigmoid(BN(conv(Z)))
};

// "triplet" in the slot (attention/register.h).
nn::AttentionSpec triplet_spec();

}  // namespace fovea::attention
