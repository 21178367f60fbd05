// Classification losses over class indices, matching torch.nn.functional.cross_entropy and
// nll_loss (no class weights, no ignore_index: every target must lie in [0, K)).
//
// Shapes, as in PyTorch, with the class axis at dim 1:
//   input [N, K]            target [N]             unreduced loss [N]
//   input [N, K, d1, ...]   target [N, d1, ...]    unreduced loss [N, d1, ...]
//   input [K]               target []  (0-d)       unreduced loss []
// target is int64. Reduction::Mean divides the summed loss by the number of target elements
// (refused when there are none), Sum adds them, None returns the loss per target element.
//
//   cross_entropy  loss_n = -sum_k q_nk log_softmax(z_n)_k,  q_nk = (1-eps)[k == y_n] + eps/K
//                  dz_nk  = (softmax(z_n)_k - q_nk) * g_n    (g_n = g / M for Mean, g for Sum)
//   nll_loss       loss_n = -x_{n, y_n}
//                  dx_nk  = -g_n [k == y_n]
// eps is the label smoothing, in [0, 1]. cross_entropy runs one fused kernel: it never forms
// the log-probabilities, so logits of any finite magnitude give finite losses and gradients.
#pragma once

#include "engine/core/tensor.h"

namespace fovea {

enum class Reduction { Mean, Sum, None };

Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     Reduction reduction = Reduction::Mean, double label_smoothing = 0.0);
Tensor nll_loss(const Tensor& log_probs, const Tensor& target,
                Reduction reduction = Reduction::Mean);

}  // namespace fovea
