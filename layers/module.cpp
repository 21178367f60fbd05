#include "layers/module.h"

#include <sstream>
#include <unordered_set>

#include "engine/autograd/grad_mode.h"

namespace fovea::nn {

// ---- StateDict ----------------------------------------------------------------------------------

void StateDict::insert(const std::string& key, const Tensor& value) {
  FOVEA_CHECK(!contains(key), "StateDict: duplicate key \"", key, "\"");
  index_.emplace(key, items_.size());
  items_.emplace_back(key, value);
}

const Tensor& StateDict::at(const std::string& key) const {
  auto it = index_.find(key);
  FOVEA_CHECK(it != index_.end(), "StateDict: no key \"", key, "\"");
  return items_[it->second].second;
}

std::vector<std::string> StateDict::keys() const {
  std::vector<std::string> out;
  for (const Item& item : items_) out.push_back(item.first);
  return out;
}

// ---- Module ---------------------------------------------------------------------------------------

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}

Tensor Module::forward(const Tensor&) {
  FOVEA_FAIL(type_name_, ": forward(x) is not implemented for this module");
}

Tensor Module::operator()(const Tensor& x) {
  run_forward_pre_hooks(x);
  Tensor y = forward(x);
  run_forward_hooks(x, y);
  return y;
}

void Module::run_forward_pre_hooks(const Tensor& input) {
  for (auto& [id, hook] : forward_pre_hooks_) hook(*this, input);
}

void Module::run_forward_hooks(const Tensor& input, const Tensor& output) {
  for (auto& [id, hook] : forward_hooks_) hook(*this, input, output);
}

int Module::add_forward_hook(ForwardHook hook) {
  forward_hooks_.emplace_back(next_hook_id_, std::move(hook));
  return next_hook_id_++;
}

void Module::remove_forward_hook(int id) {
  std::erase_if(forward_hooks_, [id](const auto& h) { return h.first == id; });
}

int Module::add_forward_pre_hook(ForwardPreHook hook) {
  forward_pre_hooks_.emplace_back(next_hook_id_, std::move(hook));
  return next_hook_id_++;
}

void Module::remove_forward_pre_hook(int id) {
  std::erase_if(forward_pre_hooks_, [id](const auto& h) { return h.first == id; });
}

void Module::convert_tensors(const std::function<Tensor(const Tensor&)>& convert) {
  std::map<const TensorImpl*, Tensor> done;
  convert_tensors(convert, done);
}

void Module::convert_tensors(const std::function<Tensor(const Tensor&)>& convert,
                             std::map<const TensorImpl*, Tensor>& done) {
  auto swap = [&](Slot& slot, bool parameter) {
    Tensor& t = *slot.tensor;
    if (!t.defined()) return;
    auto it = done.find(t.impl_ptr().get());
    if (it == done.end()) {
      NoGradGuard no_grad;
      Tensor converted = convert(t);  // t itself when nothing changes
      if (parameter && !converted.same(t)) converted.set_requires_grad(t.requires_grad());
      it = done.emplace(t.impl_ptr().get(), converted).first;
    }
    t = it->second;
  };
  for (Slot& s : parameters_) swap(s, true);
  for (Slot& s : buffers_) swap(s, false);
  for (auto& [name, child] : children_) child->convert_tensors(convert, done);
}

Module& Module::to(Device device) {
  convert_tensors([device](const Tensor& t) { return t.to(device); });
  return *this;
}

Module& Module::to(DType dtype) {
  convert_tensors([dtype](const Tensor& t) { return is_floating(t.dtype()) ? t.to(dtype) : t; });
  return *this;
}

void Module::check_new_name(const std::string& name, const char* what) const {
  FOVEA_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name_, ": cannot register ",
              what, " \"", name, "\": names must be non-empty and contain no '.'");
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  bool used = taken(children_);
  for (const Slot& s : parameters_) used = used || s.name == name;
  for (const Slot& s : buffers_) used = used || s.name == name;
  FOVEA_CHECK(!used, type_name_, ": cannot register ", what, " \"", name,
              "\": the name is already taken");
}

Tensor& Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name, "parameter");
  if (value.defined()) {
    FOVEA_CHECK(is_floating(value.dtype()), type_name_, ": parameter \"", name,
                "\" must be float32 or float64, got ", value.str());
    // A parameter is a leaf of the graph even when built from other tensors.
    if (!value.is_leaf()) value = value.detach();
    value.set_requires_grad(true);
  }
  parameters_.push_back({name, std::make_unique<Tensor>(std::move(value))});
  return *parameters_.back().tensor;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name, "buffer");
  buffers_.push_back({name, std::make_unique<Tensor>(std::move(value))});
  return *buffers_.back().tensor;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name, "module");
  FOVEA_CHECK(module != nullptr, type_name_, ": cannot register module \"", name,
              "\": it is null");
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, bool params, bool buffers,
                     std::vector<std::pair<std::string, Tensor>>& out) const {
  if (params)
    for (const Slot& s : parameters_)
      if (s.tensor->defined()) out.emplace_back(prefix + s.name, *s.tensor);
  if (buffers)
    for (const Slot& s : buffers_)
      if (s.tensor->defined()) out.emplace_back(prefix + s.name, *s.tensor);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", params, buffers, out);
}

namespace {
std::vector<std::pair<std::string, Tensor>> unique_tensors(
    std::vector<std::pair<std::string, Tensor>> all) {
  std::unordered_set<const TensorImpl*> seen;
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& item : all)
    if (seen.insert(item.second.impl_ptr().get()).second) out.push_back(std::move(item));
  return out;
}

