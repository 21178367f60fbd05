// cat / stack copy pieces into one tensor; split / split_sizes / chunk / unbind cut one into
// views. Values against hand-computed cases, gradient checks, and one check per class of bad
// input.
#include <doctest/doctest.h>

#include "engine/fovea.h"
#include "support/fake_cuda.h"
#include "support/op_check.h"

using namespace fovea;
using fovea::test::fake_cuda;
using fovea::test::OpCase;

namespace {
using Xs = std::vector<Tensor>;


std::vector<int64_t> sizes_along(const Xs& pieces, int64_t dim) {
  std::vector<int64_t> s;
  for (const Tensor& p : pieces) s.push_back(p.size(dim));
  return s;
}
}  // namespace

TEST_CASE("cat: values along each dim, any layout and dtype") {
  Tensor a = arange(6, DType::Float64).reshape({2, 3});        // [[0 1 2] [3 4 5]]
  Tensor b = from_values({10, 11}, {2, 1}, DType::Float64);
  Tensor c = cat({a, b}, 1);
  CHECK(c.shape() == Shape{2, 4});
  CHECK(c.to_vector<double>() == std::vector<double>{0, 1, 2, 10, 3, 4, 5, 11});
  CHECK(cat({b, a}, -1).to_vector<double>() == std::vector<double>{10, 0, 1, 2, 11, 3, 4, 5});
  Tensor r = cat({a, a * 2.0}, 0);
  CHECK(r.shape() == Shape{4, 3});
  CHECK(r.to_vector<double>() == std::vector<double>{0, 1, 2, 3, 4, 5, 0, 2, 4, 6, 8, 10});
  // A transposed (non-contiguous) input and an empty piece along the cat dim.
  Tensor t = arange(6, DType::Float64).reshape({3, 2}).t();  // [[0 2 4] [1 3 5]]
  Tensor e = zeros({0, 3}, DType::Float64);
  CHECK(cat({e, t, e, a}, 0).to_vector<double>() ==
        std::vector<double>{0, 2, 4, 1, 3, 5, 0, 1, 2, 3, 4, 5});
  Tensor i = cat({from_vector<int64_t>({1, 2}, {2}), from_vector<int64_t>({7}, {1})}, 0);
  CHECK(i.dtype() == DType::Int64);
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 7});
  CHECK(cat({a}, 1).to_vector<double>() == a.to_vector<double>());
  CHECK(!cat({a}, 1).same(a));  // always a new tensor, never an alias
}

TEST_CASE("cat: each input receives its own slice of the gradient") {
  Tensor a = ones({2, 2}, DType::Float64).set_requires_grad();
  Tensor b = ones({2, 1}, DType::Float64).set_requires_grad();
  Tensor frozen = ones({2, 1}, DType::Float64);
  Tensor y = cat({a, frozen, b}, 1);
  CHECK(y.grad_fn()->name() == "CatBackward");
  y.backward(arange(8, DType::Float64).reshape({2, 4}));  // [[0 1 2 3] [4 5 6 7]]
  CHECK(a.grad().to_vector<double>() == std::vector<double>{0, 1, 4, 5});
  CHECK(b.grad().to_vector<double>() == std::vector<double>{3, 7});
  CHECK(!frozen.grad().defined());
}

TEST_CASE("stack: a new dim anywhere, negative dims count from the end") {
  Tensor a = from_values({1, 2, 3}, {3}, DType::Float64);
  Tensor b = from_values({4, 5, 6}, {3}, DType::Float64);
  Tensor s0 = stack({a, b}, 0);
  CHECK(s0.shape() == Shape{2, 3});
  CHECK(s0.to_vector<double>() == std::vector<double>{1, 2, 3, 4, 5, 6});
  Tensor s1 = stack({a, b}, 1);
  CHECK(s1.shape() == Shape{3, 2});
  CHECK(s1.to_vector<double>() == std::vector<double>{1, 4, 2, 5, 3, 6});
  CHECK(stack({a, b}, -1).to_vector<double>() == s1.to_vector<double>());
  CHECK(stack({a, b}, -2).to_vector<double>() == s0.to_vector<double>());
  Tensor scalars = stack({scalar_tensor(7.0), scalar_tensor(8.0)}, 0);
  CHECK(scalars.shape() == Shape{2});
  CHECK(scalars.to_vector<float>() == std::vector<float>{7, 8});
}

