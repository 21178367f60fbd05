// CPU kernels of batch_norm, group_norm and layer_norm (the ops are in ops/norm.h).
//
// All three see x as a contiguous [N, C, S] block (S = the product of the dims after 1) with a
// per-channel affine transform weight[c], bias[c] (undefined: 1 and 0). They differ only in
// which elements share one mean and variance:
//   batch_norm  per channel c, over (n, s)                       mean, rstd: [C]
//   group_norm  per (n, group), over the C/G * S elements of the group   mean, rstd: [N, G]
//   layer_norm  per row n of [N, D], D = the normalised elements      mean, rstd: [N]
//               (group_norm's layout with C = D, S = 1, G = 1)
// Forward: y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps), var the biased variance.
// mean and rstd are saved in x's dtype for backward; every sum runs in double.
// Backward, with x^ = (x - mean) * rstd and m the number of elements sharing a statistic:
//   dweight[c] = sum g x^,   dbias[c] = sum g            (over all elements of channel c)
//   batch_norm, training:  dx = w rstd (g - sum(g)/m - x^ sum(g x^)/m)      (sums per channel)
//   batch_norm, eval:      dx = w rstd g          (mean, rstd are constants: running stats)
//   group/layer_norm:      dx = rstd (w g - sum(w g)/m - x^ sum(w g x^)/m)  (sums per group)
// dx, dweight and dbias may each be undefined (not needed); when defined they are contiguous
// outputs of x's / weight's shape. x, g, weight and bias may have any layout.
#pragma once

#include <cstdint>

#include "engine/core/dispatch.h"
#include "engine/core/tensor.h"

namespace fovea {

// Training: normalises with the batch statistics and, for each running stat that is defined,
// updates it in place (any stride): run = (1 - momentum) run + momentum batch, the running
// variance taking the unbiased batch variance (m / (m - 1)); m > 1 is the caller's check.
// Eval: mean = running_mean, rstd = 1 / sqrt(running_var + eps); nothing is updated.
void batch_norm_forward_cpu(const Tensor& x, const Tensor& weight, const Tensor& bias,
                            const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                            const Tensor& mean, const Tensor& rstd, bool training, double momentum,
                            double eps);
void batch_norm_backward_cpu(const Tensor& x, const Tensor& g, const Tensor& mean,
                             const Tensor& rstd, const Tensor& weight, const Tensor& dx,
                             const Tensor& dweight, const Tensor& dbias, bool training);

void group_norm_forward_cpu(const Tensor& x, const Tensor& weight, const Tensor& bias,
                            const Tensor& y, const Tensor& mean, const Tensor& rstd, int64_t groups,
                            double eps);
void group_norm_backward_cpu(const Tensor& x, const Tensor& g, const Tensor& mean,
                             const Tensor& rstd, const Tensor& weight, const Tensor& dx,
                             const Tensor& dweight, const Tensor& dbias, int64_t groups);

// `normalized` is D, the number of elements in each normalised row (x.numel() = N * D).
void layer_norm_forward_cpu(const Tensor& x, const Tensor& weight, const Tensor& bias,
                            const Tensor& y, const Tensor& mean, const Tensor& rstd,
                            int64_t normalized, double eps);
void layer_norm_backward_cpu(const Tensor& x, const Tensor& g, const Tensor& mean,
                             const Tensor& rstd, const Tensor& weight, const Tensor& dx,
                             const Tensor& dweight, const Tensor& dbias, int64_t normalized);

// group_norm and layer_norm share their kernels' signatures (the int64_t is groups / D).
using BatchNormForwardFn = void(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool,
                                double, double);
using BatchNormBackwardFn = void(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                 const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool);
using GroupedNormForwardFn = void(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const Tensor&, int64_t, double);
using GroupedNormBackwardFn = void(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                   const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                   int64_t);

extern KernelSlot<BatchNormForwardFn> batch_norm_forward_kernel;
extern KernelSlot<BatchNormBackwardFn> batch_norm_backward_kernel;
extern KernelSlot<GroupedNormForwardFn> group_norm_forward_kernel;
extern KernelSlot<GroupedNormBackwardFn> group_norm_backward_kernel;
extern KernelSlot<GroupedNormForwardFn> layer_norm_forward_kernel;
extern KernelSlot<GroupedNormBackwardFn> layer_norm_backward_kernel;

}  // namespace fovea
