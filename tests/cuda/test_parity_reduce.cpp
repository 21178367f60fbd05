// CUDA parity of the reductions: sum, max/min with their indices, var/std, logsumexp and
// p-norms, over any dims, forward and backward, with short rows (one thread each) and long rows
// (one block each), ties and NaN.
//
// Tolerances: rel 1e-6 + abs 1e-6 for the sums, var, logsumexp and finite p-norms: both devices
// accumulate in double and round once, in different orders (exp, log and pow on a GPU are
// within a few double ulp). max/min values, indices and p = inf norms are exact.
#include <doctest/doctest.h>

#include <limits>

#include "engine/fovea.h"
#include "support/cuda_parity.h"

using namespace fovea;
using test::random_index;
using test::random_values;

namespace {

constexpr test::Tolerance kExact{0, 0};
constexpr test::Tolerance kReduce{1e-6, 1e-6};

struct DimsCase {
  Shape shape;
  std::vector<int64_t> dims;
  bool keepdim;
};

// Short rows, long rows (> 64 and > the 256-thread block), leading dims, all dims, an empty
// reduced dim.
const std::vector<DimsCase> kDims = {
    {{5, 7, 9}, {2}, false},     {{5, 7, 9}, {0}, false},    {{5, 7, 9}, {0, 1}, true},
    {{5, 7, 9}, {1}, true},      {{5, 7, 9}, {0, 2}, false}, {{3, 1031}, {1}, false},
    {{1031, 3}, {0}, false},     {{2, 3, 257}, {}, false},   {{4, 2, 300}, {0, 2}, false}};

std::string case_name(const char* op, const DimsCase& c) {
  return std::string(op) + " " + shape_str(c.shape) + " over " + shape_str(c.dims) +
         (c.keepdim ? " keepdim" : "");
}

void check_dims_op(const char* op, const test::CudaDevice& cuda, test::Tolerance tol,
                   const std::function<Tensor(const Tensor&, const DimsCase&)>& fn) {
  for (const DimsCase& c : kDims)
    test::check_op_parity({case_name(op, c),
                           [&fn, c](const std::vector<Tensor>& x) { return fn(x[0], c); },
                           {random_values(c.shape, c.shape.size() * 11 + c.dims.size(), -2, 2)},
                           tol},
                          cuda);
}

}  // namespace

TEST_CASE("cuda parity: sum over any dims with short and long rows and leading dims") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  check_dims_op("sum", cuda, kReduce,
                [](const Tensor& x, const DimsCase& c) { return sum(x, c.dims, c.keepdim); });
  for (const Shape& shape : {Shape{1, 1}, Shape{6, 0, 4}})
    test::check_op_parity({"sum " + shape_str(shape),
                           [](const std::vector<Tensor>& x) { return sum(x[0], {1}); },
                           {random_values(shape, 3, -1, 1)}, kReduce},
                          cuda);
}

TEST_CASE("cuda parity: var std logsumexp and p-norms over any dims") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  check_dims_op("var", cuda, kReduce, [](const Tensor& x, const DimsCase& c) {
    return var(x, c.dims, 1, c.keepdim);
  });
  check_dims_op("std biased", cuda, kReduce, [](const Tensor& x, const DimsCase& c) {
    return stddev(x, c.dims, 0, c.keepdim);
  });
  check_dims_op("logsumexp", cuda, kReduce, [](const Tensor& x, const DimsCase& c) {
    return logsumexp(x, c.dims.empty() ? std::vector<int64_t>{0, 1} : c.dims, c.keepdim);
  });
  for (double p : {1.0, 2.0, 3.5})
    check_dims_op(("norm p=" + std::to_string(p)).c_str(), cuda, kReduce,
                  [p](const Tensor& x, const DimsCase& c) { return norm(x, p, c.dims, c.keepdim); });
  check_dims_op("norm p=inf", cuda, kExact, [](const Tensor& x, const DimsCase& c) {
    return norm(x, std::numeric_limits<double>::infinity(), c.dims, c.keepdim);
  });
}

TEST_CASE("cuda parity: max and min values and first indices with ties and NaN") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  check_dims_op("amax", cuda, kExact, [](const Tensor& x, const DimsCase& c) {
    return amax(x, c.dims, c.keepdim);
  });
  // Whole numbers in [-3, 3): many ties, so the first-index rule decides most rows.
  const Device dev = cuda.device();
  for (const Shape& shape : {Shape{7, 300}, Shape{300, 7}, Shape{5, 33}}) {
    const Tensor x = random_values(shape, shape[0], -3, 3).to(DType::Int64).to(DType::Float32);
    for (int64_t dim : {0, 1}) {
      const std::string what = "max/min " + shape_str(shape) + " dim " + std::to_string(dim);
      for (bool is_max : {true, false}) {
        const MaxResult host = is_max ? max(x, dim) : min(x, dim);
        const MaxResult device = is_max ? max(x.to(dev), dim) : min(x.to(dev), dim);
        test::check_parity(device.values, host.values, kExact, what + ": values");
        test::check_parity(device.indices, host.indices, kExact, what + ": indices");
      }
      test::check_op_parity({what + " backward",
                             [dim](const std::vector<Tensor>& v) { return max(v[0], dim).values; },
                             {x}, kExact},
                            cuda);
    }
  }
  // A NaN beats every number, and the first NaN wins.
  Tensor x = random_values({4, 300}, 9, -1, 1);
  {
    NoGradGuard no_grad;
    x.slice(0, 1, 2).slice(1, 200, 201).fill_(std::numeric_limits<double>::quiet_NaN());
    x.slice(0, 1, 2).slice(1, 250, 251).fill_(std::numeric_limits<double>::quiet_NaN());
    x.slice(0, 2, 3).slice(1, 3, 4).fill_(std::numeric_limits<double>::quiet_NaN());
  }
  const MaxResult host = max(x, 1), device = max(x.to(dev), 1);
  test::check_parity(device.values, host.values, kExact, "max with NaN: values");
  test::check_parity(device.indices, host.indices, kExact, "max with NaN: indices");
  CHECK(device.indices.to(Device::cpu()).to_vector<int64_t>()[1] == 200);
}
