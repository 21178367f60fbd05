// CUDA parity tests: every CUDA kernel against its CPU twin (cuda/README.md, "Tests").
//
//   test::CudaDevice cuda;                      // the backend under test, or a skip
//   if (!cuda.ok()) return;
//   Tensor x = *test::with_layout(values, test::Layout::Permuted, cuda.device());
//   test::check_parity(f(x), f(x_cpu), {1e-6, 1e-6}, "relu forward, transposed");
//
// The CUDA side runs on the backend the runner selected: the emulator by default
// (tests/main.cpp), the GPU with FOVEA_CUDA_BACKEND=gpu. On the emulator, check_schedules also
// reruns a computation with the threads of every block released in reverse and in shuffled
// order, blocks too, and demands the same bits: a missing __syncthreads or a result that
// depends on block order shows up as a difference.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/tensor.h"
#include "support/layouts.h"

namespace fovea::test {

struct Tolerance {
  double abs = 0;  // |cuda - cpu| <= abs + rel * |cpu|, elementwise
  double rel = 0;
};

// Selects nothing: reads which backend serves Device::cuda() and whether it can run here. When
// it cannot, ok() is false and the test has been reported as skipped.
class CudaDevice {
 public:
  CudaDevice();
  bool ok() const { return ok_; }
  bool emulated() const { return emulated_; }
  Device device() const { return Device::cuda(); }

 private:
  bool ok_ = false;
  bool emulated_ = false;
};

// `cuda` (on any device) matches `cpu`: same shape and dtype, every element within `tol`, NaN
// exactly where `cpu` has NaN, the same infinities. A failure names `what`, the worst element's
// index and both values.
void check_parity(const Tensor& cuda, const Tensor& cpu, Tolerance tol, const std::string& what);

// Bit-for-bit equality.
void check_identical(const Tensor& a, const Tensor& b, const std::string& what);

// The values of `values` in `layout` (support/layouts.h), built on `device`; nothing when
// values' rank does not allow the layout. The same call with Device::cpu() gives the CPU
// reference the same numbers in the same layout.
std::optional<Tensor> with_layout(const Tensor& values, Layout layout, Device device);

// Emulator only (a no-op on a GPU): runs `compute` under the Forward, Reverse and Shuffle
// schedules and checks that each run returns bit-identical tensors.
void check_schedules(const std::function<std::vector<Tensor>()>& compute, const std::string& what);

// One op under test: fn on inputs (CPU, contiguous values; float32, or int64 such as class
// targets, which take no gradient), forward and backward.
struct ParityOp {
  std::string name;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  std::vector<Tensor> values;
  Tolerance tol;
  bool backward = true;  // false: the op has no gradient (comparisons)
};

// For each layout: every input in that layout where its rank allows (else contiguous), on the
// CPU and on the CUDA device; y = fn(inputs) and, when op.backward, y.backward(g) with a random
// upstream g. Compares y and every float input's gradient. Then, on the emulator, the contiguous run
// must give the same bits under the Reverse and Shuffle schedules.
void check_op_parity(const ParityOp& op, const CudaDevice& cuda);

// Uniform float32 values in [lo, hi) from a generator seeded with `seed`.
Tensor random_values(const Shape& shape, uint64_t seed, double lo = -1, double hi = 1);
// int64 values in [0, size), e.g. indices or class targets.
Tensor random_index(const Shape& shape, int64_t size, uint64_t seed);

// Sizes with which kernels meet their edge cases: 1, primes, one below, at and above the
// element-wise block size (256) and a multiple of it.
const std::vector<int64_t>& parity_sizes();

}  // namespace fovea::test
