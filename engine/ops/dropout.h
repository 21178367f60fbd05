// Dropout (torch.nn.functional.dropout semantics, inverted scaling). The Dropout module calls
// this with its own training flag.
//
//   training, 0 < p <= 1:  y = x * mask,  mask_i = 0 with probability p, else 1 / (1 - p)
//                          dx = g * mask   (the mask is saved for backward)
//   eval, or p == 0:       y = x (x itself is returned, as PyTorch does)
// So E[y] = x in training. p == 1 gives zeros (NaN and inf inputs stay NaN, as x * 0 does).
// p must lie in [0, 1] (checked in eval too). The mask draws from `gen`, or the process-wide
// default_generator() when it is null: the same seed gives the same mask.
#pragma once

#include "engine/core/random.h"
#include "engine/core/tensor.h"

namespace fovea {

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

}  // namespace fovea
