// Direct CPU kernels for convolutions in which every output channel reads a single input
// channel: groups == C_in (depthwise, any channel multiplier C_out / C_in), which includes
// one-channel convs such as ECA's conv1d. im2col + GEMM would run, per channel, a GEMM with
// one row and kH kW columns of depth; these loop over the taps of each plane instead.
// conv2d_forward_cpu / conv2d_backward_cpu call them; their arguments are contiguous and
// validated, outputs as described in cpu/conv.h.
#pragma once

#include "engine/core/tensor.h"
#include "engine/ops/conv.h"

namespace fovea {

bool conv2d_is_depthwise(const Tensor& x, const Conv2dOptions& opt);
void conv2d_depthwise_forward_cpu(const Tensor& x, const Tensor& w, const Tensor& bias,
                                  const Tensor& y, const Conv2dOptions& opt);
void conv2d_depthwise_backward_cpu(const Tensor& x, const Tensor& w, const Tensor& dy,
                                   const Tensor& dx, const Tensor& dw, const Tensor& db,
                                   const Conv2dOptions& opt);

}  // namespace fovea
