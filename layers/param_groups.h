// Parameter groups for weight decay, after timm's param_groups_weight_decay: weight decay is
// meant for the weights of Linear and Conv layers, and pulling biases and normalisation scales
// and shifts towards 0 only hurts, so those train without it.
//
//   optim::SGD opt(nn::decay_groups(*model, 1e-4), {.lr = 0.1, .momentum = 0.9});
//
// Group 0: every parameter with dim <= 1 (biases, BatchNorm/LayerNorm weight and bias, scalar
// gates) and those named in `no_decay`, with {"weight_decay": 0}. Group 1: the rest, with
// {"weight_decay": weight_decay}. Parameters keep named_parameters() order within a group; ones
// that do not require grad (frozen) are left out. A group may be empty.
#pragma once

#include <string>
#include <vector>

#include "engine/optim/optimizer.h"
#include "layers/module.h"

namespace fovea::nn {

// weight_decay >= 0; every name in no_decay must be one of m's parameters (dotted names).
std::vector<optim::ParamGroup> decay_groups(const Module& m, double weight_decay,
                                            const std::vector<std::string>& no_decay = {});

}  // namespace fovea::nn
