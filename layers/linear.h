// Linear: y = x W^T + b (PyTorch's nn.Linear), applied to the last dim of x.
//   x [..., in_features], weight [out_features, in_features], bias [out_features] -> y [..., out]
//   Backward (engine/ops/matmul.h, linear): dx = g W, dW = g^T x, db = sum of g over rows.
// Init as PyTorch: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)), which is kaiming_uniform with
// a = sqrt(5) for the weight.
#pragma once

#include "engine/core/random.h"
#include "layers/module.h"

namespace fovea::nn {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true,
         DType dtype = DType::Float32);

  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  // Draws weight and bias again from the default init (with `gen`, or the default generator).
  void reset_parameters(Generator* gen = nullptr);

  const int64_t in_features, out_features;
  Tensor& weight;
  Tensor& bias;  // undefined when built with bias = false
};

}  // namespace fovea::nn
