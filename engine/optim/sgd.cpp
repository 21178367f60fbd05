#include "engine/optim/sgd.h"

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/optim/kernels.h"

namespace fovea::optim {

namespace {

void check_sgd(const std::string& name, const SGDOptions& o) {
  FOVEA_CHECK(o.momentum >= 0, name, ": momentum must be >= 0, got ", o.momentum);
  FOVEA_CHECK(o.weight_decay >= 0, name, ": weight_decay must be >= 0, got ", o.weight_decay);
  FOVEA_CHECK(o.dampening >= 0 && o.dampening <= 1, name, ": dampening must lie in [0, 1], got ",
              o.dampening);
  FOVEA_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
              name, ": nesterov momentum needs momentum > 0 and dampening = 0, got momentum ",
              o.momentum, " and dampening ", o.dampening);
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, double weight_decay,
         double dampening, bool nesterov)
    : SGD(std::move(params), SGDOptions{lr, momentum, weight_decay, dampening, nesterov}) {}

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : SGD(std::vector<ParamGroup>{{std::move(params)}}, options) {}

SGD::SGD(const std::vector<ParamGroup>& groups, const SGDOptions& defaults)
    : OptimizerWithOptions("SGD", groups, defaults, &check_sgd) {}

std::vector<std::string> SGD::state_names(const nlohmann::json& options) const {
  if (options.at("momentum").get<double>() == 0) return {};
  return {"momentum_buffer"};
}

void SGD::step() {
  NoGradGuard no_grad;
  for (size_t group = 0; group < num_groups(); ++group) {
    const SGDOptions& o = options(group);
    for (size_t i : group_params(group)) {
      const Tensor g = grad_for_update(i);
      if (!g.defined()) continue;
      const Tensor& p = params()[i];
      ParamState& st = mutable_state(i);
      Tensor buf;
      bool first = false;
      if (o.momentum != 0) {
        auto it = st.tensors.find("momentum_buffer");
        first = it == st.tensors.end();
        if (first) it = st.tensors.emplace("momentum_buffer", empty_like(p)).first;
        buf = it->second;
      }
      sgd_step_kernel(p.device(), p, g, buf,
                      {o.lr, o.momentum, o.dampening, o.weight_decay, o.nesterov, first});
      p.storage()->bump_version();
      ++st.step;
    }
  }
}

}  // namespace fovea::optim
