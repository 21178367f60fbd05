// Optimizer checkpoints: state_dict() names and meta; a run resumed from a saved state into a
// fresh optimizer over copies of the parameters ends bit-identical to the uninterrupted run
// (SGD with momentum, Adam, AdamW with amsgrad, under a schedule); load_state_dict's strict
// checks, each leaving the optimizer as it was.
#include <doctest/doctest.h>

#include <functional>

#include "engine/fovea.h"

using namespace fovea;
using namespace fovea::optim;
using nlohmann::json;

namespace {

using MakeOptimizer =
    std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&, double lr)>;

// Two groups: w [2, 3] alone, then b [3] and c [2]; c only gets a gradient on odd steps, so
// parameters have different step counts.
std::vector<ParamGroup> groups_of(const std::vector<Tensor>& p, double lr) {
  return {{.params = {p[0]}, .options = {{"lr", lr}}},
          {.params = {p[1], p[2]}, .options = {{"lr", lr / 2}, {"weight_decay", 0.0}}}};
}

std::vector<Tensor> make_params() {
  return {from_values({0.5, -1, 2, 0.25, -0.75, 1.5}, {2, 3}).set_requires_grad(),
          from_values({1, -2, 0.5}, {3}).set_requires_grad(),
          from_values({-0.5, 0.3}, {2}).set_requires_grad()};
}

std::vector<Tensor> copies(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const Tensor& p : params) out.push_back(p.detach().clone().set_requires_grad());
  return out;
}

// Global step `t`: the lr from a one-cycle schedule (pure in t), gradients that depend on the
// parameters (loss sum(p^3) / 3 + sum(p)), then the update.
void train_step(Optimizer& opt, const std::vector<Tensor>& params, int64_t t) {
  static const OneCycleLR schedule(12);
  schedule.apply(opt, t);
  opt.zero_grad();
  Tensor loss = zeros({});
  for (size_t i = 0; i < params.size(); ++i) {
    if (i == 2 && t % 2 == 0) continue;
    const Tensor& p = params[i];
    loss = loss + sum(p * p * p) / 3.0 + sum(p);
  }
  loss.backward();
  opt.step();
}

void check_resume(const MakeOptimizer& make) {
  const std::vector<Tensor> params = make_params();
  const auto original = make(params, 0.05);
  for (int64_t t = 0; t < 5; ++t) train_step(*original, params, t);
  const OptimizerState saved = original->state_dict();
  const std::vector<Tensor> resumed_params = copies(params);
  for (int64_t t = 5; t < 12; ++t) train_step(*original, params, t);

  // Another lr: the saved options and initial lrs replace it.
  const auto resumed = make(resumed_params, 0.7);
  resumed->load_state_dict(saved);
  CHECK(resumed->initial_lr(0) == 0.05);
  CHECK(resumed->initial_lr(1) == 0.025);
  CHECK(resumed->state_dict().meta == saved.meta);
  for (int64_t t = 5; t < 12; ++t) train_step(*resumed, resumed_params, t);

  for (size_t i = 0; i < params.size(); ++i) {
    CAPTURE(i);
    CHECK(params[i].to_vector<float>() == resumed_params[i].to_vector<float>());
    CHECK(original->state(i).step == resumed->state(i).step);
    for (const auto& [name, t] : original->state(i).tensors)
      CHECK(t.to_vector<float>() == resumed->state(i).tensors.at(name).to_vector<float>());
  }
  CHECK(original->state(0).step == 12);
  CHECK(original->state(2).step == 6);
  CHECK(resumed->state_dict().meta == original->state_dict().meta);
}

