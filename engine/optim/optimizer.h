// Optimizer: the base of the parameter-update rules (SGD, Adam, AdamW), after torch.optim.
//
// Parameters come in groups, like PyTorch's param_groups. Each group has its parameters and its
// own options: lr, weight_decay and the algorithm's own (momentum, betas, ...). A group's options
// are the optimizer's defaults overridden by the group's `options`, by PyTorch's names:
//
//   optim::SGD opt({{.params = backbone},
//                   {.params = head, .options = {{"lr", 0.1}, {"weight_decay", 0.0}}}},
//                  {.lr = 0.01, .momentum = 0.9, .weight_decay = 1e-4});
//
// A flat parameter list is one group. Each group remembers the lr it was built with
// (initial_lr, PyTorch's group["initial_lr"]); schedules (schedule.h) compute a group's lr from
// it, so groups keep their ratio.
//
// Per-parameter state: named tensors (SGD's "momentum_buffer", Adam's "exp_avg", ...) and a step
// count, created lazily on the first step that sees a gradient. step() updates in place under
// NoGradGuard; parameters whose grad is undefined are skipped (they did not take part in the last
// backward), as in PyTorch.
//
// state_dict() is a snapshot (copies) of everything a resumed run needs; load_state_dict() puts
// one back, strictly checked against this optimizer's parameters.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/tensor.h"

namespace fovea::optim {

struct ParamGroup {
  std::vector<Tensor> params;
  // Options of this group that differ from the optimizer's defaults, by name: {{"lr", 0.1}}.
  nlohmann::json options = nlohmann::json::object();
};

struct ParamState {
  std::map<std::string, Tensor> tensors;
  int64_t step = 0;  // updates applied to this parameter
};

// A checkpointable optimizer state.
//   tensors: "state.<param index>.<name>" (e.g. "state.3.momentum_buffer"), copies.
//   meta:    {"type": "SGD", "version": 1, "steps": [per-parameter step counts],
//             "groups": [{"params": [indices], "initial_lr": 0.1, "options": {"lr": ...}}]}
struct OptimizerState {
  std::vector<std::pair<std::string, Tensor>> tensors;
  nlohmann::json meta;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;
  void zero_grad();  // every parameter's grad becomes undefined

  const std::string& name() const { return name_; }
  // Every group's parameters, group after group; "parameter i" below indexes this list.
  const std::vector<Tensor>& params() const { return params_; }
  // The state of params()[i] (empty until a step touched it).
  const ParamState& state(size_t i) const;

  // ---- groups and their options --------------------------------------------------------------
  size_t num_groups() const { return groups_.size(); }
  const std::vector<size_t>& group_params(size_t group) const;  // indices into params()
  // All options of a group by name, e.g. {"lr": 0.1, "momentum": 0.9, "nesterov": false, ...}.
  virtual nlohmann::json group_options(size_t group) const = 0;
  // Changes some options of a group, the others keep their values. Unknown names, values of
  // the wrong type and invalid values are errors that change nothing.
  void set_group_options(size_t group, const nlohmann::json& changes);
  double lr() const { return lr(0); }  // the first group's
  double lr(size_t group) const;
  void set_lr(double lr);  // every group
  void set_lr(size_t group, double lr);
  double initial_lr(size_t group) const;

  // ---- checkpoints -------------------------------------------------------------------------------
  OptimizerState state_dict() const;
  // Strict: the type, the groups and their parameter indices, and every tensor's name, shape and
  // dtype must fit this optimizer; errors name what differs and change nothing. Tensors are
  // copied into this optimizer's own state; parameters are not touched.
  void load_state_dict(const OptimizerState& s);

 protected:
  // `name` starts every error message ("SGD: ..."). Parameters must be distinct float leaves
  // that require grad; the groups may not all be empty. The derived constructor then calls
  // init_options.
  Optimizer(std::string name, const std::vector<ParamGroup>& groups);
  // Every group gets the defaults (already stored by the derived class) changed by its own
  // options; records initial_lr.
  void init_options(const std::vector<ParamGroup>& groups);

  ParamState& mutable_state(size_t i);
  // params()[i]'s gradient, contiguous, for an update kernel; undefined when it has none.
  // Checks the parameter is contiguous and the gradient fits it.
  Tensor grad_for_update(size_t i) const;

  // For the derived class, from its typed options: throw when `options` (complete, by name) are
  // not valid for this optimizer; store them as a group's options.
  virtual void check_options(const nlohmann::json& options) const = 0;
  virtual void store_options(size_t group, const nlohmann::json& options) = 0;
  // The state tensors a parameter of a group with these options has once it was stepped, and
  // every name this optimizer's state may hold.
  virtual std::vector<std::string> state_names(const nlohmann::json& options) const = 0;
  virtual std::vector<std::string> all_state_names() const = 0;

 private:
  nlohmann::json merged_options(size_t group, const nlohmann::json& changes) const;

  std::string name_;
  std::vector<Tensor> params_;
  std::vector<ParamState> state_;
  std::vector<std::vector<size_t>> groups_;
  std::vector<double> initial_lr_;
};

// The options of each group held as a typed struct `Options`, which has a double `lr` and
// converts to and from JSON (NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE next to it).
template <typename Options>
class OptimizerWithOptions : public Optimizer {
 public:
  const Options& options(size_t group = 0) const {
    (void)group_params(group);  // checks the index
    return options_[group];
  }
  nlohmann::json group_options(size_t group) const override { return options(group); }

 protected:
  // Throws fovea::Error, its message starting with the optimizer's name, on invalid options.
  using Check = void (*)(const std::string& name, const Options&);

  OptimizerWithOptions(std::string name, const std::vector<ParamGroup>& groups,
                       const Options& defaults, Check check)
      : Optimizer(std::move(name), groups), options_(groups.size(), defaults), check_(check) {
    init_options(groups);
  }

  void check_options(const nlohmann::json& options) const override {
    check_(name(), options.get<Options>());
  }
  // Every caller passes what merged_options returned, which check_options has checked.
  void store_options(size_t group, const nlohmann::json& options) override {
    options_[group] = options.get<Options>();
  }

 private:
  std::vector<Options> options_;
  Check check_;
};

}  // namespace fovea::optim
