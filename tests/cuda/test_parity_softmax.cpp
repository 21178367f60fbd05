// CUDA parity of softmax and log_softmax along every dim (a thread per line, or a block per long
// last-dim row), and of the class-index losses with and without label smoothing, on every
// reduction, including rows of -inf and huge logits.
//
// Tolerances: abs 1e-6 + rel 1e-6. Both devices use the same float exp (engine/kernels/
// fast_exp.h) and the same finishing formulas; they differ in the order of the double sums and,
// on a GPU, in FMA contraction and log.
#include <doctest/doctest.h>

#include <limits>

#include "engine/fovea.h"
#include "support/cuda_parity.h"

using namespace fovea;
using test::random_index;
using test::random_values;

namespace {

constexpr test::Tolerance kSoftmax{1e-6, 1e-6};

}  // namespace

TEST_CASE("cuda parity: softmax and log_softmax along every dim") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  const std::vector<Shape> shapes = {{3, 5, 7}, {2, 300}, {4, 1031}, {33, 2}, {1, 1}};
  for (const Shape& shape : shapes) {
    for (int64_t dim = 0; dim < int64_t(shape.size()); ++dim) {
      const Tensor x = random_values(shape, shape[0] * 7 + uint64_t(dim), -6, 6);
      const std::string where = shape_str(shape) + " dim " + std::to_string(dim);
      test::check_op_parity({"softmax " + where,
                             [dim](const std::vector<Tensor>& v) { return softmax(v[0], dim); },
                             {x}, kSoftmax},
                            cuda);
      test::check_op_parity({"log_softmax " + where,
                             [dim](const std::vector<Tensor>& v) { return log_softmax(v[0], dim); },
                             {x}, kSoftmax},
                            cuda);
    }
  }
}

TEST_CASE("cuda parity: softmax of -inf and huge logits") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  for (int64_t n : {int64_t(5), int64_t(300)}) {
    Tensor x = random_values({3, n}, uint64_t(n), -3, 3) * 1e4;
    {
      NoGradGuard no_grad;
      x.slice(0, 0, 1).fill_(-std::numeric_limits<double>::infinity());  // all -inf: NaN row
      x.slice(0, 1, 2).slice(1, 0, 2).fill_(-std::numeric_limits<double>::infinity());
    }
    for (bool log : {false, true}) {
      const Tensor host = log ? log_softmax(x, 1) : softmax(x, 1);
      const Tensor device = log ? log_softmax(x.to(cuda.device()), 1)
                                : softmax(x.to(cuda.device()), 1);
      test::check_parity(device, host, kSoftmax,
                         std::string(log ? "log_softmax" : "softmax") + " with -inf, n " +
                             std::to_string(n));
    }
  }
}

TEST_CASE("cuda parity: cross_entropy and nll_loss with label smoothing and every reduction") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  struct LossCase {
    Shape logits;
    Shape target;
  };
  // Few classes (a thread per row), many classes (a block per row), spatial targets.
  const std::vector<LossCase> cases = {{{7, 10}, {7}}, {{3, 1031}, {3}}, {{2, 5, 3, 4}, {2, 3, 4}}};
  for (const LossCase& c : cases) {
    const int64_t classes = c.logits[1];
    const Tensor z = random_values(c.logits, uint64_t(classes), -4, 4);
    const Tensor t = random_index(c.target, classes, uint64_t(classes) + 1);
    for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
      for (double eps : {0.0, 0.1}) {
        const std::string what = "cross_entropy " + shape_str(c.logits) + " reduction " +
                                 std::to_string(int(r)) + " eps " + std::to_string(eps);
        test::check_op_parity(
            {what, [r, eps](const std::vector<Tensor>& v) { return cross_entropy(v[0], v[1], r, eps); },
             {z, t}, kSoftmax},
            cuda);
      }
      test::check_op_parity(
          {"nll_loss " + shape_str(c.logits) + " reduction " + std::to_string(int(r)),
           [r](const std::vector<Tensor>& v) { return nll_loss(log_softmax(v[0], 1), v[1], r); },
           {z, t}, kSoftmax},
          cuda);
    }
  }
}

TEST_CASE("cuda: an out-of-range target on the device is the CPU's error") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  const Tensor z = random_values({4, 5}, 1, -1, 1);
  const Tensor t = from_vector<int64_t>({0, 4, 5, 1}, {4});
  std::string host, device;
  try {
    cross_entropy(z, t);
  } catch (const Error& e) {
    host = e.what();
  }
  try {
    cross_entropy(z.to(cuda.device()), t.to(cuda.device()));
  } catch (const Error& e) {
    device = e.what();
  }
  CHECK(host.find("target value 5 at index [2]") != std::string::npos);
  CHECK(device == host);
}
