// exp for the softmax and cross-entropy kernels, CPU and CUDA alike (FOVEA_HD, C++17), so both
// devices compute the same exp. Float goes through a branch-free approximation the compiler
// vectorizes (std::exp is a library call per element and keeps every loop around it scalar:
// softmax ran 5.7x slower than PyTorch's); double through exp, so float64 gradient checks stay
// exact.
//
// Float: Cephes' expf (range reduction x = n ln2 + r with |r| <= ln2/2, a degree-6 polynomial
// for e^r, then 2^n built in the exponent bits), within 2 ulp of exp over the normal range.
// Past log(FLT_MAX) (88.72) it gives +inf; below -87.34, where exp falls under FLT_MIN, it gives 0
// (denormal results are flushed: they would only slow the arithmetic after); NaN gives NaN.
#pragma once

#include <cstdint>
#include <cstring>

#include "engine/core/hostdevice.h"
#include "engine/ops/math.h"

namespace fovea {

FOVEA_HD double fast_exp(double x) { return fm::exp(x); }

// The float whose bits are `bits` (std::bit_cast is C++20; memcpy works in device code too).
FOVEA_HD float float_from_bits(uint32_t bits) {
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

// 2^e for e in the normal exponent range, built in the exponent bits.
FOVEA_HD float pow2_exponent(int32_t e) { return float_from_bits(uint32_t(e + 127) << 23); }

FOVEA_HD float fast_exp(float x) {
  constexpr float kHi = 88.7228390520684f, kLo = -87.3365447505531f;
  // Clamped so that n below stays a valid int32 exponent; NaN fails both tests and becomes kLo
  // (no undefined float-to-int conversion), the selects at the end put it back.
  float t = x >= kLo ? x : kLo;
  t = t <= kHi ? t : kHi;
  // n = round(t / ln2): adding 1.5 * 2^23 pushes the fraction out of the mantissa.
  constexpr float kRound = 12582912.0f;
  const float n = (t * 1.44269504088896341f + kRound) - kRound;
  // r = t - n ln2, with ln2 split in two so that n * kLn2Hi is exact.
  const float r = (t - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * (r * r) + r + 1.0f;
  // 2^n as two factors 2^(n/2): n reaches 128 near kHi, past the largest float exponent.
  const int32_t ni = int32_t(n), half = ni >> 1;
  float y = (er * pow2_exponent(half)) * pow2_exponent(ni - half);
  y = x < kLo ? 0.0f : y;
  y = x > kHi ? float_from_bits(0x7f800000u) : y;  // +inf
  return x == x ? y : x;
}

}  // namespace fovea
