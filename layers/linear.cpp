#include "layers/linear.h"

#include <cmath>

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/core/init.h"
#include "engine/ops/matmul.h"

namespace fovea::nn {

namespace {
Tensor checked_weight(int64_t in, int64_t out, DType dtype) {
  FOVEA_CHECK(in > 0 && out > 0, "Linear: in_features and out_features must be positive, got ",
              in, " and ", out);
  FOVEA_CHECK(is_floating(dtype), "Linear: dtype must be float32 or float64, got ",
              dtype_name(dtype));
  return empty({out, in}, dtype);
}
}  // namespace

Linear::Linear(int64_t in, int64_t out, bool bias, DType dtype)
    : Module("Linear"),
      in_features(in),
      out_features(out),
      weight(register_parameter("weight", checked_weight(in, out, dtype))),
      bias(register_parameter("bias", bias ? empty({out}, dtype) : Tensor())) {
  reset_parameters();
}

void Linear::reset_parameters(Generator* gen) {
  // kaiming_uniform_ with a = sqrt(5) has the bound 1/sqrt(in_features); the bias uses it too.
  kaiming_uniform_(weight, std::sqrt(5.0), FanMode::FanIn, "leaky_relu", gen);
  NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(double(in_features));
  if (bias.defined()) uniform_(bias, -bound, bound, gen);
}

Tensor Linear::forward(const Tensor& x) {
  FOVEA_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == in_features, "Linear: expected input "
              "[..., ", in_features, "], got ", x.defined() ? x.str() : "undefined");
  return linear(x, weight, bias);
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) + ", out_features=" +
         std::to_string(out_features) + ", bias=" + (bias.defined() ? "True" : "False");
}

}  // namespace fovea::nn
