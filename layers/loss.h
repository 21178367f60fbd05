// CrossEntropyLoss: PyTorch's nn.CrossEntropyLoss(label_smoothing, reduction) as a module that
// takes (logits, target). The math is engine/ops/loss.h's cross_entropy:
//   q = (1 - eps) onehot(target) + eps / K,  loss_i = -sum_k q_k log softmax(logits_i)_k
//   reduced by mean (default), sum or none;  dlogits = (softmax(logits) - q) / N for the mean.
//   logits float [N, K], target int64 [N] in [0, K).
#pragma once

#include "engine/ops/loss.h"
#include "layers/module.h"

namespace fovea::nn {

class CrossEntropyLoss : public Module {
 public:
  explicit CrossEntropyLoss(double label_smoothing = 0.0, Reduction reduction = Reduction::Mean);

  Tensor forward(const Tensor& logits, const Tensor& target) const;
  Tensor operator()(const Tensor& logits, const Tensor& target) const {
    return forward(logits, target);
  }
  using Module::forward;  // the one-input form stays (and says it needs two inputs)
  std::string extra_repr() const override;

  const double label_smoothing;
  const Reduction reduction;
};

}  // namespace fovea::nn
