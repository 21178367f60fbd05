// Learning-rate schedules: values by hand for each, per-group bases, purity (the lr depends on
// the step alone, so a resumed run gets the same), momentum cycling, errors. The PyTorch
// sequences are in test_optim_fixtures.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "engine/fovea.h"

using namespace fovea;
using namespace fovea::optim;

namespace {

void check_lrs(const Schedule& s, double base, const std::vector<std::pair<int64_t, double>>& want) {
  for (const auto& entry : want) {
    const int64_t step = entry.first;
    CAPTURE(step);
    CHECK(s.lr_at(step, base) == doctest::Approx(entry.second).epsilon(1e-14));
  }
}

}  // namespace

TEST_CASE("StepLR and MultiStepLR: gamma per step_size steps, per milestone passed") {
  check_lrs(StepLR(3, 0.5), 0.1,
            {{0, 0.1}, {2, 0.1}, {3, 0.05}, {5, 0.05}, {6, 0.025}, {9, 0.0125}});
  check_lrs(StepLR(1), 2.0, {{0, 2.0}, {1, 0.2}, {2, 0.02}});
  check_lrs(MultiStepLR({2, 5}, 0.1), 1.0, {{0, 1}, {1, 1}, {2, 0.1}, {4, 0.1}, {5, 0.01}, {50, 0.01}});
}

TEST_CASE("CosineAnnealingLR: half a cosine from base to eta_min over T_max, periodic after") {
  check_lrs(CosineAnnealingLR(4, 0.1), 1.0,
            {{0, 1.0}, {2, 0.55}, {4, 0.1}, {6, 0.55}, {8, 1.0}});
  check_lrs(CosineAnnealingLR(3), 0.6, {{1, 0.6 * (1 + std::cos(std::numbers::pi / 3)) / 2}});
}

TEST_CASE("LinearLR and warmup_then: linear warm-up, then the next schedule from its step 0") {
  check_lrs(LinearLR(0.5, 1, 4), 0.2, {{0, 0.1}, {2, 0.15}, {4, 0.2}, {10, 0.2}});
  check_lrs(LinearLR(1, 0, 2), 0.2, {{0, 0.2}, {1, 0.1}, {2, 0}, {3, 0}});
  const SchedulePtr s = warmup_then(4, 0.25, std::make_shared<CosineAnnealingLR>(4));
  check_lrs(*s, 1.0, {{0, 0.25}, {1, 0.4375}, {3, 0.8125}, {4, 1.0}, {6, 0.5}, {8, 0.0}});
  const SchedulePtr cosine = std::make_shared<CosineAnnealingLR>(4);
  CHECK(warmup_then(0, 0.25, cosine) == cosine);
  // SequentialLR with three parts: each counts its own steps from its milestone.
  const SequentialLR seq({std::make_shared<LinearLR>(0.5, 1, 2), std::make_shared<StepLR>(1, 0.5),
                          std::make_shared<CosineAnnealingLR>(2)},
                         {2, 4});
  check_lrs(seq, 1.0, {{0, 0.5}, {1, 0.75}, {2, 1.0}, {3, 0.5}, {4, 1.0}, {5, 0.5}, {6, 0.0}});
}

TEST_CASE("OneCycleLR: up from max/25 to max at pct_start, down to max/25e4, momentum opposite") {
  const OneCycleLR s(10);  // the peak is at step 0.3 * 10 - 1 = 2, the floor at step 9
  check_lrs(s, 1.0, {{0, 0.04}, {1, 1 + (0.04 - 1) / 2}, {2, 1.0}, {9, 4e-6}});
  // step 10 = total_steps is still valid (PyTorch's last scheduler.step()), 11 is not
  CHECK(s.lr_at(10, 1.0) > 4e-6);
  CHECK_THROWS_WITH_AS(s.lr_at(11, 1.0),
                       doctest::Contains("OneCycleLR: step 11 is past total_steps 10"), Error);
  CHECK(*s.momentum_at(0) == doctest::Approx(0.95).epsilon(1e-15));
  CHECK(*s.momentum_at(2) == doctest::Approx(0.85).epsilon(1e-15));
  CHECK(*s.momentum_at(9) == doctest::Approx(0.95).epsilon(1e-15));
  CHECK(!OneCycleLR(10, {.cycle_momentum = false}).momentum_at(3).has_value());
  const OneCycleLR lin(4, {.pct_start = 0.5, .anneal_cos = false, .div_factor = 10,
                           .final_div_factor = 10});
  // up over steps 0..1 (0.1 -> 1), down over 1..3 (1 -> 0.01)
  check_lrs(lin, 1.0, {{0, 0.1}, {1, 1.0}, {2, 0.505}, {3, 0.01}});
}

