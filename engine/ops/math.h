// float/double overloads of the libm functions the functors use, callable from CPU and CUDA
// code alike (std:: math is not available in device code).
#pragma once

#include <cmath>

#include "engine/core/hostdevice.h"

namespace fovea::fm {

FOVEA_HD float exp(float x) { return ::expf(x); }
FOVEA_HD double exp(double x) { return ::exp(x); }
FOVEA_HD float log(float x) { return ::logf(x); }
FOVEA_HD double log(double x) { return ::log(x); }
FOVEA_HD float sqrt(float x) { return ::sqrtf(x); }
FOVEA_HD double sqrt(double x) { return ::sqrt(x); }
FOVEA_HD float tanh(float x) { return ::tanhf(x); }
FOVEA_HD double tanh(double x) { return ::tanh(x); }
FOVEA_HD float erf(float x) { return ::erff(x); }
FOVEA_HD double erf(double x) { return ::erf(x); }
FOVEA_HD float abs(float x) { return ::fabsf(x); }
FOVEA_HD double abs(double x) { return ::fabs(x); }
FOVEA_HD float pow(float x, float y) { return ::powf(x, y); }
FOVEA_HD double pow(double x, double y) { return ::pow(x, y); }

}  // namespace fovea::fm
