// Convolutions (cross-correlation, like PyTorch's F.conv2d / F.conv1d), NCHW layout.
//
// conv2d(x, w, b, opt): x [N, C_in, H, W] (or unbatched [C_in, H, W]), w [C_out, C_in/G, kH,
// kW], b [C_out] or undefined, G = opt.groups. Output [N, C_out, H_out, W_out] with
//   H_out = floor((H + 2 pH - dH (kH - 1) - 1) / sH) + 1   (W_out alike)
//   y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] * x[n, g(o) Cg + c, i sH - pH + p dH,
//                                                              j sW - pW + q dW]
// with zero padding (x reads outside the image are 0), Cg = C_in/G, g(o) = o / (C_out/G):
// groups split both channel axes in order, group g maps input channels [g Cg, (g+1) Cg) to
// output channels [g C_out/G, (g+1) C_out/G). G == C_in is a depthwise convolution.
// Backward (im2col view: col(x) [Cg kH kW, H_out W_out] per image and group):
//   dw_g = sum_n dy_g[n] col(x[n])^T      [C_out/G, Cg kH kW]
//   dx   = col2im(w_g^T dy_g[n])          (col2im adds every column entry back where im2col
//                                           read it; padding positions are dropped)
//   db   = sum over n, i, j of dy
// Only the gradients the graph needs are computed. The node is Conv2dBackward.
//
// conv1d(x, w, b, opt): x [N, C_in, L] (or unbatched [C_in, L]), w [C_out, C_in/G, k]: the
// same operation on a height-1 image (it runs conv2d's kernels on [N, C, 1, L] views); its
// node is Conv1dBackward. ECA's channel convolution is conv1d with C_in = C_out = 1, odd k,
// padding (k - 1) / 2 and no bias.
//
// Errors (fovea::Error naming the op): wrong ndim, C_in != w.shape[1] * G, C_in or C_out not
// divisible by G, non-positive groups/stride/dilation, negative padding, an output size below
// 1 (kernel larger than the padded input), dtype or device mismatch, bias not [C_out].
#pragma once

#include <array>
#include <cstdint>

#include "engine/core/tensor.h"

namespace fovea {

struct Conv2dOptions {
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
};

struct Conv1dOptions {
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
};

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& opt = {});
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv1dOptions& opt = {});

}  // namespace fovea