std::unique_ptr<Optimizer> make_sgd(const std::vector<Tensor>& p, double lr = 0.05) {
  return std::make_unique<SGD>(groups_of(p, lr),
                               SGDOptions{.momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
}

std::unique_ptr<Optimizer> make_adam(const std::vector<Tensor>& p, double lr = 0.05) {
  return std::make_unique<Adam>(groups_of(p, lr), AdamOptions{.weight_decay = 1e-2});
}

std::unique_ptr<Optimizer> make_adamw(const std::vector<Tensor>& p, double lr = 0.05) {
  return std::make_unique<AdamW>(groups_of(p, lr), AdamWOptions{.amsgrad = true});
}

// A trained Adam and its state, for the error cases.
struct Trained {
  std::vector<Tensor> params = make_params();
  std::unique_ptr<Optimizer> opt = make_adam(params);
  OptimizerState state;
  Trained() {
    for (int64_t t = 0; t < 3; ++t) train_step(*opt, params, t);
    state = opt->state_dict();
  }
};

}  // namespace

TEST_CASE("optimizer state: names, meta and snapshot copies") {
  Trained tr;
  const OptimizerState& s = tr.state;
  std::vector<std::string> names;
  for (const auto& [name, t] : s.tensors) names.push_back(name);
  // parameter 2 got a gradient at step 1 only
  CHECK(names == std::vector<std::string>{"state.0.exp_avg", "state.0.exp_avg_sq",
                                          "state.1.exp_avg", "state.1.exp_avg_sq",
                                          "state.2.exp_avg", "state.2.exp_avg_sq"});
  CHECK(s.meta["type"] == "Adam");
  CHECK(s.meta["version"] == 1);
  CHECK(s.meta["steps"] == json{3, 3, 1});
  CHECK(s.meta["groups"][1]["params"] == json{1, 2});
  CHECK(s.meta["groups"][1]["initial_lr"] == 0.025);
  CHECK(s.meta["groups"][1]["options"]["weight_decay"] == 0.0);
  // beta1 as the one-cycle schedule set it before the last step
  CHECK(s.meta["groups"][0]["options"]["betas"] == json{*OneCycleLR(12).momentum_at(2), 0.999});
  CHECK(s.meta["groups"][0]["options"]["lr"] == tr.opt->lr(0));
  // copies: changing the live state leaves the saved one as it was
  const std::vector<float> before = s.tensors[0].second.to_vector<float>();
  train_step(*tr.opt, tr.params, 3);
  CHECK(s.tensors[0].second.to_vector<float>() == before);
  CHECK(!s.tensors[0].second.same(tr.opt->state(0).tensors.at("exp_avg")));
}

TEST_CASE("optimizer state: a resumed SGD (Nesterov momentum) run is bit-identical") {
  check_resume(&make_sgd);
}

TEST_CASE("optimizer state: a resumed Adam run is bit-identical") {
  check_resume(&make_adam);
}

TEST_CASE("optimizer state: a resumed AdamW (amsgrad) run is bit-identical") {
  check_resume(&make_adamw);
}

TEST_CASE("optimizer state: loading copies, parameters are untouched") {
  Trained tr;
  const std::vector<Tensor> params = copies(tr.params);
  const std::vector<float> p0 = params[0].to_vector<float>();
  const auto opt = make_adam(params, 0.5);
  opt->load_state_dict(tr.state);
  CHECK(params[0].to_vector<float>() == p0);
  CHECK(opt->initial_lr(1) == 0.025);
  const Tensor loaded = opt->state(0).tensors.at("exp_avg");
  CHECK(!loaded.same(tr.state.tensors[0].second));
  const std::vector<float> kept = loaded.to_vector<float>();
  {
    NoGradGuard no_grad;
    tr.state.tensors[0].second.fill_(7);
  }
  CHECK(opt->state(0).tensors.at("exp_avg").to_vector<float>() == kept);
  // Loading again copies into the same state tensors.
  opt->load_state_dict(opt->state_dict());
  CHECK(opt->state(0).tensors.at("exp_avg").same(loaded));
}

TEST_CASE("optimizer state: load_state_dict is strict and changes nothing on error") {
  Trained tr;
  const auto target = make_adam(copies(tr.params), 0.5);
  train_step(*target, target->params(), 0);
  const OptimizerState before = target->state_dict();
  auto fails = [&](const OptimizerState& s, const std::string& message) {
    CAPTURE(message);
    CHECK_THROWS_WITH_AS(target->load_state_dict(s), doctest::Contains(message.c_str()), Error);
    const OptimizerState after = target->state_dict();
    CHECK(after.meta == before.meta);
    REQUIRE(after.tensors.size() == before.tensors.size());
    for (size_t k = 0; k < after.tensors.size(); ++k)
      CHECK(after.tensors[k].second.to_vector<float>() == before.tensors[k].second.to_vector<float>());
  };
  auto edited = [&](const std::function<void(OptimizerState&)>& edit) {
    OptimizerState s = tr.state;
    edit(s);
    return s;
  };
  const std::string who = "Adam: load_state_dict: ";

  // another optimizer type, another parameter layout
  {
    const std::vector<Tensor> p = copies(tr.params);
    const auto sgd = make_sgd(p);
    train_step(*sgd, p, 0);
    fails(sgd->state_dict(), who + "the state is of a SGD optimizer, not Adam");
    const auto adam1 = std::make_unique<Adam>(copies(tr.params));
    fails(adam1->state_dict(), who + "the state has 1 parameter groups, Adam has 2");
    const auto regrouped = std::make_unique<Adam>(std::vector<ParamGroup>{
        {.params = {p[0], p[1]}}, {.params = {p[2]}}});
    fails(regrouped->state_dict(), who + "group 0 holds parameters [0,1] in the state, [0] here");
  }
  fails(edited([](OptimizerState& s) { s.meta["version"] = 2; }),
        who + "state version 2 is not the supported 1");
  fails(edited([](OptimizerState& s) { s.meta.erase("type"); }), who + "meta has no \"type\"");
  fails(edited([](OptimizerState& s) { s.meta["steps"] = json{3, 3}; }),
        who + "the state has 2 step counts, Adam has 3 parameters");
  fails(edited([](OptimizerState& s) { s.meta["steps"][1] = -1; }),
        who + "the step count of parameter 1 is -1");
  // options: invalid, unknown, missing
  fails(edited([](OptimizerState& s) { s.meta["groups"][1]["options"]["eps"] = 0; }),
        "Adam: eps must be > 0, got 0");
  fails(edited([](OptimizerState& s) { s.meta["groups"][0]["options"]["momentum"] = 0.9; }),
        "Adam: group 0: unknown option 'momentum'");
  fails(edited([](OptimizerState& s) { s.meta["groups"][0]["options"].erase("amsgrad"); }),
        who + "group 0 of the state has no option 'amsgrad'");
  fails(edited([](OptimizerState& s) { s.meta["groups"][0].erase("initial_lr"); }),
        who + "group 0 has no number \"initial_lr\"");
  // tensors: shape, dtype, names, indices, missing and surplus state
  fails(edited([](OptimizerState& s) { s.tensors[2].second = zeros({4}); }),
        who + "tensor 'state.1.exp_avg' is float32[4] but parameter 1 is float32[3]");
  fails(edited([](OptimizerState& s) { s.tensors[2].second = zeros({3}, DType::Float64); }),
        who + "tensor 'state.1.exp_avg' is float64[3] but parameter 1 is float32[3]");
  fails(edited([](OptimizerState& s) { s.tensors[0].first = "state.0.momentum_buffer"; }),
        who + "tensor 'state.0.momentum_buffer': Adam has no state 'momentum_buffer'");
  fails(edited([](OptimizerState& s) { s.tensors[0].first = "exp_avg.0"; }),
        who + "tensor 'exp_avg.0' is not named state.<parameter index>.<name>");
  fails(edited([](OptimizerState& s) { s.tensors[0].first = "state.x.exp_avg"; }),
        "is not named state.<parameter index>.<name>");
  fails(edited([](OptimizerState& s) { s.tensors[0].first = "state.7.exp_avg"; }),
        who + "tensor 'state.7.exp_avg' is for parameter 7, Adam has 3 parameters");
  fails(edited([](OptimizerState& s) { s.tensors[1].first = "state.0.exp_avg"; }),
        who + "tensor 'state.0.exp_avg' appears twice");
  fails(edited([](OptimizerState& s) { s.tensors.erase(s.tensors.begin() + 3); }),
        who + "parameter 1 was stepped 3 times but the state has no tensor 'state.1.exp_avg_sq'");
  fails(edited([](OptimizerState& s) { s.meta["steps"][2] = 0; }),
        who + "parameter 2 has state tensors ('exp_avg') but a step count of 0");
  fails(edited([](OptimizerState& s) { s.meta["groups"][0]["options"]["amsgrad"] = true; }),
        who + "parameter 0 was stepped 3 times but the state has no tensor 'state.0.max_exp_avg_sq'");
  // and the unedited state loads
  target->load_state_dict(tr.state);
  CHECK(target->state_dict().meta == tr.state.meta);
}
