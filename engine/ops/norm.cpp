#include "engine/ops/norm.h"

#include <algorithm>
#include <functional>
#include <string>
#include <utility>

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/norm.h"

namespace fovea {

namespace {

// The backward of all three ops. Inputs {x, weight, bias} (either parameter may be undefined);
// one kernel call computes whichever of dx, dweight, dbias are needed from x, g and the saved
// statistics. The kernels are not differentiable themselves (no double backward).
class NormBackward final : public Node {
 public:
  using Kernel = std::function<void(const Tensor& x, const Tensor& g, const Tensor& mean,
                                    const Tensor& rstd, const Tensor& weight, const Tensor& dx,
                                    const Tensor& dweight, const Tensor& dbias)>;
  NormBackward(std::string name, Kernel kernel)
      : name_(std::move(name)), kernel_(std::move(kernel)) {}
  std::string name() const override { return name_; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    std::vector<Tensor> out(3);
    for (size_t i = 0; i < out.size(); ++i) {
      if (!needs_input_grad(i)) continue;
      const TensorMeta& m = input_meta(i);
      out[i] = empty(m.shape, m.dtype, m.device);
    }
    const Tensor x = x_.unpack(*this);
    kernel_(x, grads[0], mean_.unpack(*this), rstd_.unpack(*this), weight_.unpack(*this), out[0],
            out[1], out[2]);
    return out;
  }
  void release_saved() override {
    x_.reset();
    mean_.reset();
    rstd_.reset();
    weight_.reset();
  }
  SavedTensor x_, mean_, rstd_, weight_;

