// gradcheck: compares the gradients autograd computes with central finite differences.
//
// For f: inputs -> output and a random upstream gradient v (seeded, never all ones), the
// scalar L = sum(f(x) * v) has dL/dx_j = (J^T v)_j, which backward computes; numerically
//   dL/dx_j ~ (L(x + eps e_j) - L(x - eps e_j)) / (2 eps).
// Both are compared element by element with
//   error = |analytic - numeric| / max(1, |analytic|, |numeric|)
// (relative error for gradients larger than 1, absolute below), and the worst element is
// reported with its input, index and both values.
//
// Every float64 input that requires grad is checked; other inputs (int64 indices, tensors
// without requires_grad) are passed through unchanged. Run it in float64: central differences
// in float32 give false failures.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/core/tensor.h"

namespace fovea {

struct GradcheckOptions {
  double eps = 1e-6;
  double tolerance = 1e-6;
  uint64_t seed = 1234;
};

struct GradcheckReport {
  bool ok = true;
  double max_error = 0;
  int input = -1;          // which input holds the worst element
  Shape index;             // its index in that input
  double analytic = 0, numeric = 0;
  std::string summary() const;
};

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckReport gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace fovea
