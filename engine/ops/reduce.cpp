#include "engine/ops/reduce.h"

#include <cmath>
#include <functional>

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/reduce.h"
#include "engine/ops/binary.h"
#include "engine/ops/mac_count.h"

namespace fovea {

namespace {

// The gradient of a reduction seen from the input: dy reshaped with the reduced dims kept as
// size 1, then expanded (a view, no copy) to the input's shape.
Tensor expand_reduced_grad(const Tensor& dy, const Shape& in_shape,
                           const std::vector<int64_t>& dims) {
  return dy.reshape(reduced_shape(in_shape, dims, true)).expand(in_shape);
}

class SumBackward final : public Node {
 public:
  explicit SumBackward(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  std::string name() const override { return "SumBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    return {expand_reduced_grad(grads[0], input_meta(0).shape, dims_)};
  }

 private:
  std::vector<int64_t> dims_;
};

class MeanBackward final : public Node {
 public:
  MeanBackward(std::vector<int64_t> dims, int64_t n) : dims_(std::move(dims)), n_(n) {}
  std::string name() const override { return "MeanBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    return {expand_reduced_grad(grads[0] / double(n_), input_meta(0).shape, dims_)};
  }

 private:
  std::vector<int64_t> dims_;
  int64_t n_;
};

// Backward of a reduction whose input gradient one kernel computes from saved tensors and g,
// writing dx in the row layout of empty_rows(). `kernel(a, b, g, dx)` gets the two saved
// tensors (the input and the output, or the arg indices).
class ReduceBackward final : public Node {
 public:
  using Kernel = std::function<void(const Tensor& a, const Tensor& b, const Tensor& g,
                                    const Tensor& dx)>;
  ReduceBackward(std::string name, std::vector<int64_t> dims, Kernel kernel)
      : name_(std::move(name)), dims_(std::move(dims)), kernel_(std::move(kernel)) {}
  std::string name() const override { return name_; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const TensorMeta& in = input_meta(0);
    Tensor dx = empty_rows(in.shape, dims_, in.dtype, in.device);
    kernel_(a_.unpack(*this), b_.unpack(*this), grads[0], dx);
    return {dx};
  }
  void release_saved() override {
    a_.reset();
    b_.reset();
  }
  SavedTensor a_, b_;

