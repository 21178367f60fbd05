#include "support/module_check.h"

#include <doctest/doctest.h>

#include <algorithm>

#include "engine/fovea.h"

namespace fovea::test {

namespace {

void check_with(const std::string& name, const std::shared_ptr<nn::Module>& module,
                const std::vector<Shape>& input_shapes, const ModuleCall& call, Inputs inputs,
                std::vector<Layout> layouts) {
  const auto params = module->named_parameters();
  for (const auto& named : params)
    REQUIRE_MESSAGE(named.second.dtype() == DType::Float64, name, ": parameter ", named.first,
                    " is ", named.second.str(), "; gradient checks need float64");
  std::vector<Shape> shapes = input_shapes;
  for (const auto& [pname, p] : params) shapes.push_back(p.shape());
  const size_t n_inputs = input_shapes.size();
  OpCase c{name, shapes, [module, params, call, n_inputs](const std::vector<Tensor>& x) {
             for (size_t i = 0; i < params.size(); ++i)
               module->replace_parameter(params[i].first, x[i + n_inputs]);
             return call(*module, std::vector<Tensor>(x.begin(), x.begin() + n_inputs));
           }};
  c.inputs = inputs;
  c.layouts = std::move(layouts);
  check_op_cases({c});
  for (const auto& [pname, p] : params) module->replace_parameter(pname, p);
}

// The call of a one-input module: module(x).
ModuleCall single_input() {
  return [](nn::Module& m, const std::vector<Tensor>& x) { return m(x[0]); };
}

}  // namespace

void check_module_gradients(const std::string& name, const std::shared_ptr<nn::Module>& module,
                            const Shape& input_shape, Inputs inputs, std::vector<Layout> layouts) {
  check_with(name, module, {input_shape}, single_input(), inputs, std::move(layouts));
}

void check_module_gradients_with(const std::string& name,
                                 const std::shared_ptr<nn::Module>& module,
                                 const std::vector<Shape>& input_shapes, const ModuleCall& call,
                                 std::vector<Layout> layouts) {
  check_with(name, module, input_shapes, call, Inputs::Normal, std::move(layouts));
}

void check_train_gradients_except(const std::string& name, const std::shared_ptr<nn::Module>& m,
                                  const Shape& shape, const std::vector<std::string>& skipped) {
  check_train_gradients_except_with(name, m, {shape}, single_input(), skipped);
}

void check_train_gradients_except_with(const std::string& name,
                                       const std::shared_ptr<nn::Module>& m,
                                       const std::vector<Shape>& input_shapes,
                                       const ModuleCall& call,
                                       const std::vector<std::string>& skipped) {
  m->train();
  check_gradients_except_with(name + " (train)", m, input_shapes, call, skipped);
}

void check_gradients_except(const std::string& name, const std::shared_ptr<nn::Module>& m,
                            const Shape& shape, const std::vector<std::string>& skipped) {
  check_gradients_except_with(name, m, {shape}, single_input(), skipped);
}

void check_gradients_except_with(const std::string& name, const std::shared_ptr<nn::Module>& m,
                                 const std::vector<Shape>& input_shapes, const ModuleCall& call,
                                 const std::vector<std::string>& skipped) {
  auto is_skipped = [&](const std::string& key) {
    return std::find(skipped.begin(), skipped.end(), key) != skipped.end();
  };
  std::vector<std::pair<std::string, Tensor>> checked;
  for (const auto& named : m->named_parameters())
    if (!is_skipped(named.first)) checked.push_back(named);
  REQUIRE(checked.size() + skipped.size() == m->named_parameters().size());
  std::vector<Shape> shapes = input_shapes;
  for (const auto& named : checked) shapes.push_back(named.second.shape());
  const size_t n_inputs = input_shapes.size();
  OpCase c{name, shapes, [m, checked, call, n_inputs](const std::vector<Tensor>& x) {
             for (size_t i = 0; i < checked.size(); ++i)
               m->replace_parameter(checked[i].first, x[i + n_inputs]);
             return call(*m, std::vector<Tensor>(x.begin(), x.begin() + n_inputs));
           }};
  c.layouts = {Layout::Contiguous, Layout::Permuted};
  check_op_cases({c});
  for (const auto& named : checked) m->replace_parameter(named.first, named.second);

  m->zero_grad();
  std::vector<Tensor> x;
  for (const Shape& s : input_shapes) x.push_back(randn(s, DType::Float64));
  const Tensor y = call(*m, x);
  y.backward(randn(y.shape(), DType::Float64));
  double largest = 0;
  for (const auto& named : checked) largest = std::max(largest, amax(abs(named.second.grad())).item());
  CHECK(largest > 1e-3);
  for (const auto& named : m->named_parameters()) {
    if (!is_skipped(named.first)) continue;
    CAPTURE(named.first);
    const Tensor g = named.second.grad();
    REQUIRE(g.defined());
    CHECK(amax(abs(g)).item() <= 1e-13 * largest);
  }
  m->zero_grad();
}

void check_module_directional(const std::string& name, const std::shared_ptr<nn::Module>& module,
                              const Shape& input_shape, uint64_t seed, double eps) {
  check_module_directional_with(name, module, {input_shape}, single_input(), seed, eps);
}

void check_module_directional_with(const std::string& name,
                                   const std::shared_ptr<nn::Module>& module,
                                   const std::vector<Shape>& input_shapes, const ModuleCall& call,
                                   uint64_t seed, double eps) {
  const auto params = module->named_parameters();
  Generator gen(seed);
  std::vector<Tensor> inputs;
  for (const Shape& s : input_shapes)
    inputs.push_back(randn(s, DType::Float64, &gen).set_requires_grad());
  for (const auto& named : params) {
    const Tensor& p = named.second;
    REQUIRE_MESSAGE(p.dtype() == DType::Float64, name, ": parameter ", named.first, " is ", p.str());
    inputs.push_back(p.detach().clone().set_requires_grad());
  }
  const size_t n_inputs = input_shapes.size();
  auto fn = [&](const std::vector<Tensor>& x) {
    for (size_t i = 0; i < params.size(); ++i)
      module->replace_parameter(params[i].first, x[i + n_inputs]);
    return call(*module, std::vector<Tensor>(x.begin(), x.begin() + n_inputs));
  };
  GradcheckOptions options;
  // The upstream weights from their own stream: drawn from `seed` as the input is, they would
  // equal it (v = x), and a residual module's loss sum x y ~ sum x^2 would be large enough for
  // its rounding to swamp the small steps a kink needs.
  options.seed = seed ^ 0x9e3779b97f4a7c15ULL;
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