TEST_CASE("Schedule::apply: every group from its own initial lr, momentum or beta1 cycled") {
  Tensor a = zeros({1}, DType::Float64).set_requires_grad();
  Tensor b = zeros({1}, DType::Float64).set_requires_grad();
  SGD sgd({{.params = {a}}, {.params = {b}, .options = {{"lr", 0.01}}}}, {.lr = 0.1});
  const StepLR step(2, 0.1);
  step.apply(sgd, 2);
  CHECK(sgd.lr(0) == doctest::Approx(0.01).epsilon(1e-15));
  CHECK(sgd.lr(1) == doctest::Approx(0.001).epsilon(1e-15));
  // Pure in the step: going back (a resumed run) gives the step's lr, not a product of calls.
  step.apply(sgd, 0);
  CHECK(sgd.lr(0) == 0.1);
  CHECK(sgd.lr(1) == 0.01);
  CHECK_THROWS_WITH_AS(step.apply(sgd, -1), doctest::Contains("StepLR: step must be >= 0, got -1"),
                       Error);

  // OneCycleLR turns SGD's momentum on even from 0, as PyTorch does, and sets Adam's beta1.
  const OneCycleLR cycle(10);
  cycle.apply(sgd, 2);
  CHECK(sgd.options(0).momentum == doctest::Approx(0.85).epsilon(1e-15));
  CHECK(sgd.options(1).momentum == doctest::Approx(0.85).epsilon(1e-15));
  CHECK(sgd.lr(1) == doctest::Approx(0.01).epsilon(1e-15));
  Adam adam({a}, {.lr = 0.1, .betas = {0.9, 0.99}});
  cycle.apply(adam, 0);
  CHECK(adam.options().betas[0] == doctest::Approx(0.95).epsilon(1e-15));
  CHECK(adam.options().betas[1] == 0.99);
  CHECK(adam.lr() == doctest::Approx(0.004).epsilon(1e-15));
  // Inside a SequentialLR the momentum comes from the part that is active.
  const SequentialLR seq({std::make_shared<LinearLR>(0.5, 1, 3), std::make_shared<OneCycleLR>(10)},
                         {3});
  CHECK(!seq.momentum_at(2).has_value());
  CHECK(*seq.momentum_at(5) == *cycle.momentum_at(2));
}

