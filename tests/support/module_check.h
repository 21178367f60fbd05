// Gradient check of a whole module: its input and every parameter, in float64, through
// fovea::gradcheck (random upstream gradient, central differences). gradcheck hands the function
// fresh leaves; replace_parameter makes the module use them as its parameters for the duration
// of the check, and the original parameters are put back afterwards.
// The module must already be float64 (construct it with DType::Float64 or call to(Float64)).
#pragma once

#include <memory>
#include <string>

#include "layers/module.h"
#include "support/op_check.h"

namespace fovea::test {

void check_module_gradients(const std::string& name, const std::shared_ptr<nn::Module>& module,
                            const Shape& input_shape, Inputs inputs = Inputs::Normal,
                            std::vector<Layout> layouts = {Layout::Contiguous, Layout::Permuted});

// The directional form (engine/autograd/gradcheck.h): one random direction over the input and
// every parameter, two extra forward passes; for whole networks at realistic sizes.
void check_module_directional(const std::string& name, const std::shared_ptr<nn::Module>& module,
                              const Shape& input_shape, uint64_t seed = 1);

}  // namespace fovea::test
