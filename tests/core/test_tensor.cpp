// Tensor creation, data access, printing, random generation and the errors of each.
#include <doctest/doctest.h>

#include <sstream>

#include "engine/fovea.h"

using namespace fovea;

TEST_CASE("creation: zeros, ones, full, arange, from_vector") {
  CHECK(zeros({2, 3}).to_vector<float>() == std::vector<float>(6, 0));
  CHECK(ones({2}, DType::Float64).to_vector<double>() == std::vector<double>{1, 1});
  CHECK(full({3}, 2.5).to_vector<float>() == std::vector<float>{2.5, 2.5, 2.5});
  CHECK(arange(0, 1, 0.25, DType::Float64).to_vector<double>() ==
        std::vector<double>{0, 0.25, 0.5, 0.75});
  CHECK(arange(5, 0, -2, DType::Int64).to_vector<int64_t>() == std::vector<int64_t>{5, 3, 1});
  CHECK(arange(3, 3).numel() == 0);
  Tensor t = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.dtype() == DType::Float64);
  CHECK(t.at({1, 0}) == 4);
  CHECK(scalar_tensor(7).dim() == 0);
  CHECK(scalar_tensor(7).item() == 7);
  CHECK(zeros_like(t).shape() == t.shape());
  CHECK(t.to(DType::Int64).to_vector<int64_t>()[5] == 6);
  CHECK(from_values({1.7, -1.7}, {2}).to(DType::Int64).to_vector<int64_t>() ==
        std::vector<int64_t>{1, -1});  // truncation, as a C++ cast
}

