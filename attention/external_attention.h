// External Attention (Guo et al., "Beyond Self-attention: External Attention using Two Linear
// Layers for Visual Tasks", arXiv 2105.02358; attention-spec §16). Attention against two small
// learned memories M_k [S, d] and M_v [d, S] instead of the input itself: linear in the number
// of positions. Three forms, all with the DOUBLE NORMALISATION (softmax over the token / pixel
// axis, then L1 over the memory axis; §23.8: the axes are easy to swap):
//
//   L1norm_S(P) = P / (eps + sum_S P)        (per token, over the S memory units)
//
// "external" = ExternalAttentionBlock, the official vision block (§16b, EANet model_torch.py
// External_attention), X [N, C, H, W]:
//   x = conv1(X).view(N, C, HW)            conv1: 1x1 C -> C WITH bias        [N, C, HW]
//   A = L1norm_k(softmax_HW(linear_0 x))   linear_0: Conv1d C -> k, 1x1, no bias, eps 1e-9
//                                                                               [N, k, HW]
//   Y = relu(BN(conv2(linear_1 A)) + X)    linear_1: Conv1d k -> C, no bias; conv2: 1x1 C -> C
//                                          no bias; BN momentum 0.1             [N, C, H, W]
//   Names: conv1.{weight,bias}, linear_0.weight [k, C, 1], linear_1.weight [C, k, 1],
//   conv2.0.weight, conv2.1.{weight,bias,running_mean,running_var,num_batches_tracked}.
//   Init (§16b): 2-D convs N(0, 2 / (kh kw out)), 1-D convs N(0, 2 / (kernel out)), conv1 bias
//   PyTorch's default, BN 1 / 0. linear_1 = linear_0 transposed at init (the reference's
//   shared storage ends with linear_1's re-init, std sqrt(2 / C), in both); trained
//   independently (§16b: .cuda() breaks the sharing). Option: k (64).
//   The block holds its own residual and ReLU over its input, as the EANet head: in a ResNet
//   it sits after the last BN, so it returns relu(BN(...) + branch) and the block then adds its
//   identity.
//
// "external_tokens" = ExternalAttention, the xmu token form (§16a), F [N, L, d]:
//   A = L1norm_S(softmax_L(F mk^T))        mk: Linear d -> S, no bias           [N, L, S]
//   Y = A mv^T                             mv: Linear S -> d, no bias           [N, L, d]
//   Names mk.weight [S, d], mv.weight [d, S]; init N(0, 0.001^2) (xmu's init_weights).
//   Options: S (64), eps (0 as xmu: A / sum_S A; 1e-9 is the official's).
//
// "external_mh" = MultiHeadExternalAttention, the EAMLP / T2T-ViT block attention (§16c; EANet
// multi_head_attention_torch.py and EAMLP/models/transformer_block.py, class Attention),
// F [N, L, D], H' = coef num_heads heads of width D' = coef D / H' = D / num_heads, k = 256 //
// coef memory units:
//   x = trans_dims(F).view(N, L, H', D').permute(0, 2, 1, 3)   Linear D -> coef D  [N, H', L, D']
//   A = attn_drop(L1norm_k(softmax_L(linear_0 x)))  Linear D' -> k, eps 1e-9       [N, H', L, k]
//   Y = proj_drop(proj(linear_1(A).permute(0, 2, 1, 3).reshape(N, L, coef D)))     [N, L, D]
//   linear_0 / linear_1 are shared across the heads. Every Linear has a bias; PyTorch's
//   default init. Names trans_dims.*, linear_0.*, linear_1.*, proj.*.
//   Options: num_heads (8), coef (4), attn_drop (0), proj_drop (0). §21: D % num_heads == 0
//   (the view needs H' | coef D, and coef num_heads | coef D iff num_heads | D); k >= 1 needs
//   coef <= 256.
//
// The token forms take tokens [N, L, D] (attention_probe's 3-D input) or a feature map
// [N, D, H, W], read as HW tokens of width D in row-major order (token h W + w) and returned as
// [N, D, H, W]: that is how they sit in a ResNet, after the block's last BN.
//
// Backward (autograd through the ops). With P the softmax, s = eps + sum_S P, A = P / s, the L1
// step gives dP = dA / s - sum_S(dA P) / s^2; the softmax gives dlogits = P (dP - sum_tokens(dP
// P)) over the token axis; the linear maps give dM = sum dlogits x^T (memories) and dx = M^T
// dlogits; conv1 / trans_dims / BN / ReLU / dropout by their own rules. The memories' gradients
// sum over every sample, token and head. Three biases are dead, in the references too: conv1's
// (vision block), trans_dims' and linear_0's (multi-head) add to the logits a constant along the
// token axis, which the softmax over that axis removes: their gradients are 0 (to rounding).
//
// Map (each form): "attention" = A, the doubly normalised map (before attn_drop): [N, k, HW]
// (vision block), [N, L, S] (tokens), [N, H', L, k] (multi-head). Every map is linear in the
// positions (no L x L matrix), so no attention/memory.h check: the allocator refuses what
// cannot fit like any activation.
#pragma once

#include <memory>
#include <string>

#include "layers/attention_slot.h"
#include "layers/conv.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/sequential.h"

namespace fovea::attention {

class ExternalAttentionBlock : public nn::AttentionModule {
 public:
  explicit ExternalAttentionBlock(int64_t channels, int64_t k = 64);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t channels, k;
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::Conv1d> linear_0, linear_1;
  std::shared_ptr<nn::Sequential> conv2;  // conv2.0 Conv2d, conv2.1 BatchNorm2d
};

struct ExternalAttentionOptions {
  int64_t S = 64;
  double eps = 0;  // xmu's: none
};

class ExternalAttention : public nn::AttentionModule {
 public:
  explicit ExternalAttention(int64_t d_model, const ExternalAttentionOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t d_model;
  const ExternalAttentionOptions options;
  std::shared_ptr<nn::Linear> mk, mv;
};

struct MultiHeadExternalAttentionOptions {
  int64_t num_heads = 8;
  int64_t coef = 4;
  double attn_drop = 0;
  double proj_drop = 0;
};

class MultiHeadExternalAttention : public nn::AttentionModule {
 public:
  explicit MultiHeadExternalAttention(int64_t dim,
                                      const MultiHeadExternalAttentionOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t dim;
  const MultiHeadExternalAttentionOptions options;
  const int64_t heads, head_dim, k;  // H' = coef num_heads, D' = dim / num_heads, 256 // coef
  std::shared_ptr<nn::Linear> trans_dims, linear_0, linear_1, proj;
  std::shared_ptr<nn::Dropout> attn_drop, proj_drop;
};

// "external" (the vision block), "external_tokens" and "external_mh" in the slot
// (attention/register.h).
nn::AttentionSpec external_spec();
nn::AttentionSpec external_tokens_spec();
nn::AttentionSpec external_mh_spec();

}  // namespace fovea::attention