TEST_CASE("schedules: invalid arguments") {
  auto linear = std::make_shared<LinearLR>();
  CHECK_THROWS_WITH_AS(StepLR(0), doctest::Contains("StepLR: step_size must be > 0, got 0"), Error);
  CHECK_THROWS_WITH_AS(StepLR(2, 0), doctest::Contains("StepLR: gamma must be > 0, got 0"), Error);
  CHECK_THROWS_WITH_AS(MultiStepLR({}), doctest::Contains("MultiStepLR: needs at least one milestone"),
                       Error);
  CHECK_THROWS_WITH_AS(MultiStepLR({5, 2}),
                       doctest::Contains("MultiStepLR: milestones must be strictly increasing, got 5 then 2"),
                       Error);
  CHECK_THROWS_WITH_AS(MultiStepLR({3, 3}), doctest::Contains("strictly increasing, got 3 then 3"),
                       Error);
  CHECK_THROWS_WITH_AS(MultiStepLR({0, 4}),
                       doctest::Contains("MultiStepLR: milestones must be > 0, got 0 at position 0"),
                       Error);
  CHECK_THROWS_WITH_AS(MultiStepLR({2}, -0.1), doctest::Contains("MultiStepLR: gamma must be > 0"),
                       Error);
  CHECK_THROWS_WITH_AS(CosineAnnealingLR(0),
                       doctest::Contains("CosineAnnealingLR: T_max must be > 0, got 0"), Error);
  CHECK_THROWS_WITH_AS(CosineAnnealingLR(5, -1e-3),
                       doctest::Contains("CosineAnnealingLR: eta_min must be >= 0, got -0.001"), Error);
  CHECK_THROWS_WITH_AS(LinearLR(0), doctest::Contains("LinearLR: start_factor must lie in (0, 1], got 0"),
                       Error);
  CHECK_THROWS_WITH_AS(LinearLR(1.5), doctest::Contains("start_factor must lie in (0, 1], got 1.5"),
                       Error);
  CHECK_THROWS_WITH_AS(LinearLR(0.5, 1.2), doctest::Contains("LinearLR: end_factor must lie in [0, 1], got 1.2"),
                       Error);
  CHECK_THROWS_WITH_AS(LinearLR(0.5, 1, 0), doctest::Contains("LinearLR: total_iters must be > 0, got 0"),
                       Error);
  CHECK_THROWS_WITH_AS(SequentialLR({linear, linear}, {}),
                       doctest::Contains("SequentialLR: 2 schedules need 1 milestones, got 0"), Error);
  CHECK_THROWS_WITH_AS(SequentialLR({linear, linear, linear}, {4, 2}),
                       doctest::Contains("SequentialLR: milestones must be strictly increasing"), Error);
  CHECK_THROWS_WITH_AS(SequentialLR({linear, nullptr}, {3}),
                       doctest::Contains("SequentialLR: schedule 1 is null"), Error);
  CHECK_THROWS_WITH_AS(SequentialLR({}, {}), doctest::Contains("SequentialLR: needs at least one schedule"),
                       Error);
  CHECK_THROWS_WITH_AS(warmup_then(-1, 0.1, linear),
                       doctest::Contains("warmup_then: the warm-up length must be >= 0, got -1"), Error);
  CHECK_THROWS_WITH_AS(warmup_then(3, 0, linear),
                       doctest::Contains("LinearLR: start_factor must lie in (0, 1], got 0"), Error);
  CHECK_THROWS_WITH_AS(warmup_then(3, 0.1, nullptr),
                       doctest::Contains("warmup_then: the schedule after the warm-up is null"), Error);
  CHECK_THROWS_WITH_AS(OneCycleLR(0), doctest::Contains("OneCycleLR: total_steps must be > 0, got 0"),
                       Error);
  CHECK_THROWS_WITH_AS(OneCycleLR(10, {.pct_start = 1.5}),
                       doctest::Contains("OneCycleLR: pct_start must lie in [0, 1], got 1.5"), Error);
  CHECK_THROWS_WITH_AS(OneCycleLR(10, {.div_factor = 0}),
                       doctest::Contains("OneCycleLR: div_factor must be > 0, got 0"), Error);
  CHECK_THROWS_WITH_AS(OneCycleLR(10, {.final_div_factor = -1}),
                       doctest::Contains("OneCycleLR: final_div_factor must be > 0, got -1"), Error);
  CHECK_THROWS_WITH_AS(OneCycleLR(10, {.base_momentum = -0.1}),
                       doctest::Contains("OneCycleLR: base_momentum and max_momentum must be >= 0"),
                       Error);
  // pct_start * total_steps = 1: the rise has no length (PyTorch divides by zero at step 0)
  CHECK_THROWS_WITH_AS(OneCycleLR(10, {.pct_start = 0.1}),
                       doctest::Contains("OneCycleLR: phase 1 has no length with pct_start 0.1 and "
                                         "total_steps 10"),
                       Error);
  CHECK_THROWS_WITH_AS(OneCycleLR(10, {.pct_start = 1}), doctest::Contains("phase 2 has no length"),
                       Error);
  CHECK_THROWS_WITH_AS(CosineAnnealingLR(5).lr_at(-2, 0.1),
                       doctest::Contains("CosineAnnealingLR: step must be >= 0, got -2"), Error);
}
