// Everything a program building models needs: the engine (engine/fovea.h) and every layer.
#pragma once

#include "engine/fovea.h"
#include "layers/activation.h"
#include "layers/checkpoint.h"
#include "layers/conv.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/module.h"
#include "layers/norm.h"
#include "layers/param_groups.h"
#include "layers/pool.h"
#include "layers/resnet.h"
#include "layers/sequential.h"
#include "layers/summary.h"
