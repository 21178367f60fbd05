// SA: Shuffle Attention (SA-Net, Zhang & Yang, ICASSP 2021; attention-spec §6).
//
// X [N, C, H, W], G groups, c' = C / (2G):
//   x        = X.reshape(N G, C/G, H, W)          group g holds channels [g C/G, (g+1) C/G)
//   x0, x1   = chunk(x, 2, dim 1)                  [N G, c', H, W] each
//   channel  a_c = sigmoid(cweight * mean_hw x0 + cbias)        [N G, c', 1, 1]
//            x0' = x0 * a_c
//   spatial  a_s = sigmoid(sweight * GN(x1) + sbias)           [N G, c', H, W]
//            x1' = x1 * a_s     GN: GroupNorm(c', c'), groups == channels, so each map is
//                               standardised over its own H x W (biased variance, eps 1e-5)
//   out      = cat(x0', x1', dim 1).reshape(N, C, H, W)
//   Y        = shuffle(out, 2): reshape [N, 2, C/2, H, W], permute (0, 2, 1, 3, 4), reshape back;
//              Y[:, j] = out[:, (j mod 2) C/2 + j div 2]
// The 6c' parameters are shared by every group and sample (hence the [1, c', 1, 1] shapes).
// Backward: autograd through the ops (each has its own gradient check).
//
// Names and init as the official sa_layer (wofmanaf/SA-Net models/sa_resnet.py): cweight 0,
// cbias 1, sweight 0, sbias 1 ([1, c', 1, 1] each), gn.weight 1, gn.bias 0 (the GN default and
// the official ResNet's GN init alike). Both gates therefore start at sigmoid(1) = 0.731.
// Option: groups (64, the official default; xmu's is 8). Constraint (§21): C % (2G) == 0, so
// the CIFAR widths 16/32/64 need G <= C/2. No BatchNorm: train and eval are the same.
// Maps, in the shapes the forward computes them: "channel" = a_c [N G, c', 1, 1],
// "spatial" = a_s [N G, c', H, W].
#pragma once

#include "layers/attention_slot.h"
#include "layers/norm.h"

namespace fovea::attention {

struct ShuffleAttentionOptions {
  int64_t groups = 64;
};

class ShuffleAttention : public nn::AttentionModule {
 public:
  ShuffleAttention(int64_t channel, const ShuffleAttentionOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t channel;
  const ShuffleAttentionOptions options;
  Tensor& cweight;  // [1, c', 1, 1]
  Tensor& cbias;
  Tensor& sweight;
  Tensor& sbias;
  std::shared_ptr<nn::GroupNorm> gn;  // GroupNorm(c', c')
};

// "sa" in the slot (attention/register.h).
nn::AttentionSpec sa_spec();

}  // namespace fovea::attention
