// CA: Coordinate Attention (Hou et al., CVPR 2021; attention-spec §9).
//
// X [N, C, H, W], mip = max(8, C // reduction):
//   x_h = mean_w X                          [N, C, H, 1]
//   x_w = mean_h X, transposed              [N, C, W, 1]
//   y   = hswish(BN(conv1(cat(x_h, x_w, dim 2))))    [N, mip, H + W, 1]
//         one BN over both strips: its statistics pool N (H + W) positions per channel
//   f_h, f_w = split(y, [H, W], dim 2);  f_w transposed to [N, mip, 1, W]
//   a_h = sigmoid(conv_h(f_h))              [N, C, H, 1]
//   a_w = sigmoid(conv_w(f_w))              [N, C, 1, W]
//   Y   = X * a_w * a_h                     (broadcast)
// hswish(x) = x * (relu6(x + 3) / 6) built from relu6, as the official h_swish is, so the
// gradient at the kinks is autograd's through ReLU6 (0 at x = -3, 1 at x = 3; spec §0.9), not
// the fused hardswish's 1.5 at x = 3.
// Backward: autograd through the ops (each has its own gradient check).
//
// Names as houqb/CoordAttention coordatt.py: conv1 (1x1 inp -> mip, bias), bn1 (BatchNorm2d(mip),
// PyTorch defaults eps 1e-5, momentum 0.1), conv_h, conv_w (1x1 mip -> oup, bias). pool_h, pool_w
// and act hold no parameters and are plain ops here. Init as mbv2_ca.py, the network the
// official module was trained in: conv weights N(0, 2 / (k k out_channels)) (kaiming normal,
// fan_out), conv biases 0, BN 1 / 0 (coordatt.py alone would leave PyTorch's default).
// Option: reduction (32). Constraint (§21): oup == inp (Y = X * a needs the gate's channels to
// be X's); mip >= 8 by construction. The BN sees N (H + W) >= 2 values per channel, so batch
// size 1 trains (with H = W = 1 the two strips are equal: the BN output is its bias, finite).
// Maps: "h" = a_h [N, C, H, 1], "w" = a_w [N, C, 1, W].
#pragma once

#include "layers/attention_slot.h"
#include "layers/conv.h"
#include "layers/norm.h"

namespace fovea::attention {

struct CoordAttOptions {
  int64_t reduction = 32;
};

class CoordAtt : public nn::AttentionModule {
 public:
  CoordAtt(int64_t inp, int64_t oup, const CoordAttOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t inp, oup, mip;
  const CoordAttOptions options;
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::Conv2d> conv_h;
  std::shared_ptr<nn::Conv2d> conv_w;
};

// h-swish as the official h_swish computes it: x * (relu6(x + 3) / 6).
Tensor h_swish(const Tensor& x);

// "ca" in the slot (attention/register.h).
nn::AttentionSpec ca_spec();

}  // namespace fovea::attention
