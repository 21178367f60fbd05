// summary(model, input_shape): one forward pass on a zero input (eval mode, no gradients) that
// records, per module, the output shape, the parameter count and the work of the module and
// everything inside it, as darknet prints at construction and torchinfo prints for PyTorch.
// The work is counted from the ops that ran between the module's forward pre-hook and its
// forward hook (engine/ops/mac_count.h): multiply-accumulates of convolutions, linear layers
// and every matmul (attention products included), softmax elements, and the elements read by
// poolings and reductions. Element-wise work (activations, norms' arithmetic) is not counted.
#pragma once

#include <string>
#include <vector>

#include "engine/ops/mac_count.h"
#include "layers/module.h"

namespace fovea::nn {

struct SummaryRow {
  std::string name;  // dotted, "" for the model itself
  std::string type;
  int depth = 0;
  Shape output;      // of the first call; empty if the module never ran
  int64_t params = 0;  // this module and its descendants
  OpCounts ops;        // this module and its descendants, all calls
};

struct Summary {
  Shape input, output;
  std::vector<SummaryRow> rows;  // depth-first, the model first
  int64_t total_params = 0, trainable_params = 0;
  OpCounts total;
  std::string table() const;
};

// 1234567 -> "1,234,567" (the summary's numbers, and the probe's).
std::string with_commas(int64_t v);

// The model's training flag is restored afterwards (submodules follow the model's).
Summary summarize(Module& model, const Shape& input_shape, DType dtype = DType::Float32);

// The most bytes of CPU tensors alive at once during one forward and backward of `model` on a
// zero input of `input_shape`, beyond those alive before (the parameters): the input, the
// activations the forward saves, its output, every parameter's gradient and the backward's
// temporaries. As in training, the input gets no gradient (unless no parameter is trainable).
// The pass runs in eval mode, so no running statistic moves and dropout keeps no mask; the
// parameters' gradients are cleared after, the training flag and grad mode restored. It
// restarts the CPU allocator's peak (cpu_allocator().reset_peak()). A model on the GPU gives 0
// (only the CPU allocator is measured).
size_t forward_backward_peak_bytes(Module& model, const Shape& input_shape,
                                   DType dtype = DType::Float32);

}  // namespace fovea::nn