TEST_CASE("creation and access errors name the op and the shapes") {
  CHECK_THROWS_WITH_AS(from_vector<float>({1, 2, 3}, {2, 2}),
                       doctest::Contains("from_vector: 3 values do not fill shape [2, 2]"), Error);
  CHECK_THROWS_WITH_AS(empty({2, -1}), doctest::Contains("negative dimension"), Error);
  CHECK_THROWS_WITH_AS(arange(0, 1, 0), doctest::Contains("non-zero step"), Error);
  Tensor t = zeros({2, 3});
  CHECK_THROWS_WITH_AS(t.item(), doctest::Contains("one-element tensor, got shape [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(t.at({2, 0}), doctest::Contains("out of bounds for shape [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(t.data<double>(), doctest::Contains("requested float64 from a float32"),
                       Error);
  CHECK_THROWS_WITH_AS(t.size(2), doctest::Contains("dim 2 is out of range for a 2-d tensor"),
                       Error);
  CHECK_THROWS_WITH_AS(Tensor().shape(), doctest::Contains("undefined tensor"), Error);
}

TEST_CASE("shape errors: broadcasting, views, bad dims, dtypes") {
  Tensor a = zeros({2, 3}), b = zeros({4});
  CHECK_THROWS_WITH_AS(a + b, doctest::Contains("add: shapes [2, 3] and [4] cannot be broadcast"),
                       Error);
  CHECK_THROWS_WITH_AS(a * zeros({2, 3}, DType::Float64),
                       doctest::Contains("mul: dtypes differ: float32[2, 3] and float64[2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(a.reshape({4, 2}), doctest::Contains("reshape: shape [4, 2] is invalid"),
                       Error);
  CHECK_THROWS_WITH_AS(a.reshape({-1, -1}), doctest::Contains("only one dim may be -1"), Error);
  CHECK_THROWS_WITH_AS(a.permute({0, 0}), doctest::Contains("appears more than once"), Error);
  CHECK_THROWS_WITH_AS(a.transpose(0, 2), doctest::Contains("transpose: dim 2 is out of range"),
                       Error);
  CHECK_THROWS_WITH_AS(a.expand({3, 3}), doctest::Contains("expand: cannot expand"), Error);
  CHECK_THROWS_WITH_AS(a.narrow(1, 2, 2), doctest::Contains("narrow: [2, 4) is outside dim 1"),
                       Error);
  CHECK_THROWS_WITH_AS(sum(a, {-3}), doctest::Contains("sum: dim -3 is out of range"), Error);
  CHECK_THROWS_WITH_AS(exp(arange(3, DType::Int64)),
                       doctest::Contains("exp: expected a float32 or float64 tensor, got int64"),
                       Error);
  CHECK_THROWS_WITH_AS(a.add_(zeros({3, 3})), doctest::Contains("add_"), Error);
  CHECK_THROWS_WITH_AS(a.copy_(zeros({2})), doctest::Contains("copy_"), Error);
  CHECK_THROWS_WITH_AS(clamp(a, 1, 0), doctest::Contains("clamp: min 1 must not exceed max 0"),
                       Error);
}

TEST_CASE("printing looks like PyTorch and summarises large tensors") {
  std::ostringstream os;
  os << from_values({1, -2.5, 3, 4}, {2, 2});
  CHECK(os.str() == "tensor([[ 1.0000, -2.5000],\n        [ 3.0000,  4.0000]], dtype=float32)");
  std::ostringstream big;
  big << zeros({2000});
  CHECK(big.str().find("...") != std::string::npos);
  CHECK(big.str().size() < 200);
  std::ostringstream ints;
  ints << arange(3, DType::Int64);
  CHECK(ints.str() == "tensor([0, 1, 2], dtype=int64)");
  std::ostringstream g;
  g << ones({1}).set_requires_grad() * 2.0;
  CHECK(g.str().find("grad_fn=<MulBackward>") != std::string::npos);
}

TEST_CASE("random: seeded, reproducible, state can be saved and restored") {
  Generator a(42), b(42), c(43);
  CHECK(randn({8}, DType::Float64, &a).to_vector<double>() ==
        randn({8}, DType::Float64, &b).to_vector<double>());
  CHECK(randn({8}, DType::Float64, &a).to_vector<double>() !=
        randn({8}, DType::Float64, &c).to_vector<double>());
  const std::string state = a.state();
  const std::vector<double> next = rand({5}, DType::Float64, &a).to_vector<double>();
  Generator d(1);
  d.set_state(state);
  CHECK(rand({5}, DType::Float64, &d).to_vector<double>() == next);
  CHECK_THROWS_AS(d.set_state("garbage"), Error);
  // moments of a large sample
  Tensor n = randn({200000}, DType::Float64, &a);
  CHECK(mean(n).item() == doctest::Approx(0).epsilon(0.01).scale(1));
  CHECK(mean(n * n).item() == doctest::Approx(1).epsilon(0.01));
  Tensor u = rand({200000}, DType::Float64, &a);
  CHECK(mean(u).item() == doctest::Approx(0.5).epsilon(0.01));
  const std::vector<int64_t> perm = randperm(10, &a).to_vector<int64_t>();
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("in-place ops on overlapping memory read the source before writing") {
  Tensor x = arange(4, DType::Float64);
  x.narrow(0, 1, 3).copy_(x.narrow(0, 0, 3));  // a shifted view of itself
  CHECK(x.to_vector<double>() == std::vector<double>{0, 0, 1, 2});
  Tensor m = arange(9, DType::Float64).reshape({3, 3});
  m.copy_(m.t());
  CHECK(m.to_vector<double>() == std::vector<double>{0, 3, 6, 1, 4, 7, 2, 5, 8});
  Tensor a = arange(4, DType::Float64);
  a.add_(a);  // the same elements: element by element is exact
  CHECK(a.to_vector<double>() == std::vector<double>{0, 2, 4, 6});
  Tensor r = arange(6, DType::Float64).reshape({2, 3});
  r.narrow(1, 1, 2).add_(r.narrow(1, 0, 2));
  CHECK(r.to_vector<double>() == std::vector<double>{0, 1, 3, 3, 7, 9});
  Tensor e = ones({1, 4}).expand({3, 4});
  CHECK_THROWS_WITH_AS(e.add_(1.0), doctest::Contains("add_: float32[3, 4] has elements that share "
                                                      "memory"),
                       Error);
  CHECK_THROWS_WITH_AS(e.fill_(0), doctest::Contains("fill_"), Error);
}

TEST_CASE("scalars combine with int64 tensors only when they are integers") {
  Tensor i = arange(4, DType::Int64);
  CHECK((i * 2.0).to_vector<int64_t>() == std::vector<int64_t>{0, 2, 4, 6});
  CHECK_THROWS_WITH_AS(i * 2.5, doctest::Contains("scalar: 2.5 is not an integer"), Error);
  CHECK_THROWS_AS(i.mul_(0.5), Error);
  CHECK_THROWS_AS(i.add_(i, 0.5), Error);
}
