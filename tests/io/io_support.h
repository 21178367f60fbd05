// Helpers shared by the file-format tests (scratch files: support/temp_files.h).
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
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

// A checkpoint's metadata as fovea wrote it before checksums (format_version 1): the parsers
// behind the checksum are reached only by such files.
inline std::map<std::string, std::string> as_version_1(std::map<std::string, std::string> meta) {
  meta.erase("checksum");
  meta.erase("format_version");  // erase + emplace: an assignment trips GCC 12's -Wrestrict
  meta.emplace("format_version", "1");
  return meta;
}

}  // namespace fovea::test
