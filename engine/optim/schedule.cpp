#include "engine/optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace fovea::optim {

namespace {

// Milestones must be > 0 and strictly increasing.
void check_milestones(const std::string& who, const std::vector<int64_t>& milestones) {
  for (size_t k = 0; k < milestones.size(); ++k) {
    FOVEA_CHECK(milestones[k] > 0, who, ": milestones must be > 0, got ", milestones[k],
                " at position ", k);
    FOVEA_CHECK(k == 0 || milestones[k] > milestones[k - 1], who,
                ": milestones must be strictly increasing, got ", milestones[k - 1], " then ",
                milestones[k]);
  }
}

// How many milestones are <= step (Python's bisect_right).
int64_t passed(const std::vector<int64_t>& milestones, int64_t step) {
  return std::upper_bound(milestones.begin(), milestones.end(), step) - milestones.begin();
}

}  // namespace

// ---- Schedule ------------------------------------------------------------------------------------

void Schedule::check_step(int64_t step) const {
  FOVEA_CHECK(step >= 0, name_, ": step must be >= 0, got ", step);
}

double Schedule::lr_at(int64_t step, double base_lr) const {
  check_step(step);
  return compute_lr(step, base_lr);
}

std::optional<double> Schedule::momentum_at(int64_t step) const {
  check_step(step);
  return compute_momentum(step);
}

void Schedule::apply(Optimizer& opt, int64_t step) const {
  const std::optional<double> momentum = momentum_at(step);
  for (size_t g = 0; g < opt.num_groups(); ++g) {
    nlohmann::json changes = {{"lr", lr_at(step, opt.initial_lr(g))}};
    if (momentum) {
      const nlohmann::json options = opt.group_options(g);
      if (options.contains("betas")) {
        changes["betas"] = options["betas"];
        changes["betas"][0] = *momentum;
      } else {
        FOVEA_CHECK(options.contains("momentum"), name_, ": cycling the momentum needs an ",
                    "optimizer with 'momentum' or 'betas', ", opt.name(), " has neither");
        changes["momentum"] = *momentum;
      }
    }
    opt.set_group_options(g, changes);
  }
}

// ---- StepLR, MultiStepLR ----------------------------------------------------------------------------

StepLR::StepLR(int64_t step_size, double gamma)
    : Schedule("StepLR"), step_size_(step_size), gamma_(gamma) {
  FOVEA_CHECK(step_size > 0, "StepLR: step_size must be > 0, got ", step_size);
  FOVEA_CHECK(gamma > 0, "StepLR: gamma must be > 0, got ", gamma);
}

double StepLR::compute_lr(int64_t step, double base_lr) const {
  return base_lr * std::pow(gamma_, static_cast<double>(step / step_size_));
}

MultiStepLR::MultiStepLR(std::vector<int64_t> milestones, double gamma)
    : Schedule("MultiStepLR"), milestones_(std::move(milestones)), gamma_(gamma) {
  FOVEA_CHECK(!milestones_.empty(), "MultiStepLR: needs at least one milestone");
  check_milestones("MultiStepLR", milestones_);
  FOVEA_CHECK(gamma > 0, "MultiStepLR: gamma must be > 0, got ", gamma);
}

double MultiStepLR::compute_lr(int64_t step, double base_lr) const {
  return base_lr * std::pow(gamma_, static_cast<double>(passed(milestones_, step)));
}

// ---- CosineAnnealingLR, LinearLR ------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(int64_t T_max, double eta_min)
    : Schedule("CosineAnnealingLR"), T_max_(T_max), eta_min_(eta_min) {
  FOVEA_CHECK(T_max > 0, "CosineAnnealingLR: T_max must be > 0, got ", T_max);
  FOVEA_CHECK(eta_min >= 0, "CosineAnnealingLR: eta_min must be >= 0, got ", eta_min);
}

double CosineAnnealingLR::compute_lr(int64_t step, double base_lr) const {
  const double t = static_cast<double>(step), T = static_cast<double>(T_max_);
  return eta_min_ + (base_lr - eta_min_) * (1 + std::cos(std::numbers::pi * t / T)) / 2;
}

LinearLR::LinearLR(double start_factor, double end_factor, int64_t total_iters)
    : Schedule("LinearLR"), start_(start_factor), end_(end_factor), total_(total_iters) {
  FOVEA_CHECK(start_factor > 0 && start_factor <= 1,
              "LinearLR: start_factor must lie in (0, 1], got ", start_factor);
  FOVEA_CHECK(end_factor >= 0 && end_factor <= 1, "LinearLR: end_factor must lie in [0, 1], got ",
              end_factor);
  FOVEA_CHECK(total_iters > 0, "LinearLR: total_iters must be > 0, got ", total_iters);
}

double LinearLR::compute_lr(int64_t step, double base_lr) const {
  const double done = static_cast<double>(std::min(step, total_)) / static_cast<double>(total_);
  return base_lr * (start_ + (end_ - start_) * done);
}

// ---- SequentialLR, warmup_then ----------------------------------------------------------------------

