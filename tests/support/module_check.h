// Gradient check of a whole module: its input and every parameter, in float64, through
// fovea::gradcheck (random upstream gradient, central differences). gradcheck hands the function
// fresh leaves; replace_parameter makes the module use them as its parameters for the duration
// of the check, and the original parameters are put back afterwards.
// The module must already be float64 (construct it with DType::Float64 or call to(Float64)).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "layers/module.h"
#include "support/op_check.h"

namespace fovea::test {

void check_module_gradients(const std::string& name, const std::shared_ptr<nn::Module>& module,
                            const Shape& input_shape, Inputs inputs = Inputs::Normal,
                            std::vector<Layout> layouts = {Layout::Contiguous, Layout::Permuted});

// The same for a module with several inputs (AFF's two, SCA-CNN's input and context): `call`
// runs the module on the inputs, of `input_shapes`, in order; every input and parameter is
// checked.
using ModuleCall = std::function<Tensor(nn::Module&, const std::vector<Tensor>&)>;
void check_module_gradients_with(const std::string& name,
                                 const std::shared_ptr<nn::Module>& module,
                                 const std::vector<Shape>& input_shapes, const ModuleCall& call,
                                 std::vector<Layout> layouts = {Layout::Contiguous,
                                                                Layout::Permuted});

// check_module_gradients in training mode with the parameters named in `fixed` left out: a bias
// right before a training-mode BatchNorm has a gradient of exactly 0 (the BN subtracts its batch
// mean), which gradcheck would rightly call vacuous. Their gradient is asserted to be 0 to
// rounding (1e-13 of the largest other one) instead; eval-mode checks cover them fully.
void check_train_gradients_except(const std::string& name,
                                  const std::shared_ptr<nn::Module>& module,
                                  const Shape& input_shape, const std::vector<std::string>& fixed);
// The same for a module with several inputs (AFF's residual and identity), called by `call`.
void check_train_gradients_except_with(const std::string& name,
                                       const std::shared_ptr<nn::Module>& module,
                                       const std::vector<Shape>& input_shapes,
                                       const ModuleCall& call,
                                       const std::vector<std::string>& fixed);
// The same in the module's own mode, for a parameter whose gradient is 0 by structure in every
// mode: a bias constant along the axis a softmax normalises (External Attention's conv1.bias).
void check_gradients_except(const std::string& name, const std::shared_ptr<nn::Module>& module,
                            const Shape& input_shape, const std::vector<std::string>& fixed);
void check_gradients_except_with(const std::string& name,
                                 const std::shared_ptr<nn::Module>& module,
                                 const std::vector<Shape>& input_shapes, const ModuleCall& call,
                                 const std::vector<std::string>& fixed);

// The directional form (engine/autograd/gradcheck.h): one random direction over the input and
// every parameter, two extra forward passes; for whole networks at realistic sizes. The loss
// sums every output element, so its rounding grows with the output: at 4x64x16x16 (65,536
// products, |L| in the hundreds) it is ~1e-12, which over 2 eps = 2e-6 is already near the
// 1e-7 tolerance. Such shapes take kRealisticEps, a step whose truncation error (~eps^2) is
// still far below the tolerance for these smooth-between-kinks functions.
inline constexpr double kRealisticEps = 1e-4;
void check_module_directional(const std::string& name, const std::shared_ptr<nn::Module>& module,
                              const Shape& input_shape, uint64_t seed = 1,
                              double eps = GradcheckOptions{}.eps);
// The same for a module with several inputs, called by `call`; every input gets a direction.
void check_module_directional_with(const std::string& name,
                                   const std::shared_ptr<nn::Module>& module,
                                   const std::vector<Shape>& input_shapes, const ModuleCall& call,
                                   uint64_t seed = 1, double eps = GradcheckOptions{}.eps);

// Adds scale * N(0, 1) (a Generator seeded with `seed`) to every floating-point parameter of
// `m`, in place. Several modules start with a path multiplied by a parameter that is 0 (CBAM's
// spatial BN weight, Shuffle Attention's cweight and sweight, SGE's weight): at init a gradient
// check sees that path's gradient as 0 on both sides and checks nothing of it. Move the
// parameters first.
void move_parameters(nn::Module& m, uint64_t seed, double scale = 0.3);

}  // namespace fovea::test