TEST_CASE("split, split_sizes, chunk, unbind: piece sizes, values and shared storage") {
  Tensor x = arange(14, DType::Float64).reshape({7, 2});
  Xs s = split(x, 3, 0);
  CHECK(sizes_along(s, 0) == std::vector<int64_t>{3, 3, 1});  // the last piece is smaller
  CHECK(s[2].to_vector<double>() == std::vector<double>{12, 13});
  CHECK(s[1].storage() == x.storage());
  CHECK(sizes_along(split(x, 7, 0), 0) == std::vector<int64_t>{7});
  CHECK(sizes_along(split(x, 10, -2), 0) == std::vector<int64_t>{7});
  CHECK(sizes_along(split(x, 1, 1), 1) == std::vector<int64_t>{1, 1});

  Xs ss = split_sizes(x, {2, 0, 5}, 0);
  CHECK(sizes_along(ss, 0) == std::vector<int64_t>{2, 0, 5});
  CHECK(ss[2].at({0, 1}) == 5);

  CHECK(sizes_along(chunk(x, 3, 0), 0) == std::vector<int64_t>{3, 3, 1});
  CHECK(sizes_along(chunk(arange(5), 3, 0), 0) == std::vector<int64_t>{2, 2, 1});
  // torch.chunk: ceil(6 / 4) = 2 per piece gives only 3 pieces
  CHECK(sizes_along(chunk(arange(6), 4, 0), 0) == std::vector<int64_t>{2, 2, 2});
  CHECK(sizes_along(chunk(arange(2), 5, 0), 0) == std::vector<int64_t>{1, 1});
  CHECK(sizes_along(chunk(zeros({0, 3}), 3, 0), 0) == std::vector<int64_t>{0, 0, 0});
  CHECK(sizes_along(split(zeros({0, 3}), 2, 0), 0) == std::vector<int64_t>{0});

  Xs u = unbind(x, 1);
  REQUIRE(u.size() == 2);
  CHECK(u[1].shape() == Shape{7});
  CHECK(u[1].to_vector<double>() == std::vector<double>{1, 3, 5, 7, 9, 11, 13});
  CHECK(u[0].storage() == x.storage());
  CHECK(unbind(x, 0).size() == 7);
}

TEST_CASE("split pieces are views: their gradients add up in the input") {
  Tensor x = zeros({5}, DType::Float64).set_requires_grad();
  Xs p = split(x, 2, 0);  // sizes 2, 2, 1; the middle piece is not used
  Tensor y = sum(p[0] * 2.0) + sum(p[2] * 3.0) + sum(unbind(x, 0)[0]);
  y.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{3, 2, 0, 0, 3});
}

TEST_CASE("gradcheck: cat and stack") {
  test::check_op_cases({
      {"cat dim 1, three sizes", {{2, 3, 4}, {2, 2, 4}, {2, 5, 4}},
       [](const Xs& x) { return cat({x[0], x[1], x[2]}, 1); }},
      {"cat dim 0", {{2, 3}, {3, 3}}, [](const Xs& x) { return cat({x[0], x[1]}, 0); }},
      {"cat last dim, negative", {{2, 3, 2}, {2, 3, 3}},
       [](const Xs& x) { return cat({x[1], x[0]}, -1); }},
      {"cat same tensor twice", {{3, 2}}, [](const Xs& x) { return cat({x[0], x[0] * 2.0}, 0); }},
      {"cat then product", {{2, 3}, {2, 3}},
       [](const Xs& x) { return cat({x[0], x[1]}, 1) * cat({x[1], x[0]}, 1); }},
      {"stack dim 0", {{2, 3}, {2, 3}, {2, 3}},
       [](const Xs& x) { return stack({x[0], x[1], x[2]}, 0); }},
      {"stack middle dim", {{2, 3}, {2, 3}}, [](const Xs& x) { return stack({x[0], x[1]}, 1); }},
      {"stack last dim", {{2, 3}, {2, 3}}, [](const Xs& x) { return stack({x[1], x[0]}, -1); }},
  });
}

