// fast_exp (engine/kernels/fast_exp.h): float within 2 ulp of exp over the whole normal range,
// the documented edges (overflow to inf, flush to 0 below FLT_MIN, NaN kept), double exact.
#include <doctest/doctest.h>

#include <cmath>
#include <initializer_list>
#include <limits>

#include "engine/kernels/fast_exp.h"

using fovea::fast_exp;

namespace {

// |approx - exact| in units in the last place of the float nearest to exact.
double ulps(float approx, double exact) {
  const double ulp = std::ldexp(1.0, std::ilogb(exact) - 23);
  return std::fabs(double(approx) - exact) / ulp;
}

}  // namespace

TEST_CASE("fast_exp: float within 2 ulp of exp from -87.3 to 88.7") {
  // A uniform grid of 2^21 points over the range, and points near 0 in every binade down to
  // 2^-40 (where e^x - 1 is all in the last bits), both signs.
  double worst = 0;
  float worst_x = 0;
  int checked = 0;
  auto check = [&](float x) {
    const double e = ulps(fast_exp(x), std::exp(double(x)));
    if (e > worst) worst = e, worst_x = x;
    ++checked;
  };
  constexpr int kGrid = 1 << 21;
  for (int i = 0; i <= kGrid; ++i) check(-87.3f + (88.72f + 87.3f) * float(i) / float(kGrid));
  for (int e = -40; e <= 0; ++e)
    for (int j = 0; j < 64; ++j) {
      const float x = std::ldexp(1.0f + float(j) / 64.0f, e);
      check(x);
      check(-x);
    }
  INFO("worst ", worst, " ulp at x = ", worst_x, " over ", checked, " points");
  CHECK(checked > kGrid);
  CHECK(worst <= 2.0);
  CHECK(fast_exp(0.0f) == 1.0f);
  CHECK(fast_exp(-0.0f) == 1.0f);
}

TEST_CASE("fast_exp: edges") {
  constexpr float inf = std::numeric_limits<float>::infinity();
  CHECK(fast_exp(-inf) == 0.0f);
  CHECK(fast_exp(-88.0f) == 0.0f);  // below FLT_MIN: flushed
  CHECK(fast_exp(-87.3f) >= std::numeric_limits<float>::min());
  CHECK(fast_exp(inf) == inf);
  CHECK(fast_exp(89.0f) == inf);
  CHECK(std::isfinite(fast_exp(88.7f)));
  CHECK(ulps(fast_exp(88.7f), std::exp(double(88.7f))) <= 2.0);
  CHECK(std::isnan(fast_exp(std::numeric_limits<float>::quiet_NaN())));
  CHECK(std::isnan(fast_exp(-std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("fast_exp: double is std::exp") {
  for (double x : {-700.0, -3.25, -1e-9, 0.0, 0.5, 1.0, 42.0, 700.0})
    CHECK(fast_exp(x) == std::exp(x));
}
