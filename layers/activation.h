// Activation modules: parameter-free wrappers of the element-wise ops in engine/ops/unary.h,
// named as in PyTorch's torch.nn. Formulas and derivatives: engine/ops/unary_functors.h.
//   ReLU        max(x, 0)                 Sigmoid     1 / (1 + e^-x)
//   Tanh        tanh(x)                   ReLU6       min(max(x, 0), 6)
//   Hardsigmoid relu6(x + 3) / 6          Hardswish   x * relu6(x + 3) / 6
//   SiLU        x * sigmoid(x)            GELU        x * Phi(x) (exact erf form)
#pragma once

#include "layers/module.h"

namespace fovea::nn {

// One module per function; each activation below only names its op.
class Activation : public Module {
 public:
  using Fn = Tensor (*)(const Tensor&);
  Activation(std::string type_name, Fn fn) : Module(std::move(type_name)), fn_(fn) {}
  Tensor forward(const Tensor& x) override { return fn_(x); }

 private:
  Fn fn_;
};

class ReLU : public Activation { public: ReLU(); };
class Sigmoid : public Activation { public: Sigmoid(); };
class Tanh : public Activation { public: Tanh(); };
class ReLU6 : public Activation { public: ReLU6(); };
class Hardsigmoid : public Activation { public: Hardsigmoid(); };
class Hardswish : public Activation { public: Hardswish(); };
class SiLU : public Activation { public: SiLU(); };
class GELU : public Activation { public: GELU(); };

}  // namespace fovea::nn
