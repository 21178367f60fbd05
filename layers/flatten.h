// Flatten: merges dims start_dim..end_dim into one (PyTorch's nn.Flatten, default start_dim = 1
// so the batch dim stays): [N, C, H, W] -> [N, C*H*W]. A view when the strides allow it.
#pragma once

#include "layers/module.h"

namespace fovea::nn {

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1);
  Tensor forward(const Tensor& x) override { return x.flatten(start_dim, end_dim); }
  std::string extra_repr() const override;

  const int64_t start_dim, end_dim;
};

}  // namespace fovea::nn
