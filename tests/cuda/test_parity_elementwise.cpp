// CUDA parity of the element-wise slots with a CUDA twin so far: fill, copy (device to device,
// host to device, device to host, with dtype conversion and broadcast) and every unary op,
// forward and backward, in every layout of support/cuda_parity.h.
//
// Tolerances: copies and fills are exact. Unary ops: rel 2e-6 (16 float ulp) plus abs 1e-7
// (results near 0, e.g. 1 - y in tanh'): CUDA's expf, logf, tanhf, erff and powf are within 2
// ulp of glibc's and sigmoid, silu and gelu compose up to three of them. On the emulator the
// kernels call glibc like the CPU, and the results agree to the bit.
#include <doctest/doctest.h>

#include "engine/fovea.h"
#include "support/cuda_parity.h"

using namespace fovea;
using test::random_index;
using test::random_values;
using test::Layout;

namespace {

constexpr test::Tolerance kExact{0, 0};
constexpr test::Tolerance kUnary{1e-7, 2e-6};

struct UnaryCase {
  UnaryOp op;
  double lo, hi;  // input range: positive where the op needs it
};

std::vector<UnaryCase> unary_cases() {
  return {{{UnaryKind::Neg}, -4, 4},        {{UnaryKind::Exp}, -6, 6},
          {{UnaryKind::Log}, 0.05, 9},      {{UnaryKind::Sqrt}, 0.01, 9},
          {{UnaryKind::Abs}, -4, 4},        {{UnaryKind::Sigmoid}, -8, 8},
          {{UnaryKind::Tanh}, -4, 4},       {{UnaryKind::Relu}, -4, 4},
          {{UnaryKind::Relu6}, -2, 8},      {{UnaryKind::Hardsigmoid}, -5, 5},
          {{UnaryKind::Hardswish}, -5, 5},  {{UnaryKind::Silu}, -6, 6},
          {{UnaryKind::Gelu}, -5, 5},       {{UnaryKind::Clamp, -0.5, 1.25}, -3, 3},
          {{UnaryKind::PowScalar, 2.5}, 0.1, 3}};
}

}  // namespace

TEST_CASE("cuda parity: fill and copy in every layout and dtype") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  for (int64_t n : test::parity_sizes()) {
    const Tensor values = random_values({2, n}, uint64_t(n), -3, 3);
    for (Layout layout : test::all_layouts()) {
      const std::string what = std::string(test::layout_name(layout)) + " [2, " +
                               std::to_string(n) + "]";
      const Tensor host = *test::with_layout(values, layout, Device::cpu());
      const Tensor dev = *test::with_layout(values, layout, cuda.device());
      test::check_parity(dev, host, kExact, "host to device, " + what);
      // device to device into a strided destination, converting float32 -> float64 -> int64
      for (DType dtype : {DType::Float32, DType::Float64, DType::Int64}) {
        Tensor dst_dev = *test::with_layout(zeros({2, n}, dtype), Layout::Permuted, cuda.device());
        Tensor dst_host = *test::with_layout(zeros({2, n}, dtype), Layout::Permuted, Device::cpu());
        dst_dev.copy_(dev);
        dst_host.copy_(host);
        test::check_parity(dst_dev, dst_host, kExact, "device copy to " +
                           std::string(dtype_name(dtype)) + ", " + what);
        dst_dev.fill_(2.75);
        dst_host.fill_(2.75);
        test::check_parity(dst_dev, dst_host, kExact, "fill, " + what);
      }
      // broadcast from a [1, n] device tensor into [2, n]
      Tensor wide_dev = zeros({2, n}, DType::Float32, cuda.device());
      Tensor wide_host = zeros({2, n});
      wide_dev.copy_(dev.slice(0, 1, 2));
      wide_host.copy_(host.slice(0, 1, 2));
      test::check_parity(wide_dev, wide_host, kExact, "broadcast copy, " + what);
    }
  }
}

TEST_CASE("cuda parity: copies give the same bits under every emulated schedule") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  const Tensor values = random_values({3, 257}, 7, -1, 1);
  test::check_schedules([&] {
    Tensor dst = empty({257, 3}, DType::Float64, cuda.device());
    dst.copy_(test::with_layout(values, Layout::Sliced, cuda.device())->transpose(0, 1));
    return std::vector<Tensor>{dst};
  }, "strided converting copy");
}

TEST_CASE("cuda parity: every unary op forward and backward in every layout") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  for (const UnaryCase& c : unary_cases()) {
    for (int64_t n : {int64_t(1), int64_t(37), int64_t(257)}) {
      const uint64_t seed = uint64_t(n) * 31 + uint64_t(c.op.kind);
      test::check_op_parity({std::string(unary_name(c.op.kind)) + " [3, " + std::to_string(n) + "]",
                             [&](const std::vector<Tensor>& x) { return unary(c.op, x[0]); },
                             {random_values({3, n}, seed, c.lo, c.hi)}, kUnary},
                            cuda);
    }
  }
}

TEST_CASE("cuda: float64 math on the device is a clear error, float64 copies work") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  const Tensor x = random_values({2, 3}, 1, -1, 1).to(DType::Float64);
  const Tensor xd = x.to(cuda.device());
  test::check_parity(xd, x, kExact, "float64 round trip");
  CHECK_THROWS_WITH_AS(relu(xd), doctest::Contains("relu: CUDA kernels compute in float32"),
                       Error);
}

TEST_CASE("cuda: a host read of a device tensor is an error, not a silent read") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  const Tensor xd = zeros({2, 3}, DType::Float32, cuda.device());
  CHECK_THROWS_WITH_AS(xd.data<float>(), doctest::Contains("is not on the CPU"), Error);
  CHECK_THROWS_WITH_AS(xd.raw_data(), doctest::Contains("is not on the CPU"), Error);
  CHECK(xd.to(Device::cpu()).to_vector<float>() == std::vector<float>(6, 0.f));
}
