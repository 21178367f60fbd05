// Reductions over any set of dims, with PyTorch's semantics. `dims` empty means every dim;
// negative dims count from the end; a dim listed twice is an error; keepdim leaves each reduced
// dim in place with size 1. Inputs are float32 or float64 of any layout; float32 accumulates in
// double. n below is the number of elements in one reduced slice, g the upstream gradient
// broadcast back over the reduced dims.
//
// Max-type reductions send the gradient to ONE element per slice, the first in row-major order
// of the slice that holds the result (attention-spec §0.6), and let NaN win: a slice holding a
// NaN reduces to NaN, at its first NaN. (PyTorch's amax/amin split the gradient evenly among
// ties instead; max/min(dim) and argmax/argmin agree with PyTorch.)
#pragma once

#include <vector>

#include "engine/core/tensor.h"

namespace fovea {

// y = sum_{dims} x.            dx = g
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// y = sum_{dims} x / n.        dx = g / n.   Error when n == 0.
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);

// Sums x down to `shape`, the inverse of broadcasting `shape` up to x.shape(): the leading
// extra dims and every dim where shape has 1 are summed. Returns x itself when the shapes match.
Tensor sum_to(const Tensor& x, const Shape& shape);

// y = max_{dims} x (min).      dx = g at the slice's first arg-max (arg-min), 0 elsewhere.
// Error when n == 0.
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);

// torch.max(x, dim) / torch.min(x, dim): values as amax/amin over `dim`, and indices (int64,
// same shape) the first position along `dim` holding each value. The gradient of values
// scatters g to indices; indices carry no gradient. A 0-d x takes dim 0 or -1.
struct MaxResult {
  Tensor values;
  Tensor indices;
};
MaxResult max(const Tensor& x, int64_t dim, bool keepdim = false);
MaxResult min(const Tensor& x, int64_t dim, bool keepdim = false);
// The indices of max/min alone (int64, never differentiable).
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);

// torch.var: y = sum_{dims} (x - mean)^2 / (n - correction).
//   dx = g * 2 (x - mean) / (n - correction)
// correction 1 (default) is the unbiased estimate, 0 the biased one. When n - correction <= 0
// the divisor is 0, as in PyTorch: y is inf (nan where every element equals the mean) and so
// is the gradient; nothing throws. Error when n == 0.
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1,
           bool keepdim = false);
// torch.std (named stddev: fovea::std would hide namespace std inside fovea):
// y = sqrt(var(x, dims, correction)).   dx = dvar(g / (2 y)), 0 where y == 0 (as PyTorch).
Tensor stddev(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1,
              bool keepdim = false);

// y = m + log sum_{dims} exp(x - m), m the slice max (stable for large |x|).
//   dx = g * exp(x - y)   (the softmax of the slice)
// An all -inf slice gives -inf (its gradient is nan, as in PyTorch); a slice holding +inf gives
// +inf; an empty slice gives -inf.
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);

// p-norm over dims, p >= 1 or p = +inf (std::numeric_limits<double>::infinity()):
//   y = (sum_{dims} |x|^p)^(1/p)     dx = g sign(x) |x|^(p-1) / y^(p-1)   (p = 2: g x / y)
//   y = max_{dims} |x|  (p = inf)    dx = g sign(x) at the slice's first arg-max of |x|
// dx = 0 where y == 0. An empty slice has norm 0 (p = inf: error). Error for other p.
Tensor norm(const Tensor& x, double p = 2, const std::vector<int64_t>& dims = {},
            bool keepdim = false);

}  // namespace fovea
