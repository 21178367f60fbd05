// Parameter groups: per-group options over the optimizer's defaults, lr and option changes
// (all or nothing), errors; nn::decay_groups on a small module and the weight decay it gives.
#include <doctest/doctest.h>

#include "engine/fovea.h"
#include "layers/linear.h"
#include "layers/param_groups.h"

using namespace fovea;
using optim::ParamGroup;
using optim::SGD;
using nlohmann::json;

namespace {

Tensor param(std::vector<double> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return from_values(v, {n}, DType::Float64).set_requires_grad();
}

// weight [2, 3], bias [2], a 0-d gate and a child Linear(3, 2): names "weight", "bias", "gate",
// "fc.weight", "fc.bias", in that order.
class Small : public nn::Module {
 public:
  Small()
      : Module("Small"),
        weight(register_parameter("weight", ones({2, 3}, DType::Float64))),
        bias(register_parameter("bias", ones({2}, DType::Float64))),
        gate(register_parameter("gate", scalar_tensor(1, DType::Float64))),
        fc(register_module("fc", std::make_shared<nn::Linear>(3, 2))) {}
  Tensor& weight;
  Tensor& bias;
  Tensor& gate;
  std::shared_ptr<nn::Linear> fc;
};

}  // namespace

TEST_CASE("param groups: each group's options are the defaults changed by its own") {
  Tensor a = param({1, 2}), b = param({3}), c = param({4});
  SGD opt({{.params = {a, b}}, {.params = {c}, .options = {{"lr", 0.5}, {"momentum", 0.0}}}},
          {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
  REQUIRE(opt.num_groups() == 2);
  CHECK(opt.params().size() == 3);
  CHECK(opt.params()[2].same(c));
  CHECK(opt.group_params(0) == std::vector<size_t>{0, 1});
  CHECK(opt.group_params(1) == std::vector<size_t>{2});
  CHECK(opt.options(0).momentum == 0.9);
  CHECK(opt.options(1).momentum == 0);
  CHECK(opt.options(1).weight_decay == 0.01);
  CHECK(opt.group_options(1) == json{{"lr", 0.5},
                                     {"momentum", 0.0},
                                     {"weight_decay", 0.01},
                                     {"dampening", 0.0},
                                     {"nesterov", false}});
  CHECK(opt.lr() == 0.1);
  CHECK(opt.lr(1) == 0.5);
  CHECK(opt.initial_lr(1) == 0.5);

  // One step with g = 1 everywhere: group 0 p -= 0.1 (1 + 0.01 p), group 1 p -= 0.5 (1 + 0.01 p).
  for (Tensor* p : {&a, &b, &c}) p->set_grad(ones_like(*p));
  opt.step();
  CHECK(a.to_vector<double>()[1] == doctest::Approx(2 - 0.1 * 1.02).epsilon(1e-15));
  CHECK(c.item() == doctest::Approx(4 - 0.5 * 1.04).epsilon(1e-15));
  CHECK(opt.state(0).tensors.count("momentum_buffer") == 1);
  CHECK(opt.state(2).tensors.empty());  // no momentum in group 1
  CHECK(opt.state(2).step == 1);
}

TEST_CASE("param groups: set_lr sets every group or one, initial_lr stays") {
  Tensor a = param({1}), b = param({2});
  SGD opt({{.params = {a}}, {.params = {b}, .options = {{"lr", 0.02}}}}, {.lr = 0.1});
  opt.set_lr(1, 0.5);
  CHECK(opt.lr(0) == 0.1);
  CHECK(opt.lr(1) == 0.5);
  opt.set_lr(0.25);
  CHECK(opt.lr(0) == 0.25);
  CHECK(opt.lr(1) == 0.25);
  CHECK(opt.initial_lr(0) == 0.1);
  CHECK(opt.initial_lr(1) == 0.02);
  // An invalid lr changes no group.
  CHECK_THROWS_WITH_AS(opt.set_lr(-1), doctest::Contains("SGD: learning rate must be >= 0, got -1"),
                       Error);
  CHECK(opt.lr(1) == 0.25);
  CHECK_THROWS_WITH_AS(opt.set_lr(1, -2), doctest::Contains("learning rate must be >= 0, got -2 (group 1)"),
                       Error);
  CHECK_THROWS_WITH_AS(opt.set_lr(2, 0.1), doctest::Contains("SGD: no parameter group 2 (2 in all)"),
                       Error);
  CHECK_THROWS_WITH_AS(opt.initial_lr(2), doctest::Contains("SGD: no parameter group 2"), Error);
}

TEST_CASE("param groups: set_group_options changes all it is given or nothing") {
  Tensor a = param({1});
  SGD opt({a}, {.lr = 0.1, .momentum = 0.9});
  opt.set_group_options(0, {{"momentum", 0.5}, {"nesterov", true}});
  CHECK(opt.options().momentum == 0.5);
  CHECK(opt.options().nesterov);
  // Nesterov with dampening is invalid: neither change is kept.
  CHECK_THROWS_WITH_AS(opt.set_group_options(0, {{"momentum", 0.8}, {"dampening", 0.5}}),
                       doctest::Contains("SGD: nesterov momentum needs momentum > 0 and dampening = 0"),
                       Error);
  CHECK(opt.options().momentum == 0.5);
  CHECK(opt.options().dampening == 0);
  CHECK_THROWS_WITH_AS(opt.set_group_options(0, {{"betas", {0.9, 0.99}}}),
                       doctest::Contains("SGD: group 0: unknown option 'betas' (SGD's options: "
                                         "dampening, lr, momentum, nesterov, weight_decay)"),
                       Error);
  CHECK_THROWS_WITH_AS(opt.set_group_options(0, {{"momentum", "high"}}),
                       doctest::Contains("SGD: group 0: option 'momentum' must have the kind of "
                                         "its default 0.5, got \"high\""),
                       Error);
  CHECK_THROWS_WITH_AS(opt.set_group_options(0, json::array({1, 2})),
                       doctest::Contains("SGD: group 0: options must be a JSON object, got [1,2]"),
                       Error);
  CHECK_THROWS_WITH_AS(opt.set_group_options(0, {{"dampening", 2.0}, {"nesterov", false}}),
                       doctest::Contains("SGD: dampening must lie in [0, 1], got 2"), Error);
}

TEST_CASE("param groups: construction errors") {
  Tensor a = param({1}), b = param({2});
  CHECK_THROWS_WITH_AS(SGD({{.params = {a}}, {.params = {b, a}}}, {}),
                       doctest::Contains("SGD: parameter 2 appears more than once"), Error);
  CHECK_THROWS_WITH_AS(SGD({{.params = {}}, {.params = {}}}, {}),
                       doctest::Contains("SGD: got an empty parameter list"), Error);
  CHECK_THROWS_WITH_AS(SGD({{.params = {a}}, {.params = {b}, .options = {{"lr", -0.5}}}}, {}),
                       doctest::Contains("SGD: learning rate must be >= 0, got -0.5 (group 1)"),
                       Error);
  CHECK_THROWS_WITH_AS(SGD({{.params = {a}, .options = {{"nesterov", true}}}}, {}),
                       doctest::Contains("SGD: nesterov momentum needs momentum > 0"), Error);
  // An empty group next to others is allowed, as in PyTorch.
  SGD opt({{.params = {}}, {.params = {a}}}, {});
  CHECK(opt.group_params(0).empty());
  CHECK(opt.group_params(1) == std::vector<size_t>{0});
}

TEST_CASE("decay_groups: biases, norm parameters and scalars (dim <= 1) get no weight decay") {
  Small m;
  const std::vector<ParamGroup> groups = nn::decay_groups(m, 0.05);
  REQUIRE(groups.size() == 2);
  // timm's order: the group without decay first
  CHECK(groups[0].options == json{{"weight_decay", 0.0}});
  CHECK(groups[1].options == json{{"weight_decay", 0.05}});
  REQUIRE(groups[0].params.size() == 3);
  CHECK(groups[0].params[0].same(m.bias));
  CHECK(groups[0].params[1].same(m.gate));
  CHECK(groups[0].params[2].same(m.fc->bias));
  REQUIRE(groups[1].params.size() == 2);
  CHECK(groups[1].params[0].same(m.weight));
  CHECK(groups[1].params[1].same(m.fc->weight));

  // no_decay by name (timm's no_weight_decay_list), and frozen parameters are left out.
  m.fc->weight.set_requires_grad(false);
  const std::vector<ParamGroup> named = nn::decay_groups(m, 0.05, {"weight"});
  CHECK(named[0].params.size() == 4);
  CHECK(named[0].params[0].same(m.weight));
  CHECK(named[1].params.empty());

  CHECK_THROWS_WITH_AS(nn::decay_groups(m, -1),
                       doctest::Contains("decay_groups: weight_decay must be >= 0, got -1"), Error);
  CHECK_THROWS_WITH_AS(nn::decay_groups(m, 0.1, {"fc.wieght"}),
                       doctest::Contains("decay_groups: Small has no parameter 'fc.wieght'"),
                       Error);
}

TEST_CASE("decay_groups: SGD and AdamW decay only the weights") {
  for (bool adamw : {false, true}) {
    CAPTURE(adamw);
    Small m;
    const Tensor fc_weight = m.fc->weight.detach().clone(), fc_bias = m.fc->bias.detach().clone();
    std::unique_ptr<optim::Optimizer> opt;
    if (adamw)
      opt = std::make_unique<optim::AdamW>(nn::decay_groups(m, 0.1), optim::AdamWOptions{.lr = 0.5});
    else
      opt = std::make_unique<SGD>(nn::decay_groups(m, 0.1), optim::SGDOptions{.lr = 0.5});
    // A zero gradient: only the decay moves anything, by p (1 - lr wd) = 0.95 p in both rules.
    for (Tensor p : m.parameters()) p.set_grad(zeros_like(p));
    opt->step();
    for (double v : m.weight.to_vector<double>()) CHECK(v == doctest::Approx(0.95).epsilon(1e-15));
    CHECK(m.bias.to_vector<double>() == std::vector<double>(2, 1.0));
    CHECK(m.gate.item() == 1.0);
    CHECK(m.fc->bias.to_vector<double>() == fc_bias.to_vector<double>());
    const std::vector<double> w = m.fc->weight.to_vector<double>(), w0 = fc_weight.to_vector<double>();
    for (size_t i = 0; i < w.size(); ++i) CHECK(w[i] == doctest::Approx(0.95 * w0[i]).epsilon(1e-6));
  }
}
