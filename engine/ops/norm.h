// Normalisation ops with torch.nn.functional semantics: batch_norm, group_norm, layer_norm.
// The BatchNorm / GroupNorm / LayerNorm modules own the parameters and buffers and call these.
//
// Every op normalises groups of elements with their mean and BIASED variance and then applies
// a per-channel (layer_norm: per-element) affine transform; weight and bias are optional
// (undefined = 1 and 0, PyTorch's affine=False) and must have x's dtype and device.
//
//   y  = x^ * w + b,   x^ = (x - mean) * rstd,   rstd = 1 / sqrt(var + eps)
//   dw = sum g x^,     db = sum g                 (over every element the parameter touches)
//   dx = w rstd (g - mean(g) - x^ mean(g x^))      (means over one normalised group)
//   group_norm and layer_norm, whose w varies inside a group, with wg = w * g:
//   dx = rstd (wg - mean(wg) - x^ mean(wg x^))
//
// batch_norm(x [N, C, *], running_mean, running_var [C], weight, bias [C], training, momentum, eps)
//   One statistic per channel, over N and all trailing dims: BatchNorm1d on [N, C] or [N, C, L]
//   and BatchNorm2d on [N, C, H, W] alike.
//   training: batch statistics; needs more than one value per channel (N * prod(*) > 1). Each
//     running stat that is defined is updated in place (it is a buffer: no gradient, no graph):
//       running_mean = (1 - momentum) running_mean + momentum mean
//       running_var  = (1 - momentum) running_var  + momentum var * n / (n - 1)   (unbiased)
//     momentum is PyTorch's (the weight of the new batch; MXNet's 0.9 is 0.1 here). PyTorch's
//     momentum=None (cumulative average) is the caller's: pass 1 / num_batches_tracked, as
//     torch.nn.BatchNorm does.
//     Backward: the full batch-norm backward above (mean and var depend on x).
//   eval: normalises with running_mean / running_var (both required); backward is the affine
//     one, dx = w rstd g.
// group_norm(x [N, C, *], groups, weight, bias [C], eps)
//   One statistic per (sample, group of C / groups consecutive channels), over the group's
//   channels and all trailing dims; groups must divide C. groups == C is instance norm,
//   groups == 1 normalises each sample as a whole. Training and eval behave the same.
// layer_norm(x [*, normalized_shape], normalized_shape, weight, bias [normalized_shape], eps)
//   One statistic per leading index, over the trailing dims that must equal normalized_shape.
//
// The output is a new contiguous tensor of x's shape. PyTorch's defaults: eps = 1e-5,
// momentum = 0.1 (timm's ViT uses layer_norm with eps = 1e-6).
#pragma once

#include <cstdint>

#include "engine/core/tensor.h"

namespace fovea {

Tensor batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                  double eps = 1e-5);
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps = 1e-5);

}  // namespace fovea
