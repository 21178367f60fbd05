// The trainer's numerical guard. Every step checks that its loss and every gradient are finite:
// the loss is one number the trainer reads anyway, the gradients take one pass over their
// memory (all_finite: a bit test that vectorises, split over threads for large tensors). Only
// when a step fails that check does diagnose_step work out where it first went non-finite:
//   - the input images (naming them by their dataset index),
//   - else the first module, in the order the forward pass finishes them, whose output is not
//     finite: the step's forward runs again with a hook on every module (named as in
//     state_dict, e.g. "layer2.1.bn1"; also saying whether its input and its own parameters
//     are finite),
//   - else the loss itself, or, with a finite forward and loss, the backward pass (naming the
//     first parameter whose gradient is not finite).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/tensor.h"
#include "layers/module.h"

namespace fovea::train {

// True when every element is finite; undefined tensors and integer tensors are.
bool all_finite(const Tensor& t);
// True when the gradient of every parameter that has one is finite.
bool gradients_finite(const std::vector<Tensor>& parameters);

struct Diagnosis {
  enum class Where { Input, Module, Loss, Backward };
  Where where = Where::Loss;
  std::string text;  // one sentence naming the images, the module or the parameter
};

// Where the step on `images` (the dataset indices of its images in `indices`) went non-finite;
// `loss_finite` says whether its loss was (if so, its gradients were not, and they must still
// be in the parameters' .grad). The forward pass runs again without gradients in the model's
// current mode, so a training-mode BatchNorm updates its running statistics once more: the
// trainer stops after a failed step and never saves that state.
Diagnosis diagnose_step(nn::Module& model, const Tensor& images,
                        const std::vector<int64_t>& indices, bool loss_finite);

// The dotted name of the first parameter or buffer of `model` that is not finite, or "".
std::string first_non_finite_state(const nn::Module& model);

}  // namespace fovea::train
