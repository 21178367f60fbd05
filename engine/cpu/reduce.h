// CPU reduction kernels and the layout helpers they share.
//
// Every reduction over a set of dims is computed on a [outer, inner] row view of its input:
// outer runs over the kept dims (row-major, the order of the output), inner over the reduced
// dims (row-major over the reduced dims in increasing order, so position i in a row is the
// flat index of the element within its reduced slice). reduce_rows() produces that view,
// copying only when the input's layout requires it (a reduction over the trailing dims of a
// contiguous tensor is a view).
//
// Backward kernels write the input gradient dx through the same row view: the op allocates dx
// with empty_rows(), whose memory is the contiguous [outer, inner] block, so no scatter through
// strides is needed and the gradient comes back as a (possibly permuted) view of that block.
//
// Kernels take validated tensors: out / values / indices contiguous with one element per row;
// g (the upstream gradient) of any layout with one element per row.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/dispatch.h"
#include "engine/core/tensor.h"

namespace fovea {

// Shape after reducing `dims` (normalised, sorted): size-1 dims kept when keepdim.
Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim);

struct ReduceRows {
  Tensor rows;  // contiguous [outer, inner]
  int64_t outer = 1, inner = 1;
};
ReduceRows reduce_rows(const Tensor& x, const std::vector<int64_t>& dims);

// An uninitialised tensor of `shape` whose reduce_rows(., dims) is a view (see above).
Tensor empty_rows(const Shape& shape, const std::vector<int64_t>& dims, DType dtype,
                  Device device);
// The row view of a gradient buffer from empty_rows(), to write through (checked to be a view).
ReduceRows rows_to_write(const Tensor& dx, const std::vector<int64_t>& dims);

using DimList = std::vector<int64_t>;

// out = sum of x over dims.
void sum_cpu(const Tensor& x, const Tensor& out, const DimList& dims);
extern KernelSlot<void(const Tensor&, const Tensor&, const DimList&)> sum_kernel;

// amax/amin/max/min/argmax/argmin. values[o] = the max (min) of row o, indices[o] (int64) the
// first position in the row where it occurs; a NaN beats every number (the first NaN wins).
enum class ExtremumKind : uint8_t { Max, Min };
void extremum_forward_cpu(const Tensor& x, const Tensor& values, const Tensor& indices,
                          const DimList& dims, ExtremumKind kind);
// dx = 0 except dx[o, indices[o]] = g[o].
void extremum_backward_cpu(const Tensor& g, const Tensor& indices, const Tensor& dx,
                           const DimList& dims);
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const DimList&,
                       ExtremumKind)>
    extremum_forward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const DimList&)>
    extremum_backward_kernel;

// var and stddev (take_sqrt). out = s or sqrt(s), s = sum (x - mean)^2 / max(n - correction, 0)
// (two passes, accumulated in double).
//   var:    dx = g * 2 (x - mean) / max(n - correction, 0)
//   stddev: the same with g / (2 out) for g, and 0 where out == 0
void var_forward_cpu(const Tensor& x, const Tensor& out, const DimList& dims,
                     int64_t correction, bool take_sqrt);
void var_backward_cpu(const Tensor& x, const Tensor& out, const Tensor& g, const Tensor& dx,
                      const DimList& dims, int64_t correction, bool take_sqrt);
extern KernelSlot<void(const Tensor&, const Tensor&, const DimList&, int64_t, bool)>
    var_forward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                       const DimList&, int64_t, bool)>
    var_backward_kernel;

// out = m + log sum exp(x - m), m the row max (0 when m is infinite, so that an all -inf row
// gives -inf and a row holding +inf gives +inf).   dx = g * exp(x - out)
void logsumexp_forward_cpu(const Tensor& x, const Tensor& out, const DimList& dims);
void logsumexp_backward_cpu(const Tensor& x, const Tensor& out, const Tensor& g,
                            const Tensor& dx, const DimList& dims);
extern KernelSlot<void(const Tensor&, const Tensor&, const DimList&)> logsumexp_forward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                       const DimList&)>
    logsumexp_backward_kernel;

// p-norm, p >= 1 or +inf. out = (sum |x|^p)^(1/p), or max |x| for p = inf.
//   dx = g sign(x) (|x| / out)^(p - 1)   (0 where out == 0)
//   p = inf: g sign(x) at the first arg-max of |x|, 0 elsewhere
void norm_forward_cpu(const Tensor& x, const Tensor& out, const DimList& dims, double p);
void norm_backward_cpu(const Tensor& x, const Tensor& out, const Tensor& g, const Tensor& dx,
                       const DimList& dims, double p);
extern KernelSlot<void(const Tensor&, const Tensor&, const DimList&, double)>
    norm_forward_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                       const DimList&, double)>
    norm_backward_kernel;

}  // namespace fovea
