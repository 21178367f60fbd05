#include "support/module_check.h"

#include <doctest/doctest.h>

#include "engine/fovea.h"

namespace fovea::test {

void check_module_gradients(const std::string& name, const std::shared_ptr<nn::Module>& module,
                            const Shape& input_shape, Inputs inputs, std::vector<Layout> layouts) {
  const auto params = module->named_parameters();
  for (const auto& named : params)
    REQUIRE_MESSAGE(named.second.dtype() == DType::Float64, name, ": parameter ", named.first,
                    " is ", named.second.str(), "; gradient checks need float64");
  std::vector<Shape> shapes{input_shape};
  for (const auto& [pname, p] : params) shapes.push_back(p.shape());
  OpCase c{name, shapes, [module, params](const std::vector<Tensor>& x) {
             for (size_t i = 0; i < params.size(); ++i)
               module->replace_parameter(params[i].first, x[i + 1]);
             return (*module)(x[0]);
           }};
  c.inputs = inputs;
  c.layouts = std::move(layouts);
  check_op_cases({c});
  for (const auto& [pname, p] : params) module->replace_parameter(pname, p);
}

void check_module_directional(const std::string& name, const std::shared_ptr<nn::Module>& module,
                              const Shape& input_shape, uint64_t seed, double eps) {
  const auto params = module->named_parameters();
  Generator gen(seed);
  std::vector<Tensor> inputs{randn(input_shape, DType::Float64, &gen).set_requires_grad()};
  for (const auto& named : params) {
    const Tensor& p = named.second;
    REQUIRE_MESSAGE(p.dtype() == DType::Float64, name, ": parameter ", named.first, " is ", p.str());
    inputs.push_back(p.detach().clone().set_requires_grad());
  }
  auto fn = [&](const std::vector<Tensor>& x) {
    for (size_t i = 0; i < params.size(); ++i) module->replace_parameter(params[i].first, x[i + 1]);
    return (*module)(x[0]);
  };
  GradcheckOptions options;
  options.seed = seed;
  options.eps = eps;
  options.directions = 8;  // ReLU / max-pool kinks: a direction that crosses one is redrawn
  const GradcheckReport r = gradcheck_directional(fn, inputs, options);
  for (const auto& [pname, p] : params) module->replace_parameter(pname, p);
  INFO(name, ": ", r.summary());
  CHECK(r.ok);
}

void move_parameters(nn::Module& m, uint64_t seed, double scale) {
  Generator gen(seed);
  NoGradGuard no_grad;
  for (const auto& named : m.named_parameters()) {
    Tensor p = named.second;
    if (!is_floating(p.dtype())) continue;
    p.add_(scale * randn(p.shape(), p.dtype(), &gen).to(p.device()));
  }
}

}  // namespace fovea::test
