// CPU kernels of the 2-D pools (the ops and their exact semantics are in ops/pool.h).
//
// Kernels take validated 4-d tensors: x of any layout [N, C, H, W] (copied to contiguous when
// needed), outputs (y, values, indices, dx) contiguous and allocated by the op; output sizes
// are read from the output shapes. Every kernel works plane by plane (n, c), planes shared out
// among threads, so the backward scatters never race. Backward kernels overwrite dx.
//
//   max_pool2d_forward:   values = window max, indices = ih * W + iw of it (-1: the window
//                         has no tap inside the input, values -inf; possible only with dilation)
//   max_pool2d_backward:  dx = 0, then dx[plane][indices] += g   (also adaptive_max's). The
//                         CPU kernel needs only the indices; opt gives the CUDA twin, which
//                         gathers per input element, the outputs whose windows can reach it.
//   avg_pool2d_forward:   y = window sum (double) / divisor (ops/pool.h)
//   avg_pool2d_backward:  dx = 0, then g / divisor added over each window
//   adaptive_*:           the same with PyTorch's adaptive bins
#pragma once

#include <cstdint>

#include "engine/core/dispatch.h"
#include "engine/core/tensor.h"
#include "engine/ops/pool.h"

namespace fovea {

void max_pool2d_forward_cpu(const Tensor& x, const Tensor& values, const Tensor& indices,
                            const Pool2dOptions& opt);
void max_pool2d_backward_cpu(const Tensor& g, const Tensor& indices, const Tensor& dx,
                             const Pool2dOptions& opt);
void avg_pool2d_forward_cpu(const Tensor& x, const Tensor& y, const Pool2dOptions& opt);
void avg_pool2d_backward_cpu(const Tensor& g, const Tensor& dx, const Pool2dOptions& opt);
void adaptive_avg_pool2d_forward_cpu(const Tensor& x, const Tensor& y);
void adaptive_avg_pool2d_backward_cpu(const Tensor& g, const Tensor& dx);
void adaptive_max_pool2d_forward_cpu(const Tensor& x, const Tensor& values,
                                     const Tensor& indices);
void adaptive_max_pool2d_backward_cpu(const Tensor& g, const Tensor& indices, const Tensor& dx);

extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Pool2dOptions&)>
    max_pool2d_forward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Pool2dOptions&)>
    max_pool2d_backward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Pool2dOptions&)>
    avg_pool2d_forward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Pool2dOptions&)>
    avg_pool2d_backward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&)> adaptive_avg_pool2d_forward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&)> adaptive_avg_pool2d_backward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&)>
    adaptive_max_pool2d_forward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&)>
    adaptive_max_pool2d_backward_kernel;

}  // namespace fovea
