#include "engine/ops/loss.h"

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/cross_entropy.h"
#include "engine/cpu/index.h"
#include "engine/ops/binary.h"
#include "engine/ops/mac_count.h"
#include "engine/ops/reduce.h"

namespace fovea {

namespace {

// Both losses see their input as rows [M, K] and the target as [M], whatever the rank.
struct ClassRows {
  Tensor rows;       // [M, K]; a view of the input (a copy when the class axis is not last)
  Tensor target;     // [M] int64
  Shape loss_shape;  // the target's shape: that of the unreduced loss
  int64_t m = 0;
};

void check_targets(const Tensor& target, int64_t k, const char* op) {
  if (!target.device().is_cpu()) {
    // On a device the bounds kernel checks every target and brings back one position (8
    // bytes); only when a target is out of range does the host look at all of them below, to
    // name the first bad one in the loss's own words.
    try {
      index_bounds_kernel(target.device(), target, k, 1, op);
      return;
    } catch (const Error&) {
    }
  }
  const std::vector<int64_t> v = target.to(Device::cpu()).to_vector<int64_t>();
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] >= 0 && v[i] < k) continue;
    FOVEA_FAIL(op, ": target value ", v[i], " at index ",
               shape_str(unravel_index(int64_t(i), target.shape())),
               " is out of range for ", k, " classes (expected 0 <= target < ", k, ")");
  }
}

ClassRows class_rows(const Tensor& input, const Tensor& target, Reduction reduction,
                     const char* op, const char* input_name) {
  check_float(input, op);
  check_defined(target, op);
  FOVEA_CHECK(target.dtype() == DType::Int64, op, ": target must hold int64 class indices, got ",
              target.str());
  check_same_device(input, target, op);
  FOVEA_CHECK(input.dim() >= 1, op, ": ", input_name, " ", input.str(),
              " has no class axis (expected [N, K, ...] or [K])");
  Shape expected;
  if (input.dim() >= 2) {
    expected.push_back(input.size(0));
    expected.insert(expected.end(), input.shape().begin() + 2, input.shape().end());
  }
  FOVEA_CHECK(target.shape() == expected, op, ": target ", target.str(), " does not match ",
              input_name, " ", input.str(), " (expected target shape ", shape_str(expected),
              ", the ", input_name, " shape without the class axis 1)");
  const int64_t k = input.dim() == 1 ? input.size(0) : input.size(1);
  const int64_t m = shape_numel(expected);
  FOVEA_CHECK(reduction != Reduction::Mean || m > 0, op, ": the mean over an empty target ",
              target.str(), " is undefined (use Reduction::Sum or Reduction::None)");
  check_targets(target, k, op);
  Tensor moved = input;
  if (input.dim() > 2) {
    std::vector<int64_t> order = {0};
    for (int64_t d = 2; d < input.dim(); ++d) order.push_back(d);
    order.push_back(1);
    moved = input.permute(order);
  }
  return {moved.reshape({m, k}), target.reshape({m}), expected, m};
}

// The upstream gradient of each row's loss, from the gradient of the (reduced) output.
Tensor row_grads(const Tensor& g, Reduction reduction, int64_t m) {
  if (reduction == Reduction::None) return g;
  const Tensor scaled = reduction == Reduction::Mean ? g / double(m) : g;
  return scaled.reshape({1}).expand({m});
}

// The op's output from the per-row losses (which carry no history): reduced, or as is.
Tensor reduce_losses(const Tensor& losses, Reduction reduction) {
  if (reduction == Reduction::None) return losses;
  NoGradGuard no_grad;
  Tensor total = sum(losses);
  if (reduction == Reduction::Mean) total.mul_(1.0 / double(losses.numel()));
  return total;
}

// The recorded output in the caller's shape: None gives one loss per target element.
Tensor finish(Tensor out, const ClassRows& c, Reduction reduction) {
  return reduction == Reduction::None ? out.reshape(c.loss_shape) : out;
}

class CrossEntropyBackward final : public Node {
 public:
  CrossEntropyBackward(Reduction reduction, double eps) : reduction_(reduction), eps_(eps) {}
  std::string name() const override { return "CrossEntropyBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor z = z_.unpack(*this), target = target_.unpack(*this), lse = lse_.unpack(*this);
    Tensor dz = empty(z.shape(), z.dtype(), z.device());
    cross_entropy_backward_kernel(z.device(), z, target, lse,
                                  row_grads(grads[0], reduction_, z.size(0)), dz, eps_);
    return {dz};
  }
  void release_saved() override {
    z_.reset();
    target_.reset();
    lse_.reset();
  }
  SavedTensor z_, target_, lse_;

 private:
  Reduction reduction_;
  double eps_;
};

class NllLossBackward final : public Node {
 public:
  explicit NllLossBackward(Reduction reduction) : reduction_(reduction) {}
  std::string name() const override { return "NllLossBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor target = target_.unpack(*this);
    const TensorMeta& x = input_meta(0);
    Tensor dx = empty(x.shape, x.dtype, x.device);
    nll_loss_backward_kernel(x.device, target, row_grads(grads[0], reduction_, x.shape[0]), dx);
    return {dx};
  }
  void release_saved() override { target_.reset(); }
  SavedTensor target_;

 private:
  Reduction reduction_;
};

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction,
                     double label_smoothing) {
  FOVEA_CHECK(label_smoothing >= 0 && label_smoothing <= 1,
              "cross_entropy: label_smoothing must lie in [0, 1], got ", label_smoothing);
  const ClassRows c = class_rows(logits, target, reduction, "cross_entropy", "logits");
  Tensor losses = empty({c.m}, logits.dtype(), logits.device());
  Tensor lse = empty({c.m}, DType::Float64, logits.device());
  count_softmax(c.rows.numel());  // its fused log-softmax (engine/ops/mac_count.h)
  cross_entropy_forward_kernel(logits.device(), c.rows, c.target, losses, lse, label_smoothing);
  Tensor out = reduce_losses(losses, reduction);
  if (auto node = make_node<CrossEntropyBackward>({c.rows}, reduction, label_smoothing)) {
    node->z_ = SavedTensor(c.rows);
    node->target_ = SavedTensor(c.target);
    node->lse_ = SavedTensor(lse);
    set_history(out, node);
  }
  return finish(out, c, reduction);
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction) {
  const ClassRows c = class_rows(log_probs, target, reduction, "nll_loss", "log_probs");
  Tensor losses = empty({c.m}, log_probs.dtype(), log_probs.device());
  nll_loss_forward_kernel(log_probs.device(), c.rows, c.target, losses);
  Tensor out = reduce_losses(losses, reduction);
  if (auto node = make_node<NllLossBackward>({c.rows}, reduction)) {
    node->target_ = SavedTensor(c.target);
    set_history(out, node);
  }
  return finish(out, c, reduction);
}

}  // namespace fovea