TEST_CASE("gradcheck: split, split_sizes, chunk, unbind") {
  test::check_op_cases({
      {"split reordered and weighted", {{7, 3}}, [](const Xs& x) {
         Xs p = split(x[0], 3, 0);
         return cat({p[2] * 3.0, p[0], p[1] * p[1]}, 0);
       }},
      {"split one piece unused", {{2, 5}}, [](const Xs& x) { return split(x[0], 2, 1)[1] * 2.0; }},
      {"split_sizes", {{2, 6, 2}}, [](const Xs& x) {
         Xs p = split_sizes(x[0], {1, 3, 2}, 1);
         return cat({p[1], p[0] * p[0], p[2] * -1.0}, 1);
       }},
      {"chunk", {{3, 5}}, [](const Xs& x) {
         Xs p = chunk(x[0], 2, 1);  // sizes 3, 2
         return cat({p[1] * 2.0, p[0]}, 1);
       }},
      {"unbind", {{3, 4}}, [](const Xs& x) {
         Xs p = unbind(x[0], 0);
         return stack({p[2], p[0] * p[1]}, 0);
       }},
      {"unbind last dim", {{2, 3}}, [](const Xs& x) {
         Xs p = unbind(x[0], -1);
         return p[0] + p[1] * 2.0 - p[2] * p[0];
       }},
  });
}

TEST_CASE("join and split errors name the op, the inputs and the shapes") {
  using doctest::Contains;
  Tensor a = zeros({2, 3}, DType::Float64), b = zeros({2, 4}, DType::Float64);
  CHECK_THROWS_WITH_AS(cat({}, 0), Contains("cat: needs at least one tensor"), Error);
  CHECK_THROWS_WITH_AS(stack({}, 0), Contains("stack: needs at least one tensor"), Error);
  CHECK_THROWS_WITH_AS(cat({a, Tensor()}, 0), Contains("cat: input 1 is an undefined tensor"),
                       Error);
  CHECK_THROWS_WITH_AS(cat({a, a.to(DType::Float32)}, 0),
                       Contains("cat (inputs 0 and 1): dtypes differ: float64[2, 3] and "
                                "float32[2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(cat({a, fake_cuda({2, 3})}, 0),
                       Contains("cat (inputs 0 and 1): tensors are on different devices"), Error);
  CHECK_THROWS_WITH_AS(cat({a, a, b}, 0),
                       Contains("cat: input 2 has shape [2, 4] but input 0 has shape [2, 3]; "
                                "they must match outside dim 0"),
                       Error);
  CHECK_THROWS_WITH_AS(cat({a, zeros({2, 3, 1}, DType::Float64)}, 1),
                       Contains("cat: input 1 has shape [2, 3, 1] but input 0 has shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(cat({a, b}, 2), Contains("cat: dim 2 is out of range"), Error);
  CHECK_THROWS_WITH_AS(cat({scalar_tensor(1.0)}, 0), Contains("cat: input 0 is the 0-d tensor"),
                       Error);
  CHECK_THROWS_WITH_AS(stack({a, b}, 0),
                       Contains("stack: input 1 has shape [2, 4] but input 0 has shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(stack({a, a}, 3), Contains("stack: dim 3 is out of range"), Error);
  CHECK_THROWS_WITH_AS(stack({a, a}, -4), Contains("stack: dim -4 is out of range"), Error);
  CHECK_THROWS_WITH_AS(stack({a, a.to(DType::Float32)}, 0),
                       Contains("stack (inputs 0 and 1): dtypes differ"), Error);
  CHECK_THROWS_WITH_AS(split(a, 0, 0), Contains("split: split_size must be positive, got 0"),
                       Error);
  CHECK_THROWS_WITH_AS(split(a, 1, 2), Contains("split: dim 2 is out of range"), Error);
  CHECK_THROWS_WITH_AS(split_sizes(a, {1, 1}, 1),
                       Contains("split_sizes: sizes [1, 1] sum to 2 but dim 1 of float64[2, 3] "
                                "has size 3"),
                       Error);
  CHECK_THROWS_WITH_AS(split_sizes(a, {4, -1}, 1),
                       Contains("split_sizes: sizes must be non-negative"), Error);
  CHECK_THROWS_WITH_AS(split_sizes(a, {2}, -3), Contains("split_sizes: dim -3 is out of range"),
                       Error);
  CHECK_THROWS_WITH_AS(chunk(a, 0, 1), Contains("chunk: chunks must be positive, got 0"), Error);
  CHECK_THROWS_WITH_AS(chunk(a, 2, 5), Contains("chunk: dim 5 is out of range"), Error);
  CHECK_THROWS_WITH_AS(unbind(a, -3), Contains("unbind: dim -3 is out of range"), Error);
}
