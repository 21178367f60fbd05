// BA2M: Batch Aware Attention Module (Cheng, Li, Wu, Ngan, arXiv 2103.15099, 2021; spec §15).
//
// EXPERIMENTAL, UNVERIFIED. No public code exists and only the paper's abstract could be read:
// each sample's "sample-wise attention representation" (SAR) fuses a channel, a local spatial
// and a global spatial attention map; the SARs of the whole batch go through a normalisation
// that gives one weight per sample, and the weights rescale the samples' features. Everything
// below that is the spec's engineering reconstruction, and every choice in it is an option. Do
// not report numbers from it as the paper's method.
//
// Forward, X [N, C, H, W], h = C // r, act = sigmoid (or none), each part optional:
//   channel  A_c = act(W_c2 relu(W_c1 mean_hw X + b_c1) + b_c2)                [N, C, 1, 1]
//            SE-style MLP: "channel.0" Linear C -> h, "channel.2" Linear h -> C
//   local    Z = relu(BN(conv1x1_{C->h}(X)))                                  [N, h, H, W]
//            Z = relu(BN(conv3x3_{h->h}(Z))), dilated_convs times, dilation d, padding d
//            A_l = act(conv1x1_{h->1}(Z))                                      [N, 1, H, W]
//            BAM-style spatial gate: "local.0" conv, "local.1" BN, then every 3 indices one
//            dilated conv and its BN, the last index the final conv
//   global   p = softmax_hw(conv1x1_{C->1}(X)), no bias (softmax_hw cancels it) [N, 1, H, W]
//            z = sum_hw X p  (attention pooling into a C vector)              [N, C]
//            A_g = act(T(z))                                                   [N, C, 1, 1]
//            GC-style (GCNet's context modelling): "global.conv_mask", T = "global.transform":
//              mlp: Linear C -> h, ReLU, Linear h -> C               ("global.transform.0", .2)
//              gc:  Linear C -> h, LayerNorm(h), ReLU, Linear h -> C (GCNet's channel_add_conv
//                   as Linears on the pooled vector; .0, .1, .3)
//   score    SAR_i = A_c + A_l + A_g broadcast to [C, H, W];  s_i = mean_chw SAR_i      [N]
//            (computed as the sum of the parts' means, which is the same number)
//   weight   w = softmax_i(s / temperature)          over the BATCH axis               [N]
//   factor   f_i = N w_i (n_times_w: the mean factor is 1)  or  1 + w_i (one_plus_w)   [N]
//   Y_i = X_i f_i
// In eval mode eval_policy decides: "batch" applies the formula to the eval batch (a sample's
// output depends on the other samples); "identity" returns Y = X for both reweightings, with
// w = 1/N and f = 1 (under n_times_w that IS the formula with equal scores; under one_plus_w
// the formula would give 1 + 1/N, a scale that depends on the eval batch size, so identity drops
// the 1/N: one_plus_w scales the features by 1 + w_i in training, 1 + 1/N on average, and by 1
// at inference). Identity eval computes nothing unless maps are recorded; then the sub-maps and
// scores are computed without autograd.
// With sigmoid maps each score is a mean over C H W of values in (0, 1): the scores of a batch
// lie close together and w stays near 1/N (the fixtures' weights are 1/3 +- 0.01 at N = 3), so
// the module starts near the identity; a lower temperature sharpens it.
//
// Backward (autograd through the ops): with g_j = sum_chw dY_j X_j and k = N (n_times_w) or
// 1 (one_plus_w),  dX_i = dY_i f_i + (the parts' backward of ds_i),
//   ds_i = k w_i (g_i - sum_j w_j g_j) / temperature   (the batch softmax couples the samples),
// and ds_i reaches each map as ds_i / (numel of the map's per-sample part) at every element,
// then the sigmoid, MLP, conv, BN, softmax_hw and pooling rules. Under identity eval dX = dY and
// the parameters get no gradient.
//
// Options (defaults): parts = channel+local+global (any '+'-list, order irrelevant), r = 16
// (h for all three parts), dilation = 4 and dilated_convs = 2 (local part, BAM's), global_transform
// = mlp | gc, activation = sigmoid | none, temperature = 1.0 (> 0), reweight = n_times_w |
// one_plus_w, eval_policy = identity | batch. Constraints: C // r >= 1 (§21); gc needs h >= 2 (a
// LayerNorm over one value is constant); a training forward with the local part needs
// N H W > 1 (its BatchNorms). Training with N = 1 is allowed: w = 1, so Y = X (n_times_w) or
// 2 X (one_plus_w), and only the local BNs' running statistics learn from that batch.
// Init: the spec gives none; PyTorch's default for every Linear and conv (weights and biases),
// BN and LayerNorm weight 1, bias 0.
// Gradients that are 0 by structure: the batch softmax is blind to a shift shared by every
// sample's score, so with activation=none the last bias of each part (which adds the same
// constant to every score) gets none, as does, in training, each local conv bias right before a
// BatchNorm.
// Maps: "channel" A_c [N, C, 1, 1], "local" A_l [N, 1, H, W], "global_mask" p [N, 1, H, W],
// "global" A_g [N, C, 1, 1] (the parts that are on), "score" s [N], "weight" w [N], "factor"
// f [N].
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/attention_slot.h"
#include "layers/conv.h"
#include "layers/sequential.h"

namespace fovea::attention {

struct BA2MOptions {
  std::vector<std::string> parts{"channel", "local", "global"};
  int64_t r = 16;
  int64_t dilation = 4;
  int64_t dilated_convs = 2;
  std::string global_transform = "mlp";  // mlp | gc
  std::string activation = "sigmoid";    // sigmoid | none
  double temperature = 1.0;
  std::string reweight = "n_times_w";    // n_times_w | one_plus_w
  std::string eval_policy = "identity";  // identity | batch
};

class BA2M : public nn::AttentionModule {
 public:
  BA2M(int64_t channels, const BA2MOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t channels;
  const BA2MOptions options;
  // Null where the part is off.
  std::shared_ptr<nn::Sequential> channel, local, global_transform;
  std::shared_ptr<nn::Conv2d> conv_mask;

 private:
  Tensor score(const Tensor& x);  // s [N], recording the parts' maps
  const bool sigmoid_, n_times_w_, batch_eval_;  // the string options, read once
};

// "ba2m" in the slot (attention/register.h).
nn::AttentionSpec ba2m_spec();

}  // namespace fovea::attention
