#include "engine/optim/optimizer.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <unordered_set>

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"

namespace fovea::optim {

using nlohmann::json;

namespace {

constexpr int kStateVersion = 1;

// Whether `value` has the JSON kind of `like` (number, boolean, array of as many of those).
bool same_kind(const json& like, const json& value) {
  if (like.is_number()) return value.is_number();
  if (like.is_boolean()) return value.is_boolean();
  if (like.is_array()) {
    if (!value.is_array() || value.size() != like.size()) return false;
    for (size_t i = 0; i < like.size(); ++i)
      if (!same_kind(like[i], value[i])) return false;
    return true;
  }
  return like.type() == value.type();
}

std::string key_list(const json& object) {
  std::string out;
  for (const auto& [key, value] : object.items()) out += (out.empty() ? "" : ", ") + key;
  return out;
}

// "state.<index>.<name>" -> (index, name); false when the name has another form.
bool parse_state_key(const std::string& key, size_t& index, std::string& name) {
  const std::string prefix = "state.";
  if (key.compare(0, prefix.size(), prefix) != 0) return false;
  const size_t dot = key.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size() || dot + 1 == key.size()) return false;
  const std::string digits = key.substr(prefix.size(), dot - prefix.size());
  if (digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); })) return false;
  index = std::stoul(digits);
  name = key.substr(dot + 1);
  return true;
}

}  // namespace

Optimizer::Optimizer(std::string name, const std::vector<ParamGroup>& groups)
    : name_(std::move(name)), initial_lr_(groups.size(), 0) {
  std::unordered_set<const TensorImpl*> seen;
  for (const ParamGroup& group : groups) {
    groups_.emplace_back();
    for (const Tensor& p : group.params) {
      const size_t i = params_.size();
      FOVEA_CHECK(p.defined(), name_, ": parameter ", i, " is undefined");
      FOVEA_CHECK(is_floating(p.dtype()) && p.is_leaf() && p.requires_grad(), name_,
                  ": parameter ", i, " (", p.str(),
                  ") must be a float leaf tensor that requires grad");
      FOVEA_CHECK(seen.insert(p.impl_ptr().get()).second, name_, ": parameter ", i,
                  " appears more than once in the parameter list");
      groups_.back().push_back(i);
      params_.push_back(p);
    }
  }
  FOVEA_CHECK(!params_.empty(), name_, ": got an empty parameter list");
  state_.resize(params_.size());
}

void Optimizer::init_options(const std::vector<ParamGroup>& groups) {
  for (size_t g = 0; g < groups.size(); ++g) {
    set_group_options(g, groups[g].options);
    initial_lr_[g] = lr(g);
  }
}

const std::vector<size_t>& Optimizer::group_params(size_t group) const {
  FOVEA_CHECK(group < groups_.size(), name_, ": no parameter group ", group, " (", groups_.size(),
              " in all)");
  return groups_[group];
}

json Optimizer::merged_options(size_t group, const json& changes) const {
  json merged = group_options(group);
  FOVEA_CHECK(changes.is_object(), name_, ": group ", group,
              ": options must be a JSON object, got ", changes.dump());
  for (const auto& [key, value] : changes.items()) {
    FOVEA_CHECK(merged.contains(key), name_, ": group ", group, ": unknown option '", key,
                "' (", name_, "'s options: ", key_list(merged), ")");
    FOVEA_CHECK(same_kind(merged[key], value), name_, ": group ", group, ": option '", key,
                "' must have the kind of its default ", merged[key].dump(), ", got ",
                value.dump());
    merged[key] = value;
  }
  const double lr = merged.at("lr").get<double>();
  FOVEA_CHECK(lr >= 0, name_, ": learning rate must be >= 0, got ", lr, " (group ", group, ")");
  check_options(merged);
  return merged;
}

void Optimizer::set_group_options(size_t group, const json& changes) {
  store_options(group, merged_options(group, changes));
}

double Optimizer::lr(size_t group) const { return group_options(group).at("lr").get<double>(); }

void Optimizer::set_lr(double lr) {
  // Checked once first, so an invalid lr leaves every group as it was.
  FOVEA_CHECK(lr >= 0, name_, ": learning rate must be >= 0, got ", lr);
  for (size_t g = 0; g < groups_.size(); ++g) set_lr(g, lr);
}

void Optimizer::set_lr(size_t group, double lr) { set_group_options(group, {{"lr", lr}}); }

double Optimizer::initial_lr(size_t group) const {
  (void)group_params(group);
  return initial_lr_[group];
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.set_grad(Tensor());
}

const ParamState& Optimizer::state(size_t i) const {
  FOVEA_CHECK(i < state_.size(), name_, ": no parameter ", i, " (", state_.size(), " in all)");
  return state_[i];
}

ParamState& Optimizer::mutable_state(size_t i) { return const_cast<ParamState&>(state(i)); }

Tensor Optimizer::grad_for_update(size_t i) const {
  const Tensor& p = params_.at(i);
  const Tensor g = p.grad();
  if (!g.defined()) return g;
  FOVEA_CHECK(p.is_contiguous(), name_, ": parameter ", i, " (", p.str(),
              ") is not contiguous; the update kernels need contiguous parameters");
  FOVEA_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device(),
              name_, ": the gradient of parameter ", i, " (", g.str(),
              ") does not match the parameter (", p.str(), ")");
  NoGradGuard no_grad;
  return g.contiguous();
}

