// Custom differentiable functions, as torch.autograd.Function: give a forward and its
// backward, and the result takes part in autograd like a built-in op. Used for teaching
// (write an op in a few lines), for fused kernels checked against a chain of ops, and by the
// test that proves gradcheck catches a wrong backward.
//
//   CustomFunction square{"Square",
//       [](const std::vector<Tensor>& in) { return mul(in[0], in[0]); },
//       [](const std::vector<Tensor>& in, const Tensor& out, const Tensor& g) {
//         return std::vector<Tensor>{mul(g, in[0]) * 2.0};
//       }};
//   Tensor y = square.apply({x});
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/core/tensor.h"

namespace fovea {

struct CustomFunction {
  std::string name;  // shown as "<name>Backward"
  // Runs with recording off.
  std::function<Tensor(const std::vector<Tensor>& inputs)> forward;
  // Returns one gradient per input (undefined where none is needed).
  std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs, const Tensor& output,
                                    const Tensor& grad_output)>
      backward;

  // Runs forward and records CustomBackward when an input requires a gradient.
  Tensor apply(const std::vector<Tensor>& inputs) const;
};

}  // namespace fovea
