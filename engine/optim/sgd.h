// SGD with momentum, dampening, weight decay and Nesterov momentum: torch.optim.SGD's rule.
// For each parameter p with gradient g, at step t:
//   d = g + weight_decay * p
//   if momentum != 0:
//     b = d                                         (t = 1)
//     b = momentum * b + (1 - dampening) * d        (t > 1)
//     d = nesterov ? d + momentum * b : b
//   p = p - lr * d
// The momentum buffer b is the state "momentum_buffer" of each parameter.
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

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0, double weight_decay = 0,
      double dampening = 0, bool nesterov = false);
  SGD(std::vector<Tensor> params, const SGDOptions& options);

  void step() override;
  const SGDOptions& options() const { return options_; }

 private:
  SGDOptions options_;
};

}  // namespace fovea::optim
