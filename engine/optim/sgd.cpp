#include "engine/optim/sgd.h"

#include "engine/autograd/grad_mode.h"
#include "engine/ops/binary.h"

namespace fovea::optim {

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, double weight_decay,
         double dampening, bool nesterov)
    : SGD(std::move(params), SGDOptions{lr, momentum, weight_decay, dampening, nesterov}) {}

SGD::SGD(std::vector<Tensor> params, const SGDOptions& o)
    : Optimizer("SGD", std::move(params), o.lr), options_(o) {
  FOVEA_CHECK(o.momentum >= 0, "SGD: momentum must be >= 0, got ", o.momentum);
  FOVEA_CHECK(o.weight_decay >= 0, "SGD: weight_decay must be >= 0, got ", o.weight_decay);
  FOVEA_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
              "SGD: nesterov momentum needs momentum > 0 and dampening = 0, got momentum ",
              o.momentum, " and dampening ", o.dampening);
}

void SGD::step() {
  NoGradGuard no_grad;
  const SGDOptions& o = options_;
  for (size_t i = 0; i < params().size(); ++i) {
    Tensor p = params()[i];
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    // The gradient itself is never modified: d is a new tensor whenever it differs from g.
    Tensor d = o.weight_decay != 0 ? g + p * o.weight_decay : g;
    ParamState& st = mutable_state(i);
    if (o.momentum != 0) {
      auto it = st.tensors.find("momentum_buffer");
      if (it == st.tensors.end()) {
        it = st.tensors.emplace("momentum_buffer", d.clone()).first;
      } else {
        it->second.mul_(o.momentum).add_(d, 1 - o.dampening);
      }
      const Tensor& buf = it->second;
      d = o.nesterov ? d + buf * o.momentum : buf;
    }
    p.add_(d, -lr());
    ++st.step;
  }
}

}  // namespace fovea::optim
