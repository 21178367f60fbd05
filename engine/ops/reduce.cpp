#include "engine/ops/reduce.h"

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/reduce.h"
#include "engine/ops/binary.h"

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

Tensor sum_forward(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor out = empty(reduced_shape(x.shape(), dims, keepdim), x.dtype(), x.device());
  sum_kernel(x.device(), x, out, dims);
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_float(x, "sum");
  const std::vector<int64_t> dims = normalize_dims(dims_in, x.shape(), "sum");
  Tensor out = sum_forward(x, dims, keepdim);
  if (auto node = make_node<SumBackward>({x}, dims)) set_history(out, node);
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_float(x, "mean");
  const std::vector<int64_t> dims = normalize_dims(dims_in, x.shape(), "mean");
  int64_t n = 1;
  for (int64_t d : dims) n *= x.shape()[d];
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

}  // namespace fovea
