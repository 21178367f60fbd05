// The forward that the hand-counted op-count tests (tests/attention/test_op_counts_*.cpp)
// measure: one module, one input, the MacCounter's three counts (engine/ops/mac_count.h) and the
// output, with the float64 / eval / no-grad setup done once here instead of in every case.
#pragma once

#include <functional>

#include "engine/autograd/grad_mode.h"
#include "engine/core/random.h"
#include "engine/core/tensor.h"
#include "engine/ops/mac_count.h"
#include "layers/module.h"

namespace fovea::test {

struct Counted {
  OpCounts ops;
  Tensor output;
};

// Runs `call(m, x)` for a module called through another entry than operator().
using CountedCall = std::function<Tensor(nn::Module&, const Tensor&)>;

// One eval-mode float64 forward of `m` on randn(input) under a MacCounter (nothing else
// counted): the counts and the output. `m` is converted to float64 and put in eval mode first
// (BatchNorm then uses its running statistics: no batch-statistic work). `call` runs the forward
// when plain (*m)(x) does not apply (a fusion module's fuse_call, a conditioned module's
// attend_call); any extra input it needs is made by the caller, in float64, and captured.
inline Counted count_forward(nn::Module& m, const Shape& input, const CountedCall& call = {}) {
  m.to(DType::Float64);
  m.train(false);
  const Tensor x = randn(input, DType::Float64);
  NoGradGuard no_grad;
  MacCounter counter;
  Tensor output = call ? call(m, x) : m(x);
  return {counter.counts(), output};
}

}  // namespace fovea::test