SequentialLR::SequentialLR(std::vector<SchedulePtr> schedules, std::vector<int64_t> milestones)
    : Schedule("SequentialLR"), schedules_(std::move(schedules)), milestones_(std::move(milestones)) {
  FOVEA_CHECK(!schedules_.empty(), "SequentialLR: needs at least one schedule");
  for (size_t k = 0; k < schedules_.size(); ++k)
    FOVEA_CHECK(schedules_[k] != nullptr, "SequentialLR: schedule ", k, " is null");
  FOVEA_CHECK(milestones_.size() + 1 == schedules_.size(), "SequentialLR: ", schedules_.size(),
              " schedules need ", schedules_.size() - 1, " milestones, got ", milestones_.size());
  check_milestones("SequentialLR", milestones_);
}

std::pair<const Schedule*, int64_t> SequentialLR::active(int64_t step) const {
  const int64_t k = passed(milestones_, step);
  return {schedules_[k].get(), k == 0 ? step : step - milestones_[k - 1]};
}

double SequentialLR::compute_lr(int64_t step, double base_lr) const {
  const auto [schedule, local] = active(step);
  return schedule->lr_at(local, base_lr);
}

std::optional<double> SequentialLR::compute_momentum(int64_t step) const {
  const auto [schedule, local] = active(step);
  return schedule->momentum_at(local);
}

SchedulePtr warmup_then(int64_t warmup_steps, double start_factor, SchedulePtr then) {
  FOVEA_CHECK(warmup_steps >= 0, "warmup_then: the warm-up length must be >= 0, got ",
              warmup_steps);
  FOVEA_CHECK(then != nullptr, "warmup_then: the schedule after the warm-up is null");
  if (warmup_steps == 0) return then;
  return std::make_shared<SequentialLR>(
      std::vector<SchedulePtr>{std::make_shared<LinearLR>(start_factor, 1.0, warmup_steps),
                               std::move(then)},
      std::vector<int64_t>{warmup_steps});
}

// ---- OneCycleLR -------------------------------------------------------------------------------------

OneCycleLR::OneCycleLR(int64_t total_steps, const OneCycleOptions& o)
    : Schedule("OneCycleLR"), total_steps_(total_steps), o_(o) {
  FOVEA_CHECK(total_steps > 0, "OneCycleLR: total_steps must be > 0, got ", total_steps);
  FOVEA_CHECK(o.pct_start >= 0 && o.pct_start <= 1, "OneCycleLR: pct_start must lie in [0, 1], got ",
              o.pct_start);
  FOVEA_CHECK(o.div_factor > 0, "OneCycleLR: div_factor must be > 0, got ", o.div_factor);
  FOVEA_CHECK(o.final_div_factor > 0, "OneCycleLR: final_div_factor must be > 0, got ",
              o.final_div_factor);
  FOVEA_CHECK(!o.cycle_momentum || (o.base_momentum >= 0 && o.max_momentum >= 0),
              "OneCycleLR: base_momentum and max_momentum must be >= 0, got ", o.base_momentum,
              " and ", o.max_momentum);
  // PyTorch's phase boundaries, in its float arithmetic.
  const double T = static_cast<double>(total_steps), up = o.pct_start * T;
  const double lo = o.base_momentum, hi = o.max_momentum;
  if (o.three_phase)
    phases_ = {{up - 1, kInitial, kMax, hi, lo},
               {2 * o.pct_start * T - 2, kMax, kInitial, lo, hi},
               {T - 1, kInitial, kMin, hi, hi}};
  else
    phases_ = {{up - 1, kInitial, kMax, hi, lo}, {T - 1, kMax, kMin, lo, hi}};
  double start = 0;
  for (size_t k = 0; k < phases_.size(); ++k) {
    // Every phase can be reached, and PyTorch divides by zero in one of no length.
    FOVEA_CHECK(phases_[k].end_step != start, "OneCycleLR: phase ", k + 1,
                " has no length with pct_start ", o.pct_start, " and total_steps ", total_steps);
    start = phases_[k].end_step;
  }
}

std::pair<const OneCycleLR::Phase*, double> OneCycleLR::locate(int64_t step) const {
  FOVEA_CHECK(step <= total_steps_, "OneCycleLR: step ", step, " is past total_steps ",
              total_steps_);
  const double t = static_cast<double>(step);
  double start = 0;
  for (size_t k = 0;; ++k) {
    const Phase& phase = phases_[k];
    if (t <= phase.end_step || k + 1 == phases_.size())
      return {&phase, (t - start) / (phase.end_step - start)};
    start = phase.end_step;
  }
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (o_.anneal_cos) return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1);
  return (end - start) * pct + start;
}

double OneCycleLR::compute_lr(int64_t step, double base_lr) const {
  const double initial = base_lr / o_.div_factor;
  const double level[] = {initial, base_lr, initial / o_.final_div_factor};
  const auto [phase, pct] = locate(step);
  return anneal(level[phase->start_lr], level[phase->end_lr], pct);
}

std::optional<double> OneCycleLR::compute_momentum(int64_t step) const {
  if (!o_.cycle_momentum) return std::nullopt;
  const auto [phase, pct] = locate(step);
  return anneal(phase->start_momentum, phase->end_momentum, pct);
}

}  // namespace fovea::optim
