// Grad mode: whether ops record themselves on the autograd tape. It is per thread, so a data
// loader thread never records anything.
#pragma once

namespace fovea {

class GradMode {
 public:
  static bool is_enabled();
  static void set_enabled(bool on);
};

// Turns recording off for its lifetime (evaluation, optimiser updates, gradient checking's
// perturbed forwards), restoring the previous state on exit.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace fovea
