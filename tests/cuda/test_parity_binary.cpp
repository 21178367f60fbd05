// CUDA parity of the binary slots (every BinaryKind, broadcast both ways, float32 and int64)
// and where. The backward of a broadcast operand runs the CUDA sum (test_parity_reduce.cpp).
//
// Tolerances: binary ops rel 2e-6 + abs 1e-7 (pow calls powf and logf: 2 ulp each on a GPU;
// the others are exact IEEE operations). int64 ops and where are exact.
#include <doctest/doctest.h>

#include "engine/fovea.h"
#include "support/cuda_parity.h"

using namespace fovea;
using test::random_index;
using test::random_values;

namespace {

constexpr test::Tolerance kExact{0, 0};
constexpr test::Tolerance kBinary{1e-7, 2e-6};

// Whole numbers (truncated toward zero), as float32.
Tensor whole(const Tensor& t) { return t.to(DType::Int64).to(DType::Float32); }

const std::vector<BinaryKind> kKinds = {
    BinaryKind::Add, BinaryKind::Sub, BinaryKind::Mul, BinaryKind::Div, BinaryKind::Pow,
    BinaryKind::Maximum, BinaryKind::Minimum, BinaryKind::Eq, BinaryKind::Ne, BinaryKind::Lt,
    BinaryKind::Le, BinaryKind::Gt, BinaryKind::Ge};

}  // namespace

TEST_CASE("cuda parity: every binary op forward and backward with broadcasting") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  const std::vector<Shape> b_shapes = {{3, 37}, {37}, {3, 1}, {1}};
  for (BinaryKind kind : kKinds) {
    for (const Shape& bs : b_shapes) {
      const uint64_t seed = uint64_t(kind) * 7 + bs.size() * 3 + uint64_t(bs.back());
      // Positive a for pow; b away from 0 for div; integer-valued inputs make ties for
      // maximum/minimum and equalities for the comparisons.
      Tensor a = random_values({3, 37}, seed, 0.2, 3);
      Tensor b = random_values(bs, seed + 1, 0.5, 2.5);
      if (kind == BinaryKind::Maximum || kind == BinaryKind::Minimum ||
          binary_is_comparison(kind)) {
        a = whole(a);
        b = whole(b);
      }
      test::check_op_parity({std::string(binary_name(kind)) + " b" + shape_str(bs),
                             [kind](const std::vector<Tensor>& x) { return binary(kind, x[0], x[1]); },
                             {a, b}, kBinary, !binary_is_comparison(kind)},
                            cuda);
    }
  }
}

TEST_CASE("cuda parity: int64 binary ops, where, and in-place updates") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  const Tensor a = random_values({4, 33}, 1, -9, 9).to(DType::Int64);
  const Tensor b = random_values({33}, 2, -9, 9).to(DType::Int64);
  const Device dev = cuda.device();
  for (BinaryKind kind : {BinaryKind::Add, BinaryKind::Sub, BinaryKind::Mul, BinaryKind::Maximum,
                          BinaryKind::Minimum, BinaryKind::Eq, BinaryKind::Lt, BinaryKind::Ge})
    test::check_parity(binary(kind, a.to(dev), b.to(dev)), binary(kind, a, b), kExact,
                       std::string("int64 ") + binary_name(kind));
  CHECK_THROWS_WITH_AS(div(a.to(dev), b.to(dev)), doctest::Contains("div"), Error);

  const Tensor x = random_values({4, 33}, 3, -1, 1), y = random_values({4, 1}, 4, -1, 1);
  for (const Tensor& cond : {gt(x, y), gt(x, y).to(DType::Int64)}) {
    test::check_parity(where(cond.to(dev), x.to(dev), y.to(dev)), where(cond, x, y), kExact,
                       std::string("where, condition ") + dtype_name(cond.dtype()));
    test::check_parity(where(cond.to(dev), a.to(dev), b.to(dev)), where(cond, a, b), kExact,
                       std::string("int64 where, condition ") + dtype_name(cond.dtype()));
  }

  NoGradGuard no_grad;
  Tensor host = x.clone(), device = x.to(dev);
  host.add_(y);
  device.add_(y.to(dev));
  host.mul_(x.transpose(0, 1).contiguous().transpose(0, 1));
  device.mul_(x.to(dev).transpose(0, 1).contiguous().transpose(0, 1));
  test::check_parity(device, host, kBinary, "in-place add_ and mul_");
}
