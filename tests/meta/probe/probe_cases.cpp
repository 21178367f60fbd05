// The test cases of fovea_test_probe, a doctest binary built with the suite's own runner
// (tests/main.cpp) for tests/meta/test_suite_integrity.cpp: one ordinary name and one with the
// ';' that ctest's test discovery splits into two entries matching nothing. It is never
// registered with ctest itself.
#include <doctest/doctest.h>

TEST_CASE("probe: an ordinary name") { CHECK(1 + 1 == 2); }

TEST_CASE("probe: a name with a semicolon; split by ctest") { CHECK(2 + 2 == 4); }
