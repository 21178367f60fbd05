// SGD with momentum, dampening, weight decay and Nesterov momentum: torch.optim.SGD's rule.
// For each parameter p with gradient g, at step t:
//   d = g + weight_decay * p
//   if momentum != 0:
//     b = d                                         (t = 1)
//     b = momentum * b + (1 - dampening) * d        (t > 1)
//     d = nesterov ? d + momentum * b : b
//   p = p - lr * d
// The momentum buffer b is the state "momentum_buffer" of each parameter. Every option may
// differ per group (optimizer.h); to keep biases and norm parameters out of the weight decay,
// build the groups with nn::decay_groups (layers/param_groups.h).
#pragma once

#include "engine/optim/optimizer.h"

namespace fovea::optim {

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0;
  double weight_decay = 0;
  double dampening = 0;
  bool nesterov = false;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SGDOptions, lr, momentum, weight_decay, dampening, nesterov)

class SGD : public OptimizerWithOptions<SGDOptions> {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0, double weight_decay = 0,
      double dampening = 0, bool nesterov = false);
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  SGD(const std::vector<ParamGroup>& groups, const SGDOptions& defaults);

  void step() override;

 protected:
  std::vector<std::string> state_names(const nlohmann::json& options) const override;
  std::vector<std::string> all_state_names() const override { return {"momentum_buffer"}; }
};

}  // namespace fovea::optim
