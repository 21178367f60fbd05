#include "layers/activation.h"

#include "engine/ops/unary.h"

namespace fovea::nn {

ReLU::ReLU() : Activation("ReLU", fovea::relu) {}
Sigmoid::Sigmoid() : Activation("Sigmoid", fovea::sigmoid) {}
Tanh::Tanh() : Activation("Tanh", fovea::tanh) {}
ReLU6::ReLU6() : Activation("ReLU6", fovea::relu6) {}
Hardsigmoid::Hardsigmoid() : Activation("Hardsigmoid", fovea::hardsigmoid) {}
Hardswish::Hardswish() : Activation("Hardswish", fovea::hardswish) {}
SiLU::SiLU() : Activation("SiLU", fovea::silu) {}
GELU::GELU() : Activation("GELU", fovea::gelu) {}

}  // namespace fovea::nn
