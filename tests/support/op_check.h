// The shared gradient-check harness: one table row per op case, run in float64 through
// fovea::gradcheck, in several input layouts.
//
//   check_op_cases({
//     {"mul broadcast", {{2, 3, 4}, {3, 1}}, [](auto& x) { return mul(x[0], x[1]); }},
//     {"log", {{3, 4}}, [](auto& x) { return log(x[0]); }, Inputs::Positive},
//   });
//
// Each float input is checked in four layouts (each with every axis > 1 in the op's view):
//   contiguous  the tensor as is
//   permuted    a leaf of reversed shape, permuted back: strides run backwards (2+ dims)
//   sliced      a leaf twice as long in the last dim, every second element taken (1+ dims)
//   expanded    a leaf with size 1 in one axis, expanded: stride 0 there. The axis is the
//               first of size > 1 unless the case names another: an op that normalises over
//               that axis (softmax, batch_norm over N) has gradients summing to zero along it,
//               which would make the expanded check vacuous.
// A layout an input's rank does not allow is skipped for that case, not run as contiguous.
// Values avoid kinks (|x - k| >= 0.05 for each listed kink) so finite differences are exact.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/autograd/gradcheck.h"
#include "engine/core/random.h"
#include "engine/core/tensor.h"
#include "support/layouts.h"

namespace fovea::test {

enum class Inputs {
  Normal,     // N(0, 1)
  Positive,   // U[0.5, 2]  (log, sqrt, pow, division by the input)
  Unit,       // U[-0.9, 0.9] (inside (-1, 1))
};

struct OpCase {
  std::string name;
  std::vector<Shape> shapes;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  Inputs inputs = Inputs::Normal;
  std::vector<double> kinks = {};  // points where the op is not differentiable
  // Inputs that must not be perturbed (e.g. int64 indices): produced here instead, appended
  // after the float inputs.
  std::function<std::vector<Tensor>(Generator&)> extra_inputs = nullptr;
  std::vector<Layout> layouts = {Layout::Contiguous, Layout::Permuted, Layout::Sliced,
                                 Layout::Expanded};
  double tolerance = GradcheckOptions{}.tolerance;
  // The finite-difference step. Rounding in L limits the difference to ~1e-16 |L| / eps, so a
  // case whose outputs are large (hundreds) takes a larger step instead of a looser tolerance.
  double eps = GradcheckOptions{}.eps;
  int64_t expand_axis = -1;  // the axis the expanded layout broadcasts; -1: the first > 1
};

// Random float64 values of `shape` drawn as `kind` says, away from `kinks`.
Tensor make_input(const Shape& shape, Inputs kind, const std::vector<double>& kinks,
                  Generator& gen);

// Runs gradcheck for every case and layout; each failure is a doctest CHECK failure whose
// message names the case, the layout and the worst element.
void check_op_cases(const std::vector<OpCase>& cases);

}  // namespace fovea::test
