// Sequential: children applied in order, named "0", "1", ... (PyTorch's nn.Sequential), so
// their parameters read "0.weight", "2.bias".
//
//   auto mlp = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
//       std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 256),
//       std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(256, 10)});
#pragma once

#include <initializer_list>

#include "layers/module.h"

namespace fovea::nn {

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& modules);

  void push_back(std::shared_ptr<Module> module);  // becomes child "<size()>"
  size_t size() const { return layers_.size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const;

  Tensor forward(const Tensor& x) override;

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace fovea::nn
