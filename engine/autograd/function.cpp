#include "engine/autograd/function.h"

#include "engine/autograd/node.h"

namespace fovea {

namespace {

class CustomBackward final : public Node {
 public:
  explicit CustomBackward(const CustomFunction& fn) : fn_(fn) {}
  std::string name() const override { return fn_.name + "Backward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    std::vector<Tensor> inputs;
    for (const SavedTensor& s : inputs_) inputs.push_back(s.unpack(*this));
    std::vector<Tensor> out = fn_.backward(inputs, output_.unpack(*this), grads[0]);
    FOVEA_CHECK(out.size() == inputs.size(), name(), ": backward returned ", out.size(),
                " gradients for ", inputs.size(), " inputs");
    return out;
  }
  void release_saved() override {
    for (SavedTensor& s : inputs_) s.reset();
    output_.reset();
  }
  std::vector<SavedTensor> inputs_;
  SavedTensor output_;

 private:
  CustomFunction fn_;
};

}  // namespace

Tensor CustomFunction::apply(const std::vector<Tensor>& inputs) const {
  const CustomFunction& fn = *this;
  FOVEA_CHECK(fn.forward && fn.backward, "apply: custom function \"", fn.name,
              "\" needs both a forward and a backward");
  Tensor out;
  {
    NoGradGuard no_grad;
    out = fn.forward(inputs);
  }
  check_defined(out, fn.name.c_str());
  // A forward may return one of its inputs or a view of one; give the output its own identity
  // so recording history on it does not rewrite the input's.
  out = out.detach();
  if (auto node = make_node<CustomBackward>(inputs, fn)) {
    for (const Tensor& t : inputs) node->inputs_.emplace_back(t);
    node->output_ = SavedTensor(out);
    set_history(out, node);
  }
  return out;
}

}  // namespace fovea
