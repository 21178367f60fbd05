// CBAM: Convolutional Block Attention Module (Woo et al., ECCV 2018; attention-spec §2).
//
// CBAM, the official module (§2a; Jongchan/attention-module MODELS/cbam.py):
//   channel gate   d_p = pool_p(X)                     [N, C], p in pool_types:
//                    avg  mean_hw X        max  max_hw X (gradient to the first arg-max)
//                    lp   sqrt(sum_hw X^2) (gradient 0 where the sum is 0)
//                    lse  m + log sum_hw exp(X - m), m = max_hw X (no 1/HW)
//                  a = sum_p mlp(d_p),  mlp(d) = W2 relu(W1 d + b1) + b2   (b2 once per pool)
//                  M_c = sigmoid(a),  X' = X * M_c[:, :, None, None]
//   spatial gate   P = cat(max_c X', mean_c X')        [N, 2, H, W]  (max first)
//   (no_spatial    M_s = sigmoid(BN(conv7x7(P)))       [N, 1, H, W]  (no bias; BN momentum 0.01)
//    skips it)     Y = X' * M_s
//   Names: ChannelGate.mlp.{1,3}.{weight,bias} (mlp = Flatten, Linear, ReLU, Linear),
//   SpatialGate.spatial.conv.weight, SpatialGate.spatial.bn.*. Init as model_resnet.py: linear
//   weights PyTorch's default, biases 0, the 7x7 conv kaiming_normal (fan_out), the spatial BN's
//   weight 0 (so M_s = 0.5 at init) and bias 0. Options: reduction_ratio (16), pool_types
//   (avg+max), no_spatial (false). Maps: "channel" = M_c [N, C], "spatial" = M_s [N, 1, H, W].
//
// CBAMResidual, the seed's variant (§2b; xmu CBAMBlock):
//   M_c = sigmoid(se(GMP(X)) + se(GAP(X))),  se = conv1x1(C -> C/r) relu conv1x1(C/r -> C), no bias
//   M_s = sigmoid([BN](conv_kxk(cat(max_c X', mean_c X')) (+ bias)))
//   Y = (X * M_c) * M_s + X
//   Names: ca.se.{0,2}.weight, sa.conv.{weight,bias}, sa.bn.* (with spatial_bn). Init: PyTorch's
//   default. Options: reduction (16), kernel_size (7, odd), spatial_bn (false), conv_bias (true).
//   Maps as CBAM.
// Backward: autograd through the ops (each has its own gradient check).
#pragma once

#include <string>
#include <vector>

#include "layers/attention_slot.h"
#include "layers/conv.h"
#include "layers/norm.h"
#include "layers/sequential.h"

namespace fovea::attention {

struct CBAMOptions {
  int64_t reduction_ratio = 16;
  std::vector<std::string> pool_types{"avg", "max"};
  bool no_spatial = false;
};

class CBAM : public nn::AttentionModule {
 public:
  CBAM(int64_t gate_channels, const CBAMOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t gate_channels;
  const CBAMOptions options;
  std::shared_ptr<nn::Sequential> mlp;         // ChannelGate.mlp
  std::shared_ptr<nn::Conv2d> spatial_conv;    // SpatialGate.spatial.conv (null: no_spatial)
  std::shared_ptr<nn::BatchNorm2d> spatial_bn;  // SpatialGate.spatial.bn

 private:
  Tensor pool(const Tensor& x, const std::string& type) const;  // [N, C]
};

struct CBAMResidualOptions {
  int64_t reduction = 16;
  int64_t kernel_size = 7;
  bool spatial_bn = false;
  bool conv_bias = true;
};

class CBAMResidual : public nn::AttentionModule {
 public:
  CBAMResidual(int64_t channel, const CBAMResidualOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t channel;
  const CBAMResidualOptions options;
  std::shared_ptr<nn::Sequential> se;   // ca.se
  std::shared_ptr<nn::Conv2d> conv;     // sa.conv
  std::shared_ptr<nn::BatchNorm2d> bn;  // sa.bn (null unless spatial_bn)
};

// The spatial descriptor both variants use: cat(max over C, mean over C) -> [N, 2, H, W].
Tensor channel_pool(const Tensor& x);

// "cbam" and "cbam_residual" in the slot (attention/register.h).
nn::AttentionSpec cbam_spec();
nn::AttentionSpec cbam_residual_spec();

}  // namespace fovea::attention
