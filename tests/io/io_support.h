// Helpers shared by the file-format tests (scratch files: support/temp_files.h).
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/core/tensor.h"
#include "support/temp_files.h"

namespace fovea::test {

// Same dtype, shape and bit-identical elements (NaN-free inputs assumed).
inline bool identical(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  return FOVEA_DISPATCH_ALL(a.dtype(), "identical",
                            [&] { return a.to_vector<scalar_t>() == b.to_vector<scalar_t>(); });
}


}  // namespace fovea::test
