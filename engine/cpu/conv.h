// CPU kernels of conv2d (the op is in ops/conv.h; conv1d runs them on height-1 views).
//
// im2col turns a batch of images into one column matrix so that a convolution becomes a GEMM:
//   col[(c, p, q), (n, i, j)] = x[n, c, i sH - pH + p dH, j sW - pW + q dW]   (0 outside)
//   x [N, C, H, W] -> col [C kH kW, N H_out W_out]
// col2im is its adjoint: every col entry is added back into the x position it was read from
// (positions in the padding are dropped); x is overwritten, not accumulated into.
//
// conv2d_forward:  y = w_g @ col(x)_g (+ b), per group g, written into y [N, C_out, Ho, Wo].
// conv2d_backward: dw_g = dy_g @ col(x)_g^T,  dx = col2im(w_g^T @ dy_g),  db = sum dy.
//   dx, dw or db may be undefined: that gradient is skipped. All outputs are contiguous,
//   overwritten, and shaped like x, w and [C_out].
//
// The kernels im2col a chunk of images at a time into one [K, n Ho Wo] matrix (one larger
// GEMM instead of n small ones, buffer bounded to stay in cache), and 1x1 / stride 1 / no
// padding convolutions read x itself as the column matrix. With at least as many images as
// threads, each thread takes its own images and runs single-threaded GEMMs (im2col, GEMM and
// col2im of a chunk stay in that core's cache); with fewer, the images run one after the
// other and the threads split each GEMM and im2col/col2im between them. OpenBLAS itself is
// kept single-threaded for the whole call. Convolutions in which every output channel reads
// one input channel (groups == C_in: depthwise) skip im2col + GEMM for the direct kernels of
// cpu/conv_depthwise.h.
#pragma once

#include <cstdint>

#include "engine/core/dispatch.h"
#include "engine/core/tensor.h"
#include "engine/ops/conv.h"

namespace fovea {

// opt.groups is ignored by im2col/col2im (they see all channels).
void im2col_cpu(const Tensor& x, const Tensor& col, int64_t kh, int64_t kw,
                const Conv2dOptions& opt);
void col2im_cpu(const Tensor& col, const Tensor& x, int64_t kh, int64_t kw,
                const Conv2dOptions& opt);
void conv2d_forward_cpu(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                        const Conv2dOptions& opt);
void conv2d_backward_cpu(const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx,
                         const Tensor& dw, const Tensor& db, const Conv2dOptions& opt);

extern KernelSlot<void(const Tensor&, const Tensor&, int64_t, int64_t, const Conv2dOptions&)>
    im2col_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, int64_t, int64_t, const Conv2dOptions&)>
    col2im_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                       const Conv2dOptions&)>
    conv2d_forward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                       const Tensor&, const Conv2dOptions&)>
    conv2d_backward_kernel;

}  // namespace fovea
