// Small comparison helpers shared by the test suites.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "engine/core/tensor.h"

namespace fovea::test {

// All elements, row-major, as doubles.
inline std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// The largest |a - b| over all elements (shapes must match); a NaN difference wins.
inline double max_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<double> va = values(a), vb = values(b);
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    const double d = std::abs(va[i] - vb[i]);
    if (!(d <= worst)) worst = d;
  }
  return worst;
}

}  // namespace fovea::test
