// Dropout (PyTorch's nn.Dropout): in training, zeroes each element with probability p and
// scales the rest by 1/(1-p) (inverted dropout); the identity in eval mode.
// Masks come from `generator` when given (reproducible runs), else the default generator.
#pragma once

#include "engine/core/random.h"
#include "layers/module.h"

namespace fovea::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* generator = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const double p;

 private:
  Generator* generator_;
};

}  // namespace fovea::nn
