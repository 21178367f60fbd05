// SGD, Adam, AdamW and every schedule against PyTorch (tests/fixtures/families/optim.py, whose
// docstring describes the cases): parameters after each of 5 steps with given gradients, groups
// with their own options, parameters without a gradient; lr and momentum sequences.
// Compared at 1e-10 relative (float64).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>

#include "engine/fovea.h"
#include "support/fixtures.h"

using namespace fovea;
using namespace fovea::optim;
using nlohmann::json;

namespace {

constexpr double kTol = 1e-10;

std::vector<json> optim_cases(bool schedules) {
  const std::string path = std::string(FOVEA_TEST_FIXTURES) + "/optim.json";
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open ", path);
  const json file = json::parse(in);
  std::vector<json> out;
  for (const json& c : file.at("cases")) {
    const std::string op = c.at("op");
    const bool is_optimizer = op == "SGD" || op == "Adam" || op == "AdamW";
    if (is_optimizer != schedules) out.push_back(c);
  }
  REQUIRE(!out.empty());
  return out;
}

bool close(double got, double want) {
  return std::abs(got - want) <= kTol * std::max(1.0, std::abs(want));
}

// The case's groups with its optimizer keyword arguments folded into each group's options, so
// the optimizer starts from fovea's defaults (AdamW's weight decay included).
std::unique_ptr<Optimizer> make_optimizer(const json& c, const std::vector<Tensor>& params) {
  const json& args = c.at("args");
  std::vector<ParamGroup> groups;
  for (const json& g : args.at("groups")) {
    ParamGroup group;
    for (size_t i : g.at("params").get<std::vector<size_t>>()) group.params.push_back(params[i]);
    group.options = args.at("defaults");
    group.options.update(g.at("options"));
    groups.push_back(group);
  }
  const std::string op = c.at("op");
  if (op == "SGD") return std::make_unique<SGD>(groups, SGDOptions{});
  if (op == "Adam") return std::make_unique<Adam>(groups);
  return std::make_unique<AdamW>(groups);
}

void run_optimizer_case(const json& c) {
  const std::string name = c.at("name");
  INFO(name);
  const json& args = c.at("args");
  std::vector<Tensor> params;
  for (const json& p : args.at("params")) params.push_back(test::fixture_tensor(p).set_requires_grad());
  const auto opt = make_optimizer(c, params);
  std::vector<int64_t> expected_steps(params.size(), 0);
  const json& grads = args.at("grads");
  for (size_t s = 0; s < grads.size(); ++s) {
    for (size_t i = 0; i < params.size(); ++i) {
      const json& g = grads[s][i];
      params[i].set_grad(g.is_null() ? Tensor() : test::fixture_tensor(g));
      expected_steps[i] += !g.is_null();
    }
    opt->step();
    for (size_t i = 0; i < params.size(); ++i)
      test::check_close(params[i], test::fixture_tensor(args.at("expected")[s][i]), kTol,
                        name + ": step " + std::to_string(s + 1) + ", parameter " +
                            std::to_string(i));
  }
  for (size_t i = 0; i < params.size(); ++i) CHECK(opt->state(i).step == expected_steps[i]);
}

SchedulePtr make_schedule(const json& c) {
  const std::string op = c.at("op");
  const json& a = c.at("args").at("schedule");
  if (op == "StepLR") return std::make_shared<StepLR>(a.at("step_size"), a.at("gamma"));
  if (op == "MultiStepLR") return std::make_shared<MultiStepLR>(a.at("milestones"), a.at("gamma"));
  if (op == "CosineAnnealingLR")
    return std::make_shared<CosineAnnealingLR>(a.at("T_max"), a.at("eta_min"));
  if (op == "LinearLR")
    return std::make_shared<LinearLR>(a.at("start_factor"), a.at("end_factor"),
                                      a.at("total_iters"));
  if (op == "WarmupCosine")
    return warmup_then(a.at("warmup"), a.at("start_factor"),
                       std::make_shared<CosineAnnealingLR>(a.at("T_max"), a.at("eta_min")));
  REQUIRE(op == "OneCycleLR");
  OneCycleOptions o;
  o.pct_start = a.value("pct_start", o.pct_start);
  o.anneal_cos = a.value("anneal_cos", o.anneal_cos);
  o.div_factor = a.value("div_factor", o.div_factor);
  o.final_div_factor = a.value("final_div_factor", o.final_div_factor);
  o.three_phase = a.value("three_phase", o.three_phase);
  o.cycle_momentum = a.value("cycle_momentum", o.cycle_momentum);
  o.base_momentum = a.value("base_momentum", o.base_momentum);
  o.max_momentum = a.value("max_momentum", o.max_momentum);
  return std::make_shared<OneCycleLR>(a.at("total_steps"), o);
}

void run_schedule_case(const json& c, const Schedule& schedule) {
  const std::string name = c.at("name");
  INFO(name);
  const json& args = c.at("args");
  const std::vector<double> base = args.at("base_lrs");
  std::vector<ParamGroup> groups;
  for (double lr : base)
    groups.push_back({{zeros({1}, DType::Float64).set_requires_grad()}, {{"lr", lr}}});
  std::unique_ptr<Optimizer> opt;
  if (args.at("optimizer") == "SGD")
    opt = std::make_unique<SGD>(groups, SGDOptions{.momentum = 0.9});
  else
    opt = std::make_unique<Adam>(groups);
  const json& lrs = args.at("lrs");
  for (int64_t t = 0; t < static_cast<int64_t>(lrs.size()); ++t) {
    CAPTURE(t);
    bool negative = false;
    for (size_t g = 0; g < base.size(); ++g) {
      const double want = lrs[t][g];
      const double got = schedule.lr_at(t, base[g]);
      CHECK_MESSAGE(close(got, want), "group ", g, ": lr ", got, ", PyTorch ", want);
      negative |= want < 0;
    }
    if (negative) {
      // PyTorch extrapolates past the last phase at step total_steps; an optimizer refuses it.
      CHECK_THROWS_WITH_AS(schedule.apply(*opt, t), doctest::Contains("learning rate must be >= 0"),
                           Error);
      continue;
    }
    schedule.apply(*opt, t);
    for (size_t g = 0; g < base.size(); ++g) {
      CHECK(close(opt->lr(g), lrs[t][g]));
      CHECK(opt->initial_lr(g) == base[g]);
    }
    if (args.contains("momenta")) {
      const json options = opt->group_options(0);
      const double got = options.contains("betas") ? options["betas"][0].get<double>()
                                                   : options["momentum"].get<double>();
      const double want = args["momenta"][t];
      CHECK_MESSAGE(close(got, want), "momentum ", got, ", PyTorch ", want);
      CHECK(schedule.momentum_at(t).has_value());
    } else {
      CHECK(!schedule.momentum_at(t).has_value());
    }
  }
}

}  // namespace

TEST_CASE("optimizer fixtures: SGD, Adam and AdamW match PyTorch step by step") {
  const std::vector<json> cases = optim_cases(false);
  CHECK(cases.size() >= 15);
  for (const json& c : cases) run_optimizer_case(c);
}

TEST_CASE("schedule fixtures: every schedule's lr (and momentum) sequence matches PyTorch") {
  const std::vector<json> cases = optim_cases(true);
  CHECK(cases.size() >= 9);
  for (const json& c : cases) {
    run_schedule_case(c, *make_schedule(c));
    if (c.at("op") == "WarmupCosine") {
      // The same curve spelled as PyTorch spells it.
      const json& a = c.at("args").at("schedule");
      const SequentialLR seq(
          {std::make_shared<LinearLR>(a.at("start_factor"), 1.0, a.at("warmup")),
           std::make_shared<CosineAnnealingLR>(a.at("T_max"), a.at("eta_min"))},
          {a.at("warmup").get<int64_t>()});
      run_schedule_case(c, seq);
    }
  }
}