OptimizerState Optimizer::state_dict() const {
  NoGradGuard no_grad;
  OptimizerState s;
  json groups = json::array(), steps = json::array();
  for (size_t g = 0; g < groups_.size(); ++g)
    groups.push_back(
        {{"params", groups_[g]}, {"initial_lr", initial_lr_[g]}, {"options", group_options(g)}});
  for (size_t i = 0; i < state_.size(); ++i) {
    steps.push_back(state_[i].step);
    for (const auto& [key, t] : state_[i].tensors)
      s.tensors.emplace_back("state." + std::to_string(i) + "." + key, t.detach().clone());
  }
  s.meta = {{"type", name_}, {"version", kStateVersion}, {"groups", groups}, {"steps", steps}};
  return s;
}

void Optimizer::load_state_dict(const OptimizerState& s) {
  const std::string who = name_ + ": load_state_dict: ";
  const json& meta = s.meta;
  // ---- check everything first: nothing changes unless all of it fits ----------------------------
  FOVEA_CHECK(meta.is_object() && meta.contains("type") && meta["type"].is_string(), who,
              "meta has no \"type\" (got ", meta.dump(), ")");
  FOVEA_CHECK(meta["type"] == name_, who, "the state is of a ", meta["type"].get<std::string>(),
              " optimizer, not ", name_);
  FOVEA_CHECK(meta.value("version", json()) == kStateVersion, who, "state version ",
              meta.value("version", json()).dump(), " is not the supported ", kStateVersion);
  const json& groups = meta.value("groups", json());
  FOVEA_CHECK(groups.is_array() && groups.size() == groups_.size(), who, "the state has ",
              groups.is_array() ? std::to_string(groups.size()) : "no", " parameter groups, ",
              name_, " has ", groups_.size());
  std::vector<json> options(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) {
    const json& group = groups[g];
    FOVEA_CHECK(group.is_object() && group.value("params", json()) == json(groups_[g]), who,
                "group ", g, " holds parameters ",
                group.is_object() ? group.value("params", json()).dump() : "?", " in the state, ",
                json(groups_[g]).dump(), " here");
    FOVEA_CHECK(group.contains("initial_lr") && group["initial_lr"].is_number(), who, "group ",
                g, " has no number \"initial_lr\"");
    const json& saved = group.value("options", json());
    FOVEA_CHECK(saved.is_object(), who, "group ", g, " has no \"options\" object");
    const json current = group_options(g);
    for (const auto& [key, value] : current.items())
      FOVEA_CHECK(saved.contains(key), who, "group ", g, " of the state has no option '", key,
                  "'");
    options[g] = merged_options(g, saved);
  }
  const json& steps = meta.value("steps", json());
  FOVEA_CHECK(steps.is_array() && steps.size() == params_.size(), who, "the state has ",
              steps.is_array() ? std::to_string(steps.size()) : "no", " step counts, ", name_,
              " has ", params_.size(), " parameters");
  for (size_t i = 0; i < steps.size(); ++i)
    FOVEA_CHECK(steps[i].is_number_integer() && steps[i].get<int64_t>() >= 0, who,
                "the step count of parameter ", i, " is ", steps[i].dump());

  const std::vector<std::string> known = all_state_names();
  std::vector<std::map<std::string, Tensor>> loaded(params_.size());
  for (const auto& [key, t] : s.tensors) {
    size_t i = 0;
    std::string name;
    FOVEA_CHECK(parse_state_key(key, i, name), who, "tensor '", key,
                "' is not named state.<parameter index>.<name>");
    FOVEA_CHECK(i < params_.size(), who, "tensor '", key, "' is for parameter ", i, ", ", name_,
                " has ", params_.size(), " parameters");
    FOVEA_CHECK(std::find(known.begin(), known.end(), name) != known.end(), who, "tensor '", key,
                "': ", name_, " has no state '", name, "'");
    FOVEA_CHECK(t.defined(), who, "tensor '", key, "' is undefined");
    const Tensor& p = params_[i];
    FOVEA_CHECK(t.shape() == p.shape() && t.dtype() == p.dtype(), who, "tensor '", key, "' is ",
                t.str(), " but parameter ", i, " is ", p.str());
    FOVEA_CHECK(loaded[i].emplace(name, t).second, who, "tensor '", key, "' appears twice");
  }
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t i : groups_[g]) {
      const bool stepped = steps[i].get<int64_t>() > 0;
      if (!stepped)
        FOVEA_CHECK(loaded[i].empty(), who, "parameter ", i, " has state tensors ('",
                    loaded[i].begin()->first, "') but a step count of 0");
      else
        for (const std::string& name : state_names(options[g]))
          FOVEA_CHECK(loaded[i].count(name), who, "parameter ", i, " was stepped ", steps[i],
                      " times but the state has no tensor 'state.", i, ".", name, "'");
    }

  // ---- copy -------------------------------------------------------------------------------------
  NoGradGuard no_grad;
  for (size_t g = 0; g < groups_.size(); ++g) {
    store_options(g, options[g]);
    initial_lr_[g] = groups[g]["initial_lr"].get<double>();
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    ParamState& st = state_[i];
    std::map<std::string, Tensor> tensors;
    for (const auto& [name, t] : loaded[i]) {
      auto old = st.tensors.find(name);
      Tensor dst = old != st.tensors.end() ? old->second : empty_like(params_[i]);
      tensors.emplace(name, dst.copy_(t));
    }
    st.tensors = std::move(tensors);
    st.step = steps[i].get<int64_t>();
  }
}

}  // namespace fovea::optim
