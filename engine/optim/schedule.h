// Learning-rate schedules after torch.optim.lr_scheduler, as pure functions of a step count.
//
// A schedule maps (step, base_lr) to an lr. `step` counts completed units of whatever the caller
// counts (PyTorch's last_epoch: 0 before the first unit); base_lr is a group's initial lr
// (Optimizer::initial_lr), so every group follows the same curve scaled by its own base, as
// PyTorch's schedulers do per group. apply(opt, step) sets every group's lr. Nothing is kept in
// the schedule, so a run resumed from a checkpoint that saved `step` computes the same lr:
//
//   optim::CosineAnnealingLR cosine(epochs);         // steps are epochs here
//   for (int64_t epoch = start_epoch; epoch < epochs; ++epoch) {
//     cosine.apply(opt, epoch);                       // PyTorch: the lr after `epoch` step() calls
//     for (const auto& batch : loader) { ...; opt.step(); }
//   }
//
// What a step is: StepLR, MultiStepLR, CosineAnnealingLR, LinearLR, SequentialLR and warmup_then
// count whatever they are given - epochs (apply once per epoch, as PyTorch's per-epoch
// scheduler.step()) or optimizer steps (apply before every opt.step(), with step_size,
// milestones, T_max and warm-up lengths in optimizer steps). OneCycleLR is normally given
// optimizer steps (total_steps = epochs * batches per epoch), but counts whatever it is given too.
//
// apply(opt, t) gives every group the lr that PyTorch's scheduler gives it after t calls of
// scheduler.step() (checked against PyTorch in tests/optim/test_optim_fixtures.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/optim/optimizer.h"

namespace fovea::optim {

class Schedule {
 public:
  explicit Schedule(std::string name) : name_(std::move(name)) {}
  virtual ~Schedule() = default;

  const std::string& name() const { return name_; }
  // The lr after `step` (>= 0) steps of a group whose initial lr is base_lr.
  double lr_at(int64_t step, double base_lr) const;
  // The momentum a schedule sets (OneCycleLR's cycling), or none.
  std::optional<double> momentum_at(int64_t step) const;
  // Every group's lr, and the momentum when the schedule has one: SGD's "momentum", or
  // beta1 of Adam's "betas", as PyTorch's OneCycleLR does.
  void apply(Optimizer& opt, int64_t step) const;

 protected:
  virtual double compute_lr(int64_t step, double base_lr) const = 0;
  virtual std::optional<double> compute_momentum(int64_t /*step*/) const { return std::nullopt; }

 private:
  void check_step(int64_t step) const;
  std::string name_;
};

using SchedulePtr = std::shared_ptr<const Schedule>;

// base_lr * gamma^floor(step / step_size).   step_size > 0, gamma > 0.
class StepLR : public Schedule {
 public:
  StepLR(int64_t step_size, double gamma = 0.1);

 protected:
  double compute_lr(int64_t step, double base_lr) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// base_lr * gamma^(number of milestones <= step).   milestones > 0, strictly increasing.
class MultiStepLR : public Schedule {
 public:
  MultiStepLR(std::vector<int64_t> milestones, double gamma = 0.1);

 protected:
  double compute_lr(int64_t step, double base_lr) const override;

 private:
  std::vector<int64_t> milestones_;
  double gamma_;
};

// eta_min + (base_lr - eta_min) (1 + cos(pi step / T_max)) / 2: PyTorch's closed form, so past
// T_max the lr rises again (period 2 T_max) as in PyTorch.   T_max > 0, eta_min >= 0.
class CosineAnnealingLR : public Schedule {
 public:
  explicit CosineAnnealingLR(int64_t T_max, double eta_min = 0);

 protected:
  double compute_lr(int64_t step, double base_lr) const override;

 private:
  int64_t T_max_;
  double eta_min_;
};

// base_lr * (start + (end - start) min(step, total_iters) / total_iters): the factor moves
// linearly from start_factor to end_factor over total_iters steps, then stays.
// 0 < start_factor <= 1, 0 <= end_factor <= 1, total_iters > 0 (PyTorch's defaults).
class LinearLR : public Schedule {
 public:
  explicit LinearLR(double start_factor = 1.0 / 3, double end_factor = 1.0,
                    int64_t total_iters = 5);

 protected:
  double compute_lr(int64_t step, double base_lr) const override;

 private:
  double start_, end_;
  int64_t total_;
};

// schedules[k] from milestones[k-1] on, counting its steps from 0 there, as PyTorch's
// SequentialLR. milestones: one fewer than schedules, > 0, strictly increasing.
class SequentialLR : public Schedule {
 public:
  SequentialLR(std::vector<SchedulePtr> schedules, std::vector<int64_t> milestones);

 protected:
  double compute_lr(int64_t step, double base_lr) const override;
  std::optional<double> compute_momentum(int64_t step) const override;

 private:
  // The schedule active at `step` and the step in its own count.
  std::pair<const Schedule*, int64_t> active(int64_t step) const;
  std::vector<SchedulePtr> schedules_;
  std::vector<int64_t> milestones_;
};

// Linear warm-up from start_factor * base_lr to base_lr over `warmup_steps`, then `then` counted
// from 0 at the end of the warm-up: SequentialLR({LinearLR(start_factor, 1, warmup_steps), then},
// {warmup_steps}). warmup_steps == 0 gives `then` itself.
SchedulePtr warmup_then(int64_t warmup_steps, double start_factor, SchedulePtr then);

// PyTorch's OneCycleLR with max_lr = each group's initial lr. The lr rises from
// max_lr / div_factor to max_lr over the first pct_start * total_steps - 1 steps, then falls to
// max_lr / (div_factor * final_div_factor) at step total_steps - 1 (three_phase: back down to
// max_lr / div_factor at 2 pct_start total_steps - 2 first). Steps 0 .. total_steps are valid,
// as in PyTorch. With cycle_momentum the momentum moves the opposite way between max_momentum
// and base_momentum (SGD's momentum, Adam's beta1); PyTorch's defaults throughout.
struct OneCycleOptions {
  double pct_start = 0.3;
  bool anneal_cos = true;  // false: linear
  double div_factor = 25;
  double final_div_factor = 1e4;
  bool three_phase = false;
  bool cycle_momentum = true;
  double base_momentum = 0.85;
  double max_momentum = 0.95;
};

class OneCycleLR : public Schedule {
 public:
  explicit OneCycleLR(int64_t total_steps, const OneCycleOptions& options = {});

 protected:
  double compute_lr(int64_t step, double base_lr) const override;
  std::optional<double> compute_momentum(int64_t step) const override;

 private:
  enum Level { kInitial, kMax, kMin };  // max_lr / div_factor, max_lr, the final lr
  struct Phase {
    double end_step;
    Level start_lr, end_lr;
    double start_momentum, end_momentum;
  };
  // The phase `step` falls in and how far along it (0 .. 1, a little more at total_steps).
  std::pair<const Phase*, double> locate(int64_t step) const;
  double anneal(double start, double end, double pct) const;

  int64_t total_steps_;
  OneCycleOptions o_;
  std::vector<Phase> phases_;
};

}  // namespace fovea::optim
