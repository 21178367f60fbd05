// GAM: Global Attention Mechanism (Liu, Shao & Hoffmann, arXiv 2112.05561; attention-spec §10).
//
//   channel   P  = X.permute(0,2,3,1)                          [N, H, W, C]  (no pooling)
//             Mc = W2 relu(W1 P + b1) + b2, per pixel          [N, H, W, C], permuted back
//             X1 = X * sigmoid(Mc)     (channel_sigmoid=false: X * Mc, the seed's)
//   spatial   S  = relu(BN1(conv7x7(X1; C -> C/r, groups g)))  [N, C/r, H, W]
//             (shuffle=mid: S = shuffle_g(S))
//             Ms = sigmoid(BN2(conv7x7(S; C/r -> C, groups g)))  [N, C, H, W]
//             (shuffle=out: Ms = shuffle_g(Ms))
//             Y  = X1 * Ms
//   shuffle_g(T) = T.view(N, g, C'/g, H, W).transpose(1, 2).reshape(N, C', H, W) (ShuffleNet's)
// Backward: autograd through the ops (permute, linear, relu, conv2d, batch_norm, sigmoid, views).
//
// Names as the seed (001, xmu-style GAM_Attention) and the later copies with the channel sigmoid:
// channel_attention = Sequential(Linear(C, C/r), ReLU, Linear(C/r, C))
// -> channel_attention.{0,2}.*,
// spatial_attention = Sequential(Conv2d(C, C/r, 7, pad 3), BN, ReLU, Conv2d(C/r, C, 7, pad 3), BN)
// -> spatial_attention.{0,3}.{weight,bias}, spatial_attention.{1,4}.* (the shuffle is no layer,
// so the indices stay as the ungrouped module's). dengbuqi/GAM_Pytorch CAM.py has the same
// layers as linear1/linear2/conv1/conv2/norm1/norm2 but replicate padding and no channel
// sigmoid; the spec's math (zero padding, sigmoid adopted) is the seed's plus the sigmoid.
// Options: rate (4; C/r = C // rate, the seed's int(C / rate)), channel_sigmoid (true: the
// spec's decision, §20 #10; false: seed parity), spatial_groups (1: plain convs; g > 1: both
// 7x7 convs grouped, the paper's ResNet-50 setting, whose group count no code gives), shuffle
// (out, the default: on the sigmoid map, as the widely copied GAM_Attention(group=True) code,
// which shuffles by 4 = its rate = its groups; mid: between the two grouped convs, so the
// second sees every group of the first, as in ShuffleNet, an option no reference code has;
// none). out_channels = C always (the slot).
// Init: PyTorch's default (Linear / Conv2d kaiming_uniform(a=sqrt 5) weights and uniform
// biases, BN 1 / 0, momentum 0.1).
// Maps: "channel" = sigmoid(Mc) (Mc without the sigmoid) [N, C, H, W], "spatial" = Ms
// [N, C, H, W] (after the out shuffle).
// Cost: the two 7x7 convs hold 2 * 49 * C^2 / (r g) weights (6.4 M at C = 512, r = 4, g = 1).
#pragma once

#include <string>

#include "layers/attention_slot.h"
#include "layers/sequential.h"

namespace fovea::attention {

struct GAMOptions {
  int64_t rate = 4;
  bool channel_sigmoid = true;
  int64_t spatial_groups = 1;
  std::string shuffle = "out";  // out, mid, none (only used when spatial_groups > 1)
};

class GAM : public nn::AttentionModule {
 public:
  GAM(int64_t in_channels, const GAMOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t in_channels;
  const GAMOptions options;
  std::shared_ptr<nn::Sequential> channel_attention;  // Linear, ReLU, Linear
  std::shared_ptr<nn::Sequential> spatial_attention;  // Conv2d, BN, ReLU, Conv2d, BN

  // ShuffleNet's channel shuffle of [N, C, H, W], C % groups == 0: input channel
  // j * (C / groups) + i becomes output channel i * groups + j.
  static Tensor channel_shuffle(const Tensor& x, int64_t groups);

 private:
  // Where options.shuffle puts the channel shuffle (both false: none, or one group), decided at
  // construction rather than by string compares in every forward.
  const bool shuffle_mid_, shuffle_out_;
};

// "gam" in the slot (attention/register.h).
nn::AttentionSpec gam_spec();

}  // namespace fovea::attention
