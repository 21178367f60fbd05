// Everything a program using fovea's engine needs: tensors, autograd, ops.
#pragma once

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "engine/core/build_info.h"
#include "engine/core/factory.h"
#include "engine/core/parallel.h"
#include "engine/core/tensor.h"
#include "engine/ops/binary.h"
#include "engine/ops/loss.h"
#include "engine/ops/reduce.h"
#include "engine/ops/softmax.h"
#include "engine/ops/unary.h"
