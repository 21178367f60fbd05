// The inputs that made a fuzz target fail (tests/fuzz/regressions/<target>/<name>), for the
// regression tests of the fixes. They are the target's inputs, so some start with the target's
// option byte (tests/fuzz/README.md); file_bytes() drops it.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "support/temp_files.h"

namespace fovea::test {

inline std::vector<uint8_t> fuzz_input(const std::string& target, const std::string& name) {
  std::vector<uint8_t> bytes = read_bytes(std::string(FOVEA_FUZZ_REGRESSIONS) + "/" + target + "/" + name);
  REQUIRE_MESSAGE(!bytes.empty(), "missing fuzz regression input ", target, "/", name);
  return bytes;
}

// The file the target wrote from an input that starts with an option byte.
inline std::vector<uint8_t> fuzz_file_bytes(const std::string& target, const std::string& name) {
  std::vector<uint8_t> bytes = fuzz_input(target, name);
  bytes.erase(bytes.begin());
  return bytes;
}

}  // namespace fovea::test
