#include "engine/optim/adam.h"

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/optim/kernels.h"

namespace fovea::optim {

namespace {

void check_adam(const std::string& name, const AdamOptions& o) {
  for (int k = 0; k < 2; ++k)
    FOVEA_CHECK(o.betas[k] >= 0 && o.betas[k] < 1, name, ": beta", k + 1,
                " must lie in [0, 1), got ", o.betas[k]);
  FOVEA_CHECK(o.eps > 0, name, ": eps must be > 0, got ", o.eps);
  FOVEA_CHECK(o.weight_decay >= 0, name, ": weight_decay must be >= 0, got ", o.weight_decay);
}

AdamOptions as_adam(const AdamWOptions& o) {
  return {o.lr, o.betas, o.eps, o.weight_decay, o.amsgrad};
}

std::vector<ParamGroup> one_group(std::vector<Tensor> params) { return {{std::move(params)}}; }

}  // namespace

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options)
    : Adam(one_group(std::move(params)), options) {}

Adam::Adam(const std::vector<ParamGroup>& groups, const AdamOptions& defaults)
    : Adam("Adam", groups, defaults, false) {}

Adam::Adam(std::string name, const std::vector<ParamGroup>& groups, const AdamOptions& defaults,
           bool decoupled)
    : OptimizerWithOptions(std::move(name), groups, defaults, &check_adam),
      decoupled_(decoupled) {}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& options)
    : AdamW(one_group(std::move(params)), options) {}

AdamW::AdamW(const std::vector<ParamGroup>& groups, const AdamWOptions& defaults)
    : Adam("AdamW", groups, as_adam(defaults), true) {}

std::vector<std::string> Adam::state_names(const nlohmann::json& options) const {
  if (options.at("amsgrad").get<bool>()) return all_state_names();
  return {"exp_avg", "exp_avg_sq"};
}

std::vector<std::string> Adam::all_state_names() const {
  return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
}

void Adam::step() {
  NoGradGuard no_grad;
  for (size_t group = 0; group < num_groups(); ++group) {
    const AdamOptions& o = options(group);
    for (size_t i : group_params(group)) {
      const Tensor g = grad_for_update(i);
      if (!g.defined()) continue;
      const Tensor& p = params()[i];
      ParamState& st = mutable_state(i);
      // A missing buffer starts at zero: on the first step, or for max_exp_avg_sq when amsgrad
      // was switched on later.
      auto buffer = [&](const char* name) {
        auto it = st.tensors.find(name);
        if (it == st.tensors.end()) it = st.tensors.emplace(name, zeros_like(p)).first;
        return it->second;
      };
      const Tensor m = buffer("exp_avg"), v = buffer("exp_avg_sq");
      const Tensor vmax = o.amsgrad ? buffer("max_exp_avg_sq") : Tensor();
      ++st.step;
      adam_step_kernel(p.device(), p, g, m, v, vmax,
                       {o.lr, o.betas[0], o.betas[1], o.eps, o.weight_decay, decoupled_,
                        o.amsgrad, st.step});
      p.storage()->bump_version();
    }
  }
}

}  // namespace fovea::optim