std::vector<Tensor> values(const std::vector<std::pair<std::string, Tensor>>& items) {
  std::vector<Tensor> out;
  for (const auto& item : items) out.push_back(item.second);
  return out;
}
}  // namespace

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> all;
  collect("", true, false, all);
  return unique_tensors(std::move(all));
}

std::vector<Tensor> Module::parameters() const { return values(named_parameters()); }

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> all;
  collect("", false, true, all);
  return unique_tensors(std::move(all));
}

std::vector<Tensor> Module::buffers() const { return values(named_buffers()); }

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const {
  return children_;
}

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out{{"", this}};
  for (const auto& [name, child] : children_)
    for (const auto& [sub, m] : child->named_modules())
      out.emplace_back(sub.empty() ? name : name + "." + sub, m);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Tensor& p : parameters()) n += p.numel();
  return n;
}

Tensor* Module::find_parameter_slot(const std::string& dotted) {
  const size_t dot = dotted.find('.');
  if (dot == std::string::npos) {
    for (Slot& s : parameters_)
      if (s.name == dotted && s.tensor->defined()) return s.tensor.get();
    return nullptr;
  }
  const std::string head = dotted.substr(0, dot);
  for (auto& [name, child] : children_)
    if (name == head) return child->find_parameter_slot(dotted.substr(dot + 1));
  return nullptr;
}

void Module::replace_parameter(const std::string& name, const Tensor& value) {
  Tensor* slot = find_parameter_slot(name);
  FOVEA_CHECK(slot != nullptr, type_name_, ".replace_parameter: no parameter \"", name, "\"");
  FOVEA_CHECK(value.defined() && value.shape() == slot->shape() && value.dtype() == slot->dtype(),
              type_name_, ".replace_parameter: \"", name, "\" is ", slot->str(),
              ", the replacement is ", value.defined() ? value.str() : "undefined");
  *slot = value;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& child : children_) child.second->train(on);
}

void Module::zero_grad() {
  for (Tensor& p : parameters()) p.set_grad(Tensor());
}

StateDict Module::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> all;
  collect("", true, true, all);
  StateDict dict;
  for (const auto& [name, t] : all) dict.insert(name, t.detach());
  return dict;
}

namespace {
std::string join_keys(const std::vector<std::string>& keys) {
  std::string s;
  for (const std::string& k : keys) s += (s.empty() ? "\"" : ", \"") + k + "\"";
  return s;
}
}  // namespace

LoadResult Module::load_state_dict(const StateDict& dict, bool strict) {
  const char* op = ".load_state_dict: ";
  std::vector<std::pair<std::string, Tensor>> own;
  collect("", true, true, own);

  LoadResult result;
  std::unordered_set<std::string> own_names;
  for (const auto& [name, target] : own) {
    own_names.insert(name);
    if (!dict.contains(name)) {
      result.missing_keys.push_back(name);
      continue;
    }
    const Tensor& src = dict.at(name);
    FOVEA_CHECK(src.defined(), type_name_, op, "\"", name, "\" is undefined in the state dict");
    FOVEA_CHECK(src.shape() == target.shape(), type_name_, op, "shape mismatch for \"", name,
                "\": the state dict has ", shape_str(src.shape()), ", the module has ",
                shape_str(target.shape()));
    FOVEA_CHECK(src.dtype() == target.dtype(), type_name_, op, "dtype mismatch for \"", name,
                "\": the state dict has ", dtype_name(src.dtype()), ", the module has ",
                dtype_name(target.dtype()));
  }
  for (const auto& [name, t] : dict)
    if (!own_names.count(name)) result.unexpected_keys.push_back(name);

  if (strict && (!result.missing_keys.empty() || !result.unexpected_keys.empty())) {
    std::string msg = type_name_ + op + "the state dict does not match the module;";
    if (!result.missing_keys.empty()) msg += " missing keys: " + join_keys(result.missing_keys) + ";";
    if (!result.unexpected_keys.empty())
      msg += " unexpected keys: " + join_keys(result.unexpected_keys) + ";";
    msg.pop_back();
    throw Error(msg);
  }

  NoGradGuard no_grad;  // parameters require grad; the copy is not part of any graph
  for (auto& [name, target] : own)
    if (dict.contains(name)) target.copy_(dict.at(name));
  return result;
}

// ---- printing -------------------------------------------------------------------------------------

namespace {
void print_module(std::ostream& os, const Module& m, const std::string& indent) {
  os << m.type_name() << "(";
  const auto children = m.named_children();
  const std::string extra = m.extra_repr();
  if (children.empty()) {
    os << extra << ")";
    return;
  }
  os << "\n";
  const std::string inner = indent + "  ";
  if (!extra.empty()) os << inner << extra << "\n";
  for (const auto& [name, child] : children) {
    os << inner << "(" << name << "): ";
    print_module(os, *child, inner);
    os << "\n";
  }
  os << indent << ")";
}
}  // namespace

std::ostream& operator<<(std::ostream& os, const Module& m) {
  print_module(os, m, "");
  return os;
}

const char* py_bool(bool b) { return b ? "True" : "False"; }

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) s.append(i ? sep : "").append(items[i]);
  return s;
}

std::string pair_repr(const std::array<int64_t, 2>& v) {
  std::ostringstream os;  // not string operator+: GCC 12 warns falsely (-Wrestrict) on that
  os << '(' << v[0] << ", " << v[1] << ')';
  return os.str();
}

}  // namespace fovea::nn
