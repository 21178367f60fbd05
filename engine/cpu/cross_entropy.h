// CPU kernels of the class-index losses (the ops are in ops/loss.h). Each sees M rows of K
// classes: logits / log_probs [M, K] (any layout), target [M] int64 already checked to lie in
// [0, K), grad [M] the upstream gradient of each row's loss (any layout, stride 0 allowed),
// and writes contiguous outputs. eps is the label smoothing, q_k = (1-eps)[k == t] + eps/K.
//
//   cross_entropy_forward:  lse = log sum_k exp(z_k)            (float64 [M], kept for backward)
//                           loss = sum_k q_k (lse - z_k)
//                                = (1-eps)(lse - z_t) + eps/K sum_k (lse - z_k)
//   cross_entropy_backward: dz_k = (exp(z_k - lse) - q_k) * grad
//   nll_loss_forward:       loss = -x_t
//   nll_loss_backward:      dx_k = -grad [k == t]
#pragma once

#include "engine/core/dispatch.h"
#include "engine/core/tensor.h"

namespace fovea {

void cross_entropy_forward_cpu(const Tensor& logits, const Tensor& target, const Tensor& loss,
                               const Tensor& lse, double label_smoothing);
void cross_entropy_backward_cpu(const Tensor& logits, const Tensor& target, const Tensor& lse,
                                const Tensor& grad, const Tensor& dlogits,
                                double label_smoothing);
void nll_loss_forward_cpu(const Tensor& log_probs, const Tensor& target, const Tensor& loss);
void nll_loss_backward_cpu(const Tensor& target, const Tensor& grad, const Tensor& dlog_probs);

extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double)>
    cross_entropy_forward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                       const Tensor&, double)>
    cross_entropy_backward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&)> nll_loss_forward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&)> nll_loss_backward_kernel;

}  // namespace fovea
