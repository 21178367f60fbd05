#include "attention/se.h"

#include <sstream>

#include "engine/fovea.h"
#include "layers/activation.h"

namespace fovea::attention {

SE::SE(int64_t c, const SEOptions& o) : AttentionModule("SE"), channels(c), options(o) {
  check_reduction(c, o.reduction);
  const int64_t hidden = c / o.reduction;
  fc = register_module("fc", std::make_shared<nn::Sequential>(
                                 std::initializer_list<std::shared_ptr<nn::Module>>{
                                     std::make_shared<nn::Linear>(c, hidden, o.bias),
                                     std::make_shared<nn::ReLU>(),
                                     std::make_shared<nn::Linear>(hidden, c, o.bias),
                                     std::make_shared<nn::Sigmoid>()}));
}

Tensor SE::forward(const Tensor& x) {
  check_input(x, channels);
  const Tensor e = (*fc)(mean(x, {2, 3}));
  record_map("channel", e);
  return x * e.reshape({x.size(0), channels, 1, 1});
}

std::string SE::extra_repr() const {
  std::ostringstream os;
  os << "channels=" << channels << ", reduction=" << options.reduction
     << ", bias=" << nn::py_bool(options.bias);
  return os.str();
}

nn::AttentionSpec se_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "se";
  s.help = "Squeeze-and-Excitation (spec §1)";
  s.options = {{"reduction", "16", "hidden width channels // reduction"},
               {"bias", "false", "biases in both FC layers (true: the Caffe / timm models)"}};
  s.make = [](const nn::AttentionContext& c) {
    SEOptions o;
    o.reduction = c.options.integer("reduction");
    o.bias = c.options.flag("bias");
    return std::make_shared<SE>(c.channels, o);
  };
  return s;
}

}  // namespace fovea::attention
