// MHSA: multi-head scaled dot-product self-attention over the H*W positions of a feature map,
// ViT style (Dosovitskiy et al., ICLR 2021; Vaswani et al., NeurIPS 2017; attention-spec §18,
// timm layers/attention.py Attention and models/vision_transformer.py Block).
//
// X [N, C, H, W], D = C, L = H W, h = heads, hd = D / h, scale = hd^-0.5:
//   T = X.flatten(2).transpose(1, 2)              [N, L, D]  tokens row-major (H, then W)
//   T = T + pos_embed                             [N, L, D]  (pos_embed=true; [1, L, D])
// attention(T), as timm's Attention (its explicit, non-fused path):
//   [Q, K, V] = (T W_qkv^T (+ b_qkv)).view(N, L, 3, h, hd).permute(2, 0, 3, 1, 4)
//                                                 3 x [N, h, L, hd]
//   S = (Q scale) K^T                             [N, h, L, L]   (q scaled before the matmul)
//   P = softmax(S) over the last axis (keys), then attn_drop(P)
//   O = (P V).transpose(1, 2).reshape(N, L, D)    [N, L, D]
//   attention(T) = proj_drop(O W_proj^T + b_proj)
// form=plain:  T = attention(T)
// form=block:  the pre-norm ViT block (no LayerScale, no DropPath):
//   T = T + attention(LN1(T));  T = T + MLP(LN2(T)),
//   MLP(U) = drop(fc2(drop(GELU(fc1(U))))), fc1 D -> 4D, fc2 4D -> D, GELU the exact erf form,
//   drop = proj_drop (timm's Block gives its Mlp drop=proj_drop); LayerNorm eps 1e-6.
// Y = T.transpose(1, 2).reshape(N, C, H, W).
// Backward (autograd through the ops): dO = (dY tokens) W_proj, dP = dO_h V^T, dV = P^T dO_h,
// dS = P * (dP - sum_keys(dP * P)) (softmax), dQ = scale dS K, dK = scale dS^T Q, then the qkv
// linear's rules back to T (dT also collects the residual paths of the block form, LayerNorm's
// backward, and dpos_embed = sum over N of dT). Self-attention without pos_embed is
// permutation-equivariant over the tokens.
//
// Names as timm. plain: [pos_embed,] qkv.weight, [qkv.bias,] proj.weight, proj.bias (the
// Attention module's). block: [pos_embed,] norm1.*, attn.qkv.*, attn.proj.*, norm2.*,
// mlp.fc1.*, mlp.fc2.* (the Block's).
// Options: heads (8, the module's default; ViT-B 12), qkv_bias (false, timm Attention's
// default; the VisionTransformer model passes true), form (plain), pos_embed (false),
// attn_drop (0), proj_drop (0). Spec §20 #18 adopts timm over xmu's seed layer: no 0.1 dropout
// on P by default, and heads split D (qkv D -> 3D, head_dim D / h), not xmu's h x d_k = 8 x 512
// wide projections.
// Init as timm's ViT (init_weights_vit_timm): every Linear weight trunc_normal(0, 0.02) cut at
// +-2 absolute (100 std: in effect N(0, 0.02^2); fovea's trunc_normal_ draws by inverse CDF in
// float64, one uniform per element), biases 0; LayerNorm 1 / 0; pos_embed trunc_normal(0, 0.02).
// Constraints (spec §21): C % heads == 0; pos_embed needs H x W when built (the input must then
// have that size).
// Map: "attention" = P before attn_drop, per head, [N, heads, L, L].
//
// Memory. S, P and their gradients are [N, h, L, L]: 64x64 inputs give L^2 = 16.8 M entries per
// sample and head. Before any allocation the forward asks attention/memory.h whether the
// matrices it will hold at once fit (mhsa_live_matrices), and refuses with an error naming the
// shape and the bytes otherwise.
#pragma once

#include <memory>
#include <string>

#include "engine/core/dtype.h"
#include "layers/attention_slot.h"
#include "layers/linear.h"
#include "layers/norm.h"

namespace fovea::attention {

struct MHSAOptions {
  int64_t heads = 8;
  bool qkv_bias = false;
  bool block = false;  // form: false = plain, true = block
  bool pos_embed = false;
  double attn_drop = 0;
  double proj_drop = 0;
};

// How many [N, heads, L, L] tensors a call holds at once, and which, counted from the ops of
// MHSA::attention (see mhsa.cpp).
struct MHSALive {
  int count;
  std::string why;
};
// backward: gradients are recorded (a backward may follow); dropout: attn_drop > 0 in training;
// held_map: a recorded map of the last forward is alive until the new one replaces it.
MHSALive mhsa_live_matrices(bool backward, bool dropout = false, bool held_map = false);

// Bytes of the attention matrices MHSA holds at once for an [n, c, h, w] input (no attention
// dropout, not recording): count x n x heads x (h w)^2 x the dtype's size, count 3 with a
// backward, 2 without. c must be divisible by heads.
size_t mhsa_attention_bytes(int64_t n, int64_t c, int64_t h, int64_t w, int64_t heads,
                            DType dtype, bool backward = true);

class MHSA : public nn::AttentionModule {
 public:
  // height, width: the input's spatial size; needed with pos_embed (0: unknown).
  MHSA(int64_t channels, int64_t height = 0, int64_t width = 0, const MHSAOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t channels, height, width;
  const MHSAOptions options;
  const int64_t head_dim;
  const double scale;
  Tensor& pos_embed;                        // [1, H W, C]; undefined without pos_embed
  std::shared_ptr<nn::LayerNorm> norm1, norm2;  // block only
  std::shared_ptr<nn::Linear> qkv, proj;    // plain: qkv, proj; block: attn.qkv, attn.proj
  std::shared_ptr<nn::Linear> fc1, fc2;     // block only: mlp.fc1, mlp.fc2

 private:
  Tensor attention(const Tensor& tokens);  // [N, L, D] -> [N, L, D]
  Tensor mlp(const Tensor& tokens);
};

// "mhsa" in the slot (attention/register.h).
nn::AttentionSpec mhsa_spec();

}  // namespace fovea::attention
