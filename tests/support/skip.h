// Runtime skips that ctest reports as "Skipped": a test that cannot run here (no GPU, no
// ../shared/data) prints a line containing [fovea-skip] and returns; tests/CMakeLists.txt sets
// SKIP_REGULAR_EXPRESSION to that marker for every test.
//   if (!cuda_available(&why)) return skip_test(why);
#pragma once

#include <iostream>
#include <string>

namespace fovea::test {

inline void skip_test(const std::string& why) { std::cout << "[fovea-skip] " << why << std::endl; }

}  // namespace fovea::test
