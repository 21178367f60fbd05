// attention/memory.h: the bytes of a matrix (saturating, never wrapping), their text, and the
// refusal of a matrix that cannot fit, on a stand-in small machine. The modules' own use of it
// is in their tests (test_sagan.cpp).
#include <doctest/doctest.h>

#include <cstdint>

#include "attention/memory.h"
#include "engine/core/cpu_allocator.h"
#include "support/small_machine.h"

using namespace fovea;
using namespace fovea::attention;
using doctest::Contains;

namespace {
constexpr size_t kMiB = size_t(1) << 20, kGiB = size_t(1) << 30;
}

TEST_CASE("attention memory: matrix_bytes multiplies the shape by the element size") {
  CHECK(matrix_bytes({2, 3}, DType::Float32) == 24);
  CHECK(matrix_bytes({2, 3}, DType::Float64) == 48);
  CHECK(matrix_bytes({8, 4096, 4096}, DType::Float32) == 512 * kMiB);
  CHECK(matrix_bytes({}, DType::Float64) == 8);  // a 0-d tensor holds one element
  CHECK(matrix_bytes({5, 0, 7}, DType::Float32) == 0);
}

TEST_CASE("attention memory: matrix_bytes saturates at SIZE_MAX instead of wrapping") {
  // 2^64 elements: a wrapping product would give 0 (and pass any check).
  CHECK(matrix_bytes({int64_t(1) << 32, int64_t(1) << 32}, DType::Float32) == SIZE_MAX);
  CHECK(matrix_bytes({int64_t(1) << 62, 4}, DType::Float64) == SIZE_MAX);
  CHECK(matrix_bytes({INT64_MAX, INT64_MAX, 2}, DType::Float32) == SIZE_MAX);
  // Just below the limit it is still exact.
  CHECK(matrix_bytes({int64_t(1) << 30, int64_t(1) << 30}, DType::Float64) == size_t(1) << 63);
  // A zero anywhere is 0 bytes, even after a saturated prefix.
  CHECK(matrix_bytes({int64_t(1) << 40, int64_t(1) << 40, 0}, DType::Float32) == 0);
}

TEST_CASE("attention memory: byte_string in B / MiB / GiB") {
  CHECK(byte_string(0) == "0 B");
  CHECK(byte_string(512) == "512 B");
  CHECK(byte_string(kMiB - 1) == "1048575 B");
  CHECK(byte_string(kMiB) == "1.00 MiB");
  CHECK(byte_string(64 * kMiB + kMiB / 2) == "64.50 MiB");
  CHECK(byte_string(kGiB - 1) == "1024.00 MiB");  // rounded to two places
  CHECK(byte_string(kGiB) == "1.00 GiB");
  CHECK(byte_string(3 * kGiB / 2) == "1.50 GiB");
  CHECK(byte_string(SIZE_MAX) == "17179869184.00 GiB");
}

TEST_CASE("attention memory: check_matrix_fits refuses by name what the machine cannot hold") {
  test::SmallMachine machine(24 * kMiB);
  const Device cpu = Device::cpu();
  // 8 MiB each: three fit exactly, four do not.
  CHECK_NOTHROW(check_matrix_fits("M", "score matrix", {2, 1024, 1024}, DType::Float32, cpu, 3,
                                  "why"));
  CHECK_THROWS_WITH_AS(
      check_matrix_fits("M", "score matrix", {2, 1024, 1024}, DType::Float32, cpu, 4,
                        "scores, softmax and two gradients"),
      "M: the score matrix float32[2, 1024, 1024] (x4 live: scores, softmax and two gradients) "
      "needs 32.00 MiB, more than the 24.00 MiB available on cpu; use a smaller input or batch",
      OutOfMemoryError);
  // Without a reason the parentheses hold the count alone.
  CHECK_THROWS_WITH_AS(
      check_matrix_fits("M", "matrix", {4, 1024, 1024}, DType::Float64, cpu, 1, ""),
      Contains("M: the matrix float64[4, 1024, 1024] (x1 live) needs 32.00 MiB"), OutOfMemoryError);
  // live x one matrix saturates too: a huge matrix times 3 is refused, not wrapped to a small
  // number.
  CHECK_THROWS_WITH_AS(check_matrix_fits("M", "matrix", {int64_t(1) << 61}, DType::Float32, cpu, 3,
                                         ""),
                       Contains("needs 17179869184.00 GiB"), OutOfMemoryError);
  CHECK_THROWS_WITH_AS(check_matrix_fits("M", "matrix", {int64_t(1) << 60}, DType::Float32, cpu,
                                         3, ""),
                       Contains("needs 12884901888.00 GiB"), OutOfMemoryError);
}
