// Module: the base of every layer and model, after PyTorch's nn.Module.
//
// A module owns named parameters (leaf tensors that require grad), buffers (state that is saved
// but not trained, e.g. BatchNorm running statistics) and child modules. Names follow PyTorch so
// weights move between the two by name: a parameter of a child reads "<child>.<param>", e.g.
// "fc1.bias", or "0.weight" inside a Sequential, or "layer1.0.bn1.weight" deeper down.
//
//   class Net : public nn::Module {
//    public:
//     Net() : Module("Net"),
//             fc1(register_module("fc1", std::make_shared<nn::Linear>(784, 256))),
//             scale(register_parameter("scale", ones({1}))) {}
//     Tensor forward(const Tensor& x) override { return fc1->forward(x) * scale; }
//     std::shared_ptr<nn::Linear> fc1;
//     Tensor& scale;   // a handle to the registered slot
//   };
//
// register_parameter/register_buffer return a reference to the module's own slot, so a layer's
// member (Linear::weight) and the registry always name the same tensor, also after
// replace_parameter swaps the tensor in the slot (functional calls, gradient checks, tying).
// Modules are not copyable: a copy would alias the parameters. Hold them by shared_ptr.
//
// Call modules, children included, through operator() (`(*fc1)(x)`), not forward(): operator()
// runs the forward hooks that summaries and attention-map captures rely on.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/core/tensor.h"

namespace fovea::nn {

// An ordered name -> tensor map: state_dict() order is registration order, as in PyTorch.
class StateDict {
 public:
  using Item = std::pair<std::string, Tensor>;

  void insert(const std::string& key, const Tensor& value);  // a duplicate key is an error
  bool contains(const std::string& key) const { return index_.count(key) != 0; }
  const Tensor& at(const std::string& key) const;  // error naming the key when absent
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::vector<std::string> keys() const;
  const std::vector<Item>& items() const { return items_; }
  std::vector<Item>::const_iterator begin() const { return items_.begin(); }
  std::vector<Item>::const_iterator end() const { return items_.end(); }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, size_t> index_;
};

// What load_state_dict(dict, strict = false) could not match.
struct LoadResult {
  std::vector<std::string> missing_keys;     // in the module, absent from the dict
  std::vector<std::string> unexpected_keys;  // in the dict, absent from the module
};

class Module {
 public:
  explicit Module(std::string type_name);
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The computation. The default throws: modules with another signature (a loss taking
  // (logits, target)) define their own forward and leave this one unimplemented.
  virtual Tensor forward(const Tensor& x);
  // Every forward pre-hook with (module, x), forward(x), then every forward hook with
  // (module, x, result).
  Tensor operator()(const Tensor& x);

  // Hooks see every call's input and output (layers/summary.h records shapes with them); pre-
  // hooks see the input before the forward runs (PyTorch's forward pre-hooks), so that the two
  // bracket each call (the summary counts the ops between them). Ids are returned for removal.
  using ForwardHook = std::function<void(Module& module, const Tensor& input, const Tensor& output)>;
  using ForwardPreHook = std::function<void(Module& module, const Tensor& input)>;
  int add_forward_hook(ForwardHook hook);
  void remove_forward_hook(int id);
  int add_forward_pre_hook(ForwardPreHook hook);
  void remove_forward_pre_hook(int id);

  const std::string& type_name() const { return type_name_; }
  // The text inside the parentheses when printed, e.g. "in_features=784, out_features=10,
  // bias=True" (PyTorch's extra_repr).
  virtual std::string extra_repr() const { return ""; }

  // ---- registration (names: non-empty, no '.', unique within this module) -------------------
  // `value` becomes a parameter: a leaf with requires_grad on. An undefined tensor registers an
  // absent parameter (Linear without bias): it keeps the name but is skipped everywhere.
  Tensor& register_parameter(const std::string& name, Tensor value);
  Tensor& register_buffer(const std::string& name, Tensor value);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // ---- traversal (recursive, registration order, dotted names) -------------------------------
  // A tensor registered under two names (tied weights) is listed once, as in PyTorch.
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  std::vector<Tensor> buffers() const;
  // Direct children only.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  // This module (named "") and all descendants, depth first.
  std::vector<std::pair<std::string, const Module*>> named_modules() const;
  int64_t num_parameters() const;  // total element count of parameters()

  // Swaps the tensor in a parameter slot (dotted name from this module) for `value`, which must
  // have the old shape and dtype. The layer's member handle then names `value`.
  void replace_parameter(const std::string& name, const Tensor& value);

  // ---- mode and gradients ----------------------------------------------------------------------
  void train(bool on = true);  // this module and every descendant
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();  // every parameter's grad becomes undefined (PyTorch's set_to_none)

  // Moves every parameter and buffer to `device` / converts the float ones to `dtype`, in the
  // module's own slots (layer handles follow). Parameters stay leaves (frozen ones stay frozen)
  // and lose their gradient; tensors shared between slots (tied weights) stay shared.
  Module& to(Device device);
  Module& to(DType dtype);

  // ---- state -------------------------------------------------------------------------------------
  // Parameters then buffers of each module, children after their parent, by dotted name. The
  // tensors are detached views of the module's own storage.
  StateDict state_dict() const;
  // Copies every matching tensor into the module's own (in place, so handles stay valid). Shape
  // or dtype mismatches are always errors; missing and unexpected keys are errors when strict,
  // else returned. Nothing is copied unless every check passes.
  LoadResult load_state_dict(const StateDict& dict, bool strict = true);

 protected:
  // For modules called through another entry than operator() (FusionModule::fuse_call): the
  // pre-hooks before their forward, the hooks after.
  void run_forward_pre_hooks(const Tensor& input);
  void run_forward_hooks(const Tensor& input, const Tensor& output);

 private:
  struct Slot {
    std::string name;
    std::unique_ptr<Tensor> tensor;  // stable address: register_* hand out references
  };
  void check_new_name(const std::string& name, const char* what) const;
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  Tensor* find_parameter_slot(const std::string& dotted);
  void collect(const std::string& prefix, bool params, bool buffers,
               std::vector<std::pair<std::string, Tensor>>& out) const;
  // Replaces every defined parameter and buffer t by convert(t), keeping ties.
  void convert_tensors(const std::function<Tensor(const Tensor&)>& convert);
  void convert_tensors(const std::function<Tensor(const Tensor&)>& convert,
                       std::map<const TensorImpl*, Tensor>& done);

  std::string type_name_;
  bool training_ = true;
  std::vector<Slot> parameters_;
  std::vector<Slot> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::vector<std::pair<int, ForwardHook>> forward_hooks_;
  std::vector<std::pair<int, ForwardPreHook>> forward_pre_hooks_;
  int next_hook_id_ = 0;
};

// PyTorch's repr: "Linear(in_features=3, out_features=4, bias=True)", children indented, one
// per line as "(name): ...".
std::ostream& operator<<(std::ostream& os, const Module& m);

// "(a, b)" as PyTorch prints a pair in extra_repr (kernel_size=(3, 3)).
std::string pair_repr(const std::array<int64_t, 2>& v);
// "True" / "False", as PyTorch prints a flag in extra_repr.
const char* py_bool(bool b);
// The items with `sep` between them (lists of names in messages and reprs).
std::string join(const std::vector<std::string>& items, const char* sep = ", ");

}  // namespace fovea::nn