 private:
  std::string name_;
  Kernel kernel_;
};

// Records y = op(x, weight, bias) when any of the three needs a gradient.
void record(Tensor& y, const char* name, const Tensor& x, const Tensor& weight, const Tensor& bias,
            const Tensor& mean, const Tensor& rstd, NormBackward::Kernel kernel) {
  if (auto node = make_node<NormBackward>({x, weight, bias}, name, std::move(kernel))) {
    node->x_ = SavedTensor(x);
    node->mean_ = SavedTensor(mean);
    node->rstd_ = SavedTensor(rstd);
    node->weight_ = SavedTensor(weight);
    set_history(y, node);
  }
}

void check_channels_first(const Tensor& x, const char* op) {
  check_float(x, op);
  FOVEA_CHECK(x.dim() >= 2, op, ": expected an input of shape [N, C, *] (at least 2 dims), got ",
              x.str());
}

// An optional parameter or buffer: undefined, or of shape `expected` (`rule` says why) with
// x's dtype and device.
void check_param(const Tensor& p, const char* what, const Shape& expected, const Tensor& x,
                 const char* op, const char* rule) {
  if (!p.defined()) return;
  FOVEA_CHECK(p.dtype() == x.dtype(), op, ": ", what, " ", p.str(), " and input ", x.str(),
              " have different dtypes (convert one with .to(dtype))");
  check_same_device(p, x, op);
  FOVEA_CHECK(p.shape() == expected, op, ": ", what, " ", p.str(), " does not match input ",
              x.str(), " (expected ", what, " of shape ", shape_str(expected), ", ", rule, ")");
}

int64_t trailing_numel(const Shape& shape, size_t from) {
  int64_t n = 1;
  for (size_t i = from; i < shape.size(); ++i) n *= shape[i];
  return n;
}

}  // namespace

Tensor batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  const char* op = "batch_norm";
  check_channels_first(x, op);
  const int64_t c = x.size(1);
  const char* rule = "one value per channel, C = input dim 1";
  check_param(weight, "weight", {c}, x, op, rule);
  check_param(bias, "bias", {c}, x, op, rule);
  check_param(running_mean, "running_mean", {c}, x, op, rule);
  check_param(running_var, "running_var", {c}, x, op, rule);
  if (training) {
    FOVEA_CHECK(x.size(0) * trailing_numel(x.shape(), 2) > 1,
                "batch_norm: expected more than 1 value per channel when training, got input of "
                "shape ",
                shape_str(x.shape()));
    for (const auto& [stat, what] :
         {std::pair{&running_mean, "running_mean"}, std::pair{&running_var, "running_var"}})
      FOVEA_CHECK(!(stat->defined() && stat->requires_grad()), "batch_norm: ", what, " ",
                  stat->str(), " requires grad, but running statistics are buffers updated ",
                  "in place (create them without requires_grad)");
  } else {
    FOVEA_CHECK(running_mean.defined() && running_var.defined(),
                "batch_norm: eval mode (training = false) normalises with running_mean and "
                "running_var, but ",
                running_mean.defined() ? "running_var" : "running_mean", " is undefined (input ",
                x.str(), ")");
  }
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  Tensor mean = empty({c}, x.dtype(), x.device()), rstd = empty({c}, x.dtype(), x.device());
  batch_norm_forward_kernel(x.device(), x, weight, bias, running_mean, running_var, y, mean, rstd,
                            training, momentum, eps);
  if (training)
    for (const Tensor* stat : {&running_mean, &running_var})
      if (stat->defined()) stat->storage()->bump_version();
  record(y, "BatchNormBackward", x, weight, bias, mean, rstd,
         [training](const Tensor& xs, const Tensor& g, const Tensor& m, const Tensor& r,
                    const Tensor& w, const Tensor& dx, const Tensor& dw, const Tensor& db) {
           batch_norm_backward_kernel(xs.device(), xs, g, m, r, w, dx, dw, db, training);
         });
  return y;
}

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const char* op = "group_norm";
  check_channels_first(x, op);
  const int64_t c = x.size(1);
  FOVEA_CHECK(groups > 0, "group_norm: groups must be positive, got ", groups);
  FOVEA_CHECK(c % groups == 0, "group_norm: the ", c, " channels of input ", x.str(),
              " cannot be split into ", groups, " groups (C % groups must be 0)");
  const char* rule = "one value per channel, C = input dim 1";
  check_param(weight, "weight", {c}, x, op, rule);
  check_param(bias, "bias", {c}, x, op, rule);
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  const Shape stats{x.size(0), groups};
  Tensor mean = empty(stats, x.dtype(), x.device()), rstd = empty(stats, x.dtype(), x.device());
  group_norm_forward_kernel(x.device(), x, weight, bias, y, mean, rstd, groups, eps);
  record(y, "GroupNormBackward", x, weight, bias, mean, rstd,
         [groups](const Tensor& xs, const Tensor& g, const Tensor& m, const Tensor& r,
                  const Tensor& w, const Tensor& dx, const Tensor& dw, const Tensor& db) {
           group_norm_backward_kernel(xs.device(), xs, g, m, r, w, dx, dw, db, groups);
         });
  return y;
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  const char* op = "layer_norm";
  check_float(x, op);
  const size_t k = normalized_shape.size();
  FOVEA_CHECK(k >= 1, "layer_norm: normalized_shape must name at least one dim, got [] (input ",
              x.str(), ")");
  const std::string ns = shape_str(normalized_shape);
  FOVEA_CHECK(size_t(x.dim()) >= k && std::equal(normalized_shape.begin(), normalized_shape.end(),
                                                 x.shape().end() - int64_t(k)),
              "layer_norm: normalized_shape ", ns, " does not match the trailing dims of input ",
              x.str(), " (expected an input of shape [*, ", ns.substr(1), ")");
  const char* rule = "the normalized_shape";
  check_param(weight, "weight", normalized_shape, x, op, rule);
  check_param(bias, "bias", normalized_shape, x, op, rule);
  const int64_t d = shape_numel(normalized_shape);
  const int64_t rows = shape_numel(Shape(x.shape().begin(), x.shape().end() - int64_t(k)));
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  Tensor mean = empty({rows}, x.dtype(), x.device()), rstd = empty({rows}, x.dtype(), x.device());
  layer_norm_forward_kernel(x.device(), x, weight, bias, y, mean, rstd, d, eps);
  record(y, "LayerNormBackward", x, weight, bias, mean, rstd,
         [d](const Tensor& xs, const Tensor& g, const Tensor& m, const Tensor& r, const Tensor& w,
             const Tensor& dx, const Tensor& dw, const Tensor& db) {
           layer_norm_backward_kernel(xs.device(), xs, g, m, r, w, dx, dw, db, d);
         });
  return y;
}

}  // namespace fovea
