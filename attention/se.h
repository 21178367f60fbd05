// SE: Squeeze-and-Excitation (Hu et al., CVPR 2018; attention-spec §1).
//
//   s = mean_hw X                 [N, C]      squeeze
//   z = relu(s W1^T (+ b1))       [N, C/r]    W1 "fc.0.weight" [C/r, C]
//   e = sigmoid(z W2^T (+ b2))    [N, C]      W2 "fc.2.weight" [C, C/r]
//   Y = X * e[:, :, None, None]   [N, C, H, W]
// Backward (autograd through the ops): dX = dY e + (1/HW) ds broadcast over (H, W), with
// de = sum_hw dY X and the linear / relu / sigmoid rules for ds.
//
// Names as moskomule's SELayer and xmu's SEAttention: fc = Sequential(Linear, ReLU, Linear,
// Sigmoid). Options: reduction (16, the paper's), bias (false as the PyTorch references; true
// matches the Caffe / timm models). Init: PyTorch's default. Map: "channel" = e, [N, C].
#pragma once

#include "layers/attention_slot.h"
#include "layers/linear.h"
#include "layers/sequential.h"

namespace fovea::attention {

struct SEOptions {
  int64_t reduction = 16;
  bool bias = false;
};

class SE : public nn::AttentionModule {
 public:
  SE(int64_t channels, const SEOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t channels;
  const SEOptions options;
  std::shared_ptr<nn::Sequential> fc;
};

// "se" in the slot (attention/register.h): its position, options and factory.
nn::AttentionSpec se_spec();

}  // namespace fovea::attention
