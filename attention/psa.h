// PSA: Polarized Self-Attention (Liu et al., arXiv 2107.00782; attention-spec §8). C channels,
// C even; every branch is C/2 wide. X [N, C, H, W], HW = H W. Four variants share one layout:
//
// Channel-only branch (all variants; v, q, up are the variant's convs, names below):
//   V   = v(X).view(N, C/2, HW)                     1x1 conv C -> C/2
//   q   = softmax_HW(q(X).view(N, 1, HW))           1x1 conv C -> 1, softmax over the positions
//   z   = V q^T                                     [N, C/2, 1] -> [N, C/2, 1, 1]
//   w   = up(z)                                     [N, C, 1, 1]
//   A_ch = sigmoid(LN_C(w))   paper: LayerNorm over the channel vector (eps 1e-5, affine [C])
//   A_ch = sigmoid(w)         official: no LayerNorm (official_s has one inside its up, below)
// Spatial-only branch on S (S = X in the parallel forms, S = A_ch X in the sequential ones):
//   qs  = GAP(q'(S)).view(N, 1, C/2)                1x1 conv C -> C/2, then the mean over HW
//   Vs  = v'(S).view(N, C/2, HW)                    1x1 conv C -> C/2
//   paper:      A_sp = sigmoid(softmax_{C/2}(qs) Vs)      softmax over the C/2 channels first
//   official_p: A_sp = sigmoid(softmax_HW(qs Vs))         softmax over the positions, then sigmoid
//   official_s: A_sp = sigmoid(qs softmax_HW(Vs))         softmax of every value row over HW
//   A_sp [N, 1, HW] -> [N, 1, H, W]
// Compose:
//   paper_parallel, official_p:   Y = A_ch X + A_sp(X) X
//   paper_sequential, official_s: X1 = A_ch X,  Y = A_sp(X1) X1
// Backward: autograd through the ops. The matmuls give dV = dz q, dq = V^T dz (and likewise in the
// spatial branch); a softmax p gives dx = p (g - sum(g p)) along its axis; the LayerNorm and
// sigmoid their usual rules; the GAP spreads dqs / HW over the positions; X receives dY A_ch +
// dY A_sp from the gates (broadcast: dA_ch = sum_hw dY X, dA_sp = sum_c dY X) plus the paths
// back through every conv of both branches (sequential: through X1 = A_ch X into both).
//
// Variants and names (state_dict as the references):
//   paper_parallel (default), paper_sequential: spec §8a, External-Attention-pytorch's
//     ParallelPolarizedSelfAttention / SequentialPolarizedSelfAttention: ch_wv (v), ch_wq (q),
//     ch_wz (up, C/2 -> C), ln (LayerNorm(C)), sp_wv (v'), sp_wq (q'); every conv with bias;
//     PyTorch-default init, LN 1 / 0. ch_wq's bias shifts every position's logit alike before
//     the softmax over the positions, which removes it: its gradient is exactly 0 (as in
//     PyTorch), a parameter that never trains.
//   official_p, official_s: spec §8b, DeLightCMU/PSA network/PSA.py PSA_p / PSA_s with
//     inplanes = planes = C: conv_v_right (v), conv_q_right (q), conv_v_left (v'), conv_q_left
//     (q'), all bias-free, kaiming_normal (fan_in, gain sqrt 2) as the code's reset_parameters.
//     official_p: conv_up = 1x1 conv C/2 -> C, bias-free, default init. official_s: conv_up =
//     Sequential(0: conv C/2 -> (C/2)//4 with bias, 1: LayerNorm([(C/2)//4, 1, 1]), 2: ReLU,
//     3: conv (C/2)//4 -> C with bias), default init (the code's ratio 4; its 1x1 kernel_size and
//     stride arguments are fixed at 1 here).
// Constraints (§21): C even and >= 2; official_s also (C/2)//4 >= 1, i.e. C >= 8.
// Train and eval do not differ (no BatchNorm; LayerNorm has no running statistics).
// Maps: "channel" = A_ch [N, C], "spatial" = A_sp [N, 1, H, W] (sequential: the map of X1).
#pragma once

#include <memory>
#include <string>

#include "layers/attention_slot.h"
#include "layers/conv.h"
#include "layers/norm.h"

namespace fovea::attention {

enum class PSAVariant { PaperParallel, PaperSequential, OfficialP, OfficialS };

struct PSAOptions {
  PSAVariant variant = PSAVariant::PaperParallel;
};

class PolarizedSelfAttention : public nn::AttentionModule {
 public:
  PolarizedSelfAttention(int64_t channels, const PSAOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t channels;
  const PSAOptions options;
  // Channel branch: v, q and up (ch_wv, ch_wq, ch_wz / conv_v_right, conv_q_right, conv_up: a
  // Conv2d, or official_s's Sequential); ln only in the paper forms (null otherwise).
  std::shared_ptr<nn::Conv2d> ch_v, ch_q;
  std::shared_ptr<nn::Module> ch_up;
  std::shared_ptr<nn::LayerNorm> ln;
  // Spatial branch: v', q' (sp_wv, sp_wq / conv_v_left, conv_q_left).
  std::shared_ptr<nn::Conv2d> sp_v, sp_q;

 private:
  Tensor channel_gate(const Tensor& x);  // A_ch [N, C, 1, 1]
  Tensor spatial_gate(const Tensor& s);  // A_sp [N, 1, H, W]
};

// "psa" in the slot (attention/register.h): its position, options and factory.
nn::AttentionSpec psa_spec();

}  // namespace fovea::attention
