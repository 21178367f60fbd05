#include "engine/optim/optimizer.h"

#include <unordered_set>

namespace fovea::optim {

Optimizer::Optimizer(std::string name, std::vector<Tensor> params, double lr)
    : name_(std::move(name)), params_(std::move(params)), state_(params_.size()), lr_(0) {
  FOVEA_CHECK(!params_.empty(), name_, ": got an empty parameter list");
  std::unordered_set<const TensorImpl*> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    FOVEA_CHECK(p.defined(), name_, ": parameter ", i, " is undefined");
    FOVEA_CHECK(is_floating(p.dtype()) && p.is_leaf() && p.requires_grad(), name_, ": parameter ",
                i, " (", p.str(), ") must be a float leaf tensor that requires grad");
    FOVEA_CHECK(seen.insert(p.impl_ptr().get()).second, name_, ": parameter ", i,
                " appears more than once in the parameter list");
  }
  set_lr(lr);
}

void Optimizer::set_lr(double lr) {
  FOVEA_CHECK(lr >= 0, name_, ": learning rate must be >= 0, got ", lr);
  lr_ = lr;
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.set_grad(Tensor());
}

const ParamState& Optimizer::state(size_t i) const {
  FOVEA_CHECK(i < state_.size(), name_, ": no parameter ", i, " (", state_.size(), " in all)");
  return state_[i];
}

ParamState& Optimizer::mutable_state(size_t i) { return const_cast<ParamState&>(state(i)); }

}  // namespace fovea::optim
