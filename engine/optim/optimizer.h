// Optimizer: the base of the parameter-update rules (SGD now; Adam/AdamW later).
//
// It holds the parameters it updates, a learning rate that schedules read and set between steps,
// and a per-parameter state: named tensors (SGD's "momentum_buffer", Adam's "exp_avg" and
// "exp_avg_sq") plus a step count, created lazily on the first step that sees a gradient.
// step() updates in place under NoGradGuard; parameters whose grad is undefined are skipped
// (they did not take part in the last backward), as in PyTorch.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/core/tensor.h"

namespace fovea::optim {

struct ParamState {
  std::map<std::string, Tensor> tensors;
  int64_t step = 0;  // updates applied to this parameter
};

class Optimizer {
 public:
  // `name` starts every error message ("SGD: ..."). Parameters must be distinct float leaves
  // that require grad; lr must be >= 0.
  Optimizer(std::string name, std::vector<Tensor> params, double lr);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;
  void zero_grad();  // every parameter's grad becomes undefined

  double lr() const { return lr_; }
  void set_lr(double lr);
  const std::vector<Tensor>& params() const { return params_; }
  const std::string& name() const { return name_; }
  // The state of params()[i] (empty until a step touched it).
  const ParamState& state(size_t i) const;

 protected:
  ParamState& mutable_state(size_t i);

 private:
  std::string name_;
  std::vector<Tensor> params_;
  std::vector<ParamState> state_;
  double lr_;
};

}  // namespace fovea::optim
