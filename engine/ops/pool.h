// 2-D pooling over the last two dims of x: [N, C, H, W], or unbatched [C, H, W] (the output
// then has no N either). PyTorch semantics exactly (attention-spec §0.6, §0.7, §22.2); every
// plane (n, c) is pooled on its own. Inputs are float32 or float64 of any layout; outputs are
// contiguous. Windows along one axis, output position o (the same rule for W):
//
//   max_pool2d / avg_pool2d   start = o * stride - padding, taps start + j * dilation for
//                             j < kernel.  Output size
//       out = floor((H + 2 padding - dilation (kernel - 1) - 1) / stride) + 1   (ceil_mode: ceil)
//   and with ceil_mode the last window must start inside the input or the left padding
//   ((out - 1) * stride < H + padding, else out drops by one). Requires kernel, stride,
//   dilation >= 1, padding <= kernel / 2 and out >= 1.
//
//   adaptive_*_pool2d         bin o covers [floor(o H / oh), ceil((o + 1) H / oh)): bins
//                             overlap when oh does not divide H, and repeat rows when oh > H.
//
// max_pool2d:   y = max over the window's taps inside the input (padding is -inf, never chosen).
//               The first maximum in row-major scan order wins a tie; a NaN beats every number
//               (as PyTorch's CPU kernel: the LAST NaN of the window gives the index).
//               indices (int64, shape of y) = ih * W + iw of the chosen tap within its plane,
//               as torch's max_pool2d(..., return_indices=True).
//               dx = g scattered to indices (added where windows share an arg-max), 0 elsewhere.
//               A dilated window whose taps all fall in the padding gives -inf and index -1
//               (PyTorch: -inf and an index outside the plane); no gradient flows from it.
// avg_pool2d:   y = sum of the window's taps inside the input / divisor. No dilation.
//               The window is first clipped to the padded input [-padding, H + padding) (with
//               ceil_mode the last one can run past it); count_include_pad: divisor = clipped
//               window area (padding counts, the part past the padded edge does not);
//               otherwise divisor = number of real taps.
//               dx = g / divisor added to every real tap of the window.
// adaptive_avg_pool2d:  y = mean of the bin.    dx = g / (bin area) added over the bin.
// adaptive_max_pool2d:  y = max of the bin, ties and NaN as max_pool2d; dx = g at the index.
//   output_size {oh, ow}; -1 keeps that input size (PyTorch's None): {-1, 1} averages over W
//   only. {1, 1} is the global pool (a plain mean / max over H * W).
#pragma once

#include <array>
#include <cstdint>

#include "engine/core/tensor.h"

namespace fovea {

struct Pool2dOptions {
  std::array<int64_t, 2> kernel{0, 0};
  std::array<int64_t, 2> stride{0, 0};  // {0, 0}: the kernel size
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};  // max_pool2d only
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg_pool2d only
};

struct MaxPoolResult {
  Tensor values;
  Tensor indices;  // int64, never differentiable
};

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& opt);
MaxPoolResult max_pool2d_with_indices(const Tensor& x, const Pool2dOptions& opt);
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& opt);

Tensor adaptive_avg_pool2d(const Tensor& x, std::array<int64_t, 2> output_size);
Tensor adaptive_max_pool2d(const Tensor& x, std::array<int64_t, 2> output_size);
MaxPoolResult adaptive_max_pool2d_with_indices(const Tensor& x,
                                               std::array<int64_t, 2> output_size);

// The output size of one axis of max_pool2d / avg_pool2d (formula above), possibly < 1.
int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding,
                         int64_t dilation, bool ceil_mode);

}  // namespace fovea
