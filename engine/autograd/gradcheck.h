// gradcheck: compares the gradients autograd computes with central finite differences.
//
// For f: inputs -> output and a random upstream gradient v (seeded, never all ones), the
// scalar L = sum(f(x) * v) has dL/dx_j = (J^T v)_j, which backward computes; numerically
//   dL/dx_j ~ (L(x + eps e_j) - L(x - eps e_j)) / (2 eps).
// Both are compared element by element with
//   error = |analytic - numeric| / max(1, |numeric|)  <=  tolerance (1e-7)
// (relative to the finite difference for gradients larger than 1, absolute below), and the
// worst element is reported with its input, index and both values. In float64 with eps 1e-6
// the difference is good to ~1e-9 (truncation ~eps^2, rounding ~1e-16 |L| / eps), so 1e-7
// leaves room for |L| up to ~100 while a wrong factor anywhere fails by orders of magnitude.
//
// A check proves nothing where the gradient it compares is zero: a backward that returns zeros
// passes it. So a check also fails, as vacuous, when for some checked input every analytic and
// every numeric value is within the tolerance of zero (the directional form: when both
// directional derivatives are).
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
  double tolerance = 1e-7;
  uint64_t seed = 1234;
  // gradcheck_directional only: how many random directions may be tried (see there).
  int directions = 1;
};

struct GradcheckReport {
  bool ok = true;
  double max_error = 0;
  int input = -1;          // which input holds the worst element
  Shape index;             // its index in that input
  double analytic = 0, numeric = 0;
  int kinked_directions = 0;  // gradcheck_directional: directions rejected for crossing a kink
  // An input whose gradients were all ~0, so the check proved nothing (the directional form:
  // 0 when both directional derivatives were ~0).
  int vacuous_input = -1;
  std::string summary() const;
};

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckReport gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

// The directional form, for inputs too large to perturb one element at a time (a whole
// network): one random direction d over all checked inputs, and
//   analytic = sum_i <dL/dx_i, d_i>   vs   numeric = (L(x + eps d) - L(x - eps d)) / (2 eps)
// compared with the same error measure. `index` in the report is empty. A wrong gradient in
// any element shows up unless it happens to be orthogonal to d, which a random d makes a
// probability-zero event.
// Networks have kinks (ReLU at 0, max-pool switches) that a whole-network perturbation may
// cross, which spoils the finite difference without any fault in the gradient. Each direction is
// therefore differenced at h and h/2: a smooth function gives the same slope twice (to well
// within the tolerance), a crossed kink does not. Then h shrinks eightfold (down to eps/4096;
// crossings get rarer in proportion) and, failing that, another direction is drawn, up to
// options.directions in all (the report counts the rejected ones). Four forward passes per try.
GradcheckReport gradcheck_directional(const TensorFn& f, const std::vector<Tensor>& inputs,
                                      const GradcheckOptions& options = {});

}  // namespace fovea
