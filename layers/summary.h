// summary(model, input_shape): one forward pass on a zero input (eval mode, no gradients) that
// records, per module, the output shape, the parameter count and the multiply-accumulates
// (MACs) of the module and everything inside it, as darknet prints at construction and
// torchinfo prints for PyTorch. MACs count each module's own flops() (convolutions, linear
// layers, attention products); element-wise work (activations, norms, pooling) counts 0.
#pragma once

#include <string>
#include <vector>

#include "layers/module.h"

namespace fovea::nn {

struct SummaryRow {
  std::string name;  // dotted, "" for the model itself
  std::string type;
  int depth = 0;
  Shape output;      // of the first call; empty if the module never ran
  int64_t params = 0;  // this module and its descendants
  int64_t macs = 0;    // this module and its descendants, all calls
};

struct Summary {
  Shape input, output;
  std::vector<SummaryRow> rows;  // depth-first, the model first
  int64_t total_params = 0, trainable_params = 0, total_macs = 0;
  std::string table() const;
};

// The model's training flag is restored afterwards (submodules follow the model's).
Summary summarize(Module& model, const Shape& input_shape, DType dtype = DType::Float32);

}  // namespace fovea::nn
