// Adam and AdamW: torch.optim.Adam's and torch.optim.AdamW's rules. For each parameter p with
// gradient g, at its step t (1 on its first update):
//   Adam:   g = g + weight_decay * p             (L2 penalty folded into the gradient)
//   AdamW:  p = p * (1 - lr * weight_decay)      (decoupled weight decay)
//   m = beta1 * m + (1 - beta1) * g              state "exp_avg", zeros before step 1
//   v = beta2 * v + (1 - beta2) * g^2            state "exp_avg_sq"
//   amsgrad: v_max = max(v_max, v), used for v   state "max_exp_avg_sq"
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// eps is added to sqrt(v_hat), not inside the root. Every option may differ per group
// (optimizer.h); betas are {"betas": [beta1, beta2]} there, as in PyTorch.
#pragma once

#include <array>

#include "engine/optim/optimizer.h"

namespace fovea::optim {

struct AdamOptions {
  double lr = 1e-3;
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0;
  bool amsgrad = false;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(AdamOptions, lr, betas, eps, weight_decay, amsgrad)

// The same fields with AdamW's default weight_decay (PyTorch's 1e-2), so `AdamW(ps, {.lr = 3e-4})`
// decays as torch.optim.AdamW(ps, lr=3e-4) does.
struct AdamWOptions {
  double lr = 1e-3;
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
};

class Adam : public OptimizerWithOptions<AdamOptions> {
 public:
  explicit Adam(std::vector<Tensor> params, const AdamOptions& options = {});
  explicit Adam(const std::vector<ParamGroup>& groups, const AdamOptions& defaults = {});

  void step() override;

 protected:
  Adam(std::string name, const std::vector<ParamGroup>& groups, const AdamOptions& defaults,
       bool decoupled);
  std::vector<std::string> state_names(const nlohmann::json& options) const override;
  std::vector<std::string> all_state_names() const override;

 private:
  bool decoupled_;
};

class AdamW : public Adam {
 public:
  explicit AdamW(std::vector<Tensor> params, const AdamWOptions& options = {});
  explicit AdamW(const std::vector<ParamGroup>& groups, const AdamWOptions& defaults = {});
};

}  // namespace fovea::optim