 private:
  std::string name_;
  std::vector<int64_t> dims_;
  Kernel kernel_;
};

// Records `out` = reduction of x when x needs a gradient; a and b are saved for `kernel`.
void record(Tensor& out, const Tensor& x, const char* name, const std::vector<int64_t>& dims,
            const Tensor& a, const Tensor& b, ReduceBackward::Kernel kernel) {
  if (auto node = make_node<ReduceBackward>({x}, name, dims, std::move(kernel))) {
    node->a_ = SavedTensor(a);
    node->b_ = SavedTensor(b);
    set_history(out, node);
  }
}

std::vector<int64_t> float_dims(const Tensor& x, const std::vector<int64_t>& dims,
                                const char* op) {
  check_float(x, op);
  return normalize_dims(dims, x.shape(), op);
}

int64_t slice_numel(const Tensor& x, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= x.shape()[d];
  return n;
}

void check_nonempty(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  FOVEA_CHECK(slice_numel(x, dims) > 0, op, ": cannot reduce over an empty dim (", x.str(),
              " over dims ", shape_str(dims), ")");
}

Tensor empty_reduced(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return empty(reduced_shape(x.shape(), dims, keepdim), x.dtype(), x.device());
}

Tensor sum_forward(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor out = empty_reduced(x, dims, keepdim);
  count_reduce_reads(x.numel());
  sum_kernel(x.device(), x, out, dims);
  return out;
}

// The shared body of amax/amin/max/min/argmax/argmin; `grad_name` empty: not differentiable.
MaxResult extremum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim,
                   ExtremumKind kind, const char* op, const char* grad_name) {
  check_nonempty(x, dims, op);
  const Shape shape = reduced_shape(x.shape(), dims, keepdim);
  MaxResult r{empty(shape, x.dtype(), x.device()), empty(shape, DType::Int64, x.device())};
  count_reduce_reads(x.numel());
  extremum_forward_kernel(x.device(), x, r.values, r.indices, dims, kind);
  if (grad_name)
    record(r.values, x, grad_name, dims, Tensor(), r.indices,
           [dims](const Tensor&, const Tensor& indices, const Tensor& g, const Tensor& dx) {
             extremum_backward_kernel(dx.device(), g, indices, dx, dims);
           });
  return r;
}

// max(x, dim) and friends: one dim; a 0-d tensor accepts 0 and -1 and reduces over nothing.
std::vector<int64_t> one_dim(const Tensor& x, int64_t dim, const char* op) {
  check_float(x, op);
  if (x.dim() == 0) {
    FOVEA_CHECK(dim == 0 || dim == -1, op, ": dim ", dim, " is out of range for a 0-d tensor");
    return {};
  }
  return {normalize_dim(dim, x.shape(), op)};
}

Tensor variance(const Tensor& x, const std::vector<int64_t>& dims_in, int64_t correction,
                bool keepdim, bool take_sqrt) {
  const char* op = take_sqrt ? "stddev" : "var";
  const std::vector<int64_t> dims = float_dims(x, dims_in, op);
  check_nonempty(x, dims, op);
  Tensor out = empty_reduced(x, dims, keepdim);
  count_reduce_reads(x.numel());
  var_forward_kernel(x.device(), x, out, dims, correction, take_sqrt);
  record(out, x, take_sqrt ? "StddevBackward" : "VarBackward", dims, x, out,
         [=](const Tensor& xs, const Tensor& y, const Tensor& g, const Tensor& dx) {
           var_backward_kernel(xs.device(), xs, y, g, dx, dims, correction, take_sqrt);
         });
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const std::vector<int64_t> dims = float_dims(x, dims_in, "sum");
  Tensor out = sum_forward(x, dims, keepdim);
  if (auto node = make_node<SumBackward>({x}, dims)) set_history(out, node);
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const std::vector<int64_t> dims = float_dims(x, dims_in, "mean");
  const int64_t n = slice_numel(x, dims);
  FOVEA_CHECK(n > 0, "mean: reducing ", x.str(), " over empty dims has no mean");
  Tensor out = sum_forward(x, dims, keepdim);
  {
    NoGradGuard no_grad;
    out.mul_(1.0 / double(n));
  }
  if (auto node = make_node<MeanBackward>({x}, dims, n)) set_history(out, node);
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  FOVEA_CHECK(shape.size() <= x.shape().size(), "sum_to: cannot sum ", x.str(), " to shape ",
              shape_str(shape));
  const size_t lead = x.shape().size() - shape.size();
  std::vector<int64_t> dims;
  for (size_t d = 0; d < x.shape().size(); ++d) {
    if (d < lead) {
      dims.push_back(int64_t(d));
      continue;
    }
    const int64_t want = shape[d - lead];
    FOVEA_CHECK(want == x.shape()[d] || want == 1, "sum_to: cannot sum ", x.str(),
                " to shape ", shape_str(shape));
    if (want == 1 && x.shape()[d] != 1) dims.push_back(int64_t(d));
  }
  Tensor s = dims.empty() ? x : sum(x, dims, true);
  return s.reshape(shape);
}

Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extremum(x, float_dims(x, dims, "amax"), keepdim, ExtremumKind::Max, "amax",
                  "AmaxBackward")
      .values;
}

Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extremum(x, float_dims(x, dims, "amin"), keepdim, ExtremumKind::Min, "amin",
                  "AminBackward")
      .values;
}

MaxResult max(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum(x, one_dim(x, dim, "max"), keepdim, ExtremumKind::Max, "max", "MaxBackward");
}

MaxResult min(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum(x, one_dim(x, dim, "min"), keepdim, ExtremumKind::Min, "min", "MinBackward");
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum(x, one_dim(x, dim, "argmax"), keepdim, ExtremumKind::Max, "argmax", nullptr)
      .indices;
}

Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum(x, one_dim(x, dim, "argmin"), keepdim, ExtremumKind::Min, "argmin", nullptr)
      .indices;
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  return variance(x, dims, correction, keepdim, false);
}

Tensor stddev(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction,
              bool keepdim) {
  return variance(x, dims, correction, keepdim, true);
}

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const std::vector<int64_t> dims = float_dims(x, dims_in, "logsumexp");
  Tensor out = empty_reduced(x, dims, keepdim);
  count_reduce_reads(x.numel());
  logsumexp_forward_kernel(x.device(), x, out, dims);
  record(out, x, "LogsumexpBackward", dims, x, out,
         [dims](const Tensor& xs, const Tensor& y, const Tensor& g, const Tensor& dx) {
           logsumexp_backward_kernel(xs.device(), xs, y, g, dx, dims);
         });
  return out;
}

Tensor norm(const Tensor& x, double p, const std::vector<int64_t>& dims_in, bool keepdim) {
  const std::vector<int64_t> dims = float_dims(x, dims_in, "norm");
  FOVEA_CHECK(p >= 1, "norm: p must be >= 1 or inf, got ", p, " (for ", x.str(), ")");
  if (std::isinf(p)) check_nonempty(x, dims, "norm (p = inf)");
  Tensor out = empty_reduced(x, dims, keepdim);
  count_reduce_reads(x.numel());
  norm_forward_kernel(x.device(), x, out, dims, p);
  record(out, x, "NormBackward", dims, x, out,
         [dims, p](const Tensor& xs, const Tensor& y, const Tensor& g, const Tensor& dx) {
           norm_backward_kernel(xs.device(), xs, y, g, dx, dims, p);
         });
  return out;
}

}  // namespace fovea
