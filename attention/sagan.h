// SAGAN self-attention (Zhang, Goodfellow, Metaxas & Odena, "Self-Attention Generative
// Adversarial Networks", ICML 2019; attention-spec §17). Every position attends to every
// position (heykeetae) or to a 2x2-max-pooled grid of them (biggan), and the result is added
// back with a learned gain gamma that starts at 0.
//
// variant=heykeetae (default; §17a, heykeetae/Self-Attention-GAN Self_Attn(in_dim)):
//   Q = query_conv(X).view(N, C/8, HW)     conv1x1 C -> C/8 with bias
//   K = key_conv(X).view(N, C/8, HW)       conv1x1 C -> C/8 with bias
//   V = value_conv(X).view(N, C, HW)       conv1x1 C -> C with bias
//   E = Q^T K                              [N, HW, HW], E[i, j] = q_i . k_j, NO 1/sqrt(d)
//   A = softmax over j (keys, last dim)    [N, HW, HW]
//   O = V A^T, view [N, C, H, W]           O[:, c, i] = sum_j V[c, j] A[i, j]
//   Y = gamma O + X                        gamma: shape [1] ("gamma"), init 0
// variant=biggan (§17b, the official TF release as ported by BigGAN-PyTorch layers.Attention):
//   theta = theta(X)                       conv1x1 C -> C/8, no bias          [N, C/8, HW]
//   phi   = maxpool2x2(phi(X))             conv1x1 C -> C/8, no bias          [N, C/8, HW/4]
//   g     = maxpool2x2(g(X))               conv1x1 C -> C/2, no bias          [N, C/2, HW/4]
//   A     = softmax over j of theta^T phi  [N, HW, HW/4]  (the HW/4 pooled keys)
//   O     = o((g A^T).view(N, C/2, H, W))  conv1x1 C/2 -> C, no bias
//   Y     = gamma O + X                    gamma: 0-d, as BigGAN's torch.tensor(0.), init 0
//   H and W must be even (the pool halves them; the reference's view fails otherwise).
//   BigGAN wraps every conv in spectral norm (SNConv2d): a GAN training device, not part of
//   the attention, left out here (the weights are plain conv weights, no u / sv buffers).
// Products are computed as A V^T (and transposed back), so autograd hands the softmax a
// contiguous dA; see the memory note below.
//
// Backward (autograd through the ops): dgamma = sum dY * O, dO = gamma dY (biggan: through
// o's 1x1 conv), dV = dO A, dA = dO^T V, the softmax's dE = A * (dA - sum_j dA * A),
// dQ = K dE^T, dK = Q dE, then the 1x1 convs' rules (biggan: max-pool routes each pooled
// gradient to its window's first maximum); dX = dY + the convs' input gradients.
// At init gamma = 0: Y = X, only gamma has a non-zero gradient and every conv's gradient is
// exactly 0 (spec §17a: not a bug). A gradient check must move gamma off 0 first. The key bias
// (heykeetae) adds q_i . b_k to every score of row i, a constant along the softmax axis: its
// gradient is 0 by structure at any gamma (rounding-level, in PyTorch too).
//
// Names: heykeetae query_conv.{weight,bias}, key_conv.*, value_conv.*, gamma; biggan
// theta.weight, phi.weight, g.weight, o.weight, gamma (state_dict order as PyTorch's: gamma,
// the module's own parameter, first). Init: PyTorch's default for the convs
// (BigGAN's networks re-initialise every conv of the model, 'ortho' by default: a network
// init, not the module's), gamma 0. Constraint (§21): C >= 8 (C // 8 >= 1).
// In the slot: AfterLastNorm, child "sagan" (heykeetae's GANs name their two sites attn1 and
// attn2, which says where, not what; BigGAN appends it to a block's layer list). Train and eval
// do not differ.
// Map: "attention" = A, [N, HW, HW] (biggan [N, HW, HW/4]); row i is where position i looks.
//
// Memory (quadratic in HW). Before anything is allocated, the forward asks attention/memory.h
// whether the [N, HW, keys] matrices it will hold at once fit (sagan_attention_memory gives
// the count and the bytes): the scores E and their softmax A while the softmax runs (2); 3 when
// autograd records (the backward holds A, saved, with dA and dE) or when a map recorded by the
// previous forward is still held while the next builds E and A. 64x64 inputs give 4096 x 4096
// entries, 64 MiB per sample per float32 matrix.
#pragma once

#include <memory>
#include <string>

#include "engine/core/dtype.h"
#include "engine/core/shape.h"
#include "layers/attention_slot.h"
#include "layers/conv.h"

namespace fovea::attention {

enum class SAGANVariant { Heykeetae, BigGAN };

struct SAGANOptions {
  SAGANVariant variant = SAGANVariant::Heykeetae;
};

class SAGAN : public nn::AttentionModule {
 public:
  SAGAN(int64_t channels, const SAGANOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t channels;
  const SAGANOptions options;
  // heykeetae: query_conv, key_conv, value_conv (out null); biggan: theta, phi, g, o.
  std::shared_ptr<nn::Conv2d> query, key, value, out;
  Tensor& gamma;  // heykeetae [1], biggan 0-d
};

// The attention matrices of one forward (and its backward) on [N, C, H, W] inputs: their shape
// [N, HW, keys], how many are live at once, and why, and the bytes of those (saturating).
// `graph`: autograd records (training); `held_map`: a map recorded by an earlier forward is
// still held. C does not enter: the matrices are HW x keys whatever the width.
struct SAGANMemory {
  Shape shape;
  int live = 0;
  std::string why;
  size_t bytes = 0;  // live x one matrix
};
SAGANMemory sagan_attention_memory(int64_t n, int64_t h, int64_t w, DType dtype,
                                   SAGANVariant variant = SAGANVariant::Heykeetae,
                                   bool graph = true, bool held_map = false);

// "sagan" in the slot (attention/register.h): its position, options and factory.
nn::AttentionSpec sagan_spec();

}  // namespace fovea::attention
