// index_select / gather read through an int64 index; index_add / scatter_add write through
// one, adding every duplicate. Values against hand-computed (torch-documented) cases,
// gradients with duplicate indices, gradient checks, and one check per class of bad input.
#include <doctest/doctest.h>

#include "engine/fovea.h"
#include "support/fake_cuda.h"
#include "support/op_check.h"

using namespace fovea;
using fovea::test::fake_cuda;
using fovea::test::OpCase;

namespace {
using Xs = std::vector<Tensor>;
using I = std::vector<int64_t>;

Tensor idx(const I& v, const Shape& shape) { return from_vector<int64_t>(v, shape); }
Tensor idx(const I& v) { return idx(v, {int64_t(v.size())}); }

// The index tensors of a gradcheck case (never perturbed).
std::function<Xs(Generator&)> fixed(Xs t) {
  return [t](Generator&) { return t; };
}

}  // namespace

TEST_CASE("index_select: rows, columns, duplicates, any layout") {
  Tensor x = arange(12, DType::Float64).reshape({3, 4});  // [[0 1 2 3] [4 5 6 7] [8 9 10 11]]
  Tensor r = index_select(x, 0, idx({2, 0, 2}));
  CHECK(r.shape() == Shape{3, 4});
  CHECK(r.to_vector<double>() == std::vector<double>{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
  Tensor c = index_select(x, -1, idx({3, 3, 1}));
  CHECK(c.shape() == Shape{3, 3});
  CHECK(c.to_vector<double>() == std::vector<double>{3, 3, 1, 7, 7, 5, 11, 11, 9});
  // Transposed input and a strided (every second element) index.
  Tensor strided_index = idx({1, 9, 0, 9, 1, 9}).slice(0, 0, 6, 2);  // [1, 0, 1]
  CHECK(index_select(x.t(), 1, strided_index).to_vector<double>() ==
        std::vector<double>{4, 0, 4, 5, 1, 5, 6, 2, 6, 7, 3, 7});
  CHECK(index_select(x, 1, idx({})).shape() == Shape{3, 0});
  Tensor labels = idx({5, 6, 7});
  CHECK(index_select(labels, 0, idx({2, 2, 0})).to_vector<int64_t>() == I{7, 7, 5});
}

TEST_CASE("gather: torch.gather semantics") {
  Tensor x = from_values({1, 2, 3, 4}, {2, 2}, DType::Float64);
  // torch docs: gather(t, 1, [[0, 0], [1, 0]]) = [[1, 1], [4, 3]]
  CHECK(gather(x, 1, idx({0, 0, 1, 0}, {2, 2})).to_vector<double>() ==
        std::vector<double>{1, 1, 4, 3});
  CHECK(gather(x, 0, idx({1, 0, 1, 1}, {2, 2})).to_vector<double>() ==
        std::vector<double>{3, 2, 3, 4});
  // The index may be smaller than x off the gather dim and longer along it.
  Tensor y = arange(12, DType::Float32).reshape({3, 4});
  Tensor g = gather(y, 1, idx({3, 0, 3, 3, 2, 1}, {2, 3}));
  CHECK(g.shape() == Shape{2, 3});
  CHECK(g.to_vector<float>() == std::vector<float>{3, 0, 3, 7, 6, 5});
  CHECK(gather(y.t(), 0, idx({2, 1}, {1, 2})).to_vector<float>() == std::vector<float>{2, 5});
  Tensor big = arange(5 * 4 * 3, DType::Float64).reshape({5, 4, 3});
  Tensor gi = gather(big, 0, idx({4, 0, 2, 1, 3, 3}, {1, 2, 3}));
  CHECK(gi.to_vector<double>() == std::vector<double>{48, 1, 26, 15, 40, 41});
}

TEST_CASE("scatter_add and index_add: duplicates accumulate") {
  // torch docs: zeros(3, 5).scatter_add(0, [[0, 1, 2, 0, 0], [0, 1, 2, 2, 2]], ones(2, 5))
  Tensor s = scatter_add(zeros({3, 5}, DType::Float64), 0,
                         idx({0, 1, 2, 0, 0, 0, 1, 2, 2, 2}, {2, 5}), ones({2, 5}, DType::Float64));
  CHECK(s.to_vector<double>() ==
        std::vector<double>{2, 0, 0, 1, 1, 0, 2, 0, 0, 0, 0, 0, 2, 1, 1});
  // src larger than the index: only the covered part is added; self is left untouched.
  Tensor self = ones({2, 3}, DType::Float64);
  Tensor src = arange(12, DType::Float64).reshape({3, 4}) + 1.0;
  Tensor t = scatter_add(self, 1, idx({2, 2, 0, 1}, {2, 2}), src);
  CHECK(t.to_vector<double>() == std::vector<double>{1, 1, 4, 6, 7, 1});
  CHECK(self.to_vector<double>() == std::vector<double>(6, 1.0));

  Tensor a = index_add(ones({4, 2}, DType::Float64), 0, idx({0, 3, 0}),
                       from_values({1, 2, 10, 20, 100, 200}, {3, 2}, DType::Float64));
  CHECK(a.to_vector<double>() == std::vector<double>{102, 203, 1, 1, 1, 1, 11, 21});
  Tensor b = index_add(zeros({2, 3}), 1, idx({2, 2}), ones({2, 2}));
  CHECK(b.to_vector<float>() == std::vector<float>{0, 0, 2, 0, 0, 2});
}

TEST_CASE("scatter_add accumulates float32 in double") {
  // 1e8 followed by a thousand ones into one float32 slot: a float32 running sum would stay
  // at 1e8 (its spacing there is 8), the double accumulator gives the exact 100001000.
  std::vector<float> values(1001, 1.0f);
  values[0] = 1e8f;
  Tensor out = scatter_add(zeros({1}), 0, idx(I(1001, 0)), from_vector(values, {1001}));
  CHECK(out.item<float>() == 100001000.0f);
}

TEST_CASE("index kernels: large inputs run in parallel, duplicates still add exactly") {
  // Lines along the scatter dim are split across threads: 200 lines of 400 duplicates.
  I v(200 * 400);
  for (int64_t r = 0; r < 200; ++r)
    for (int64_t j = 0; j < 400; ++j) v[size_t(r * 400 + j)] = (r * 7 + j) % 10;
  Tensor counts = scatter_add(zeros({200, 10}), 1, idx(v, {200, 400}), ones({200, 400}));
  CHECK(counts.to_vector<float>() == std::vector<float>(2000, 40.0f));
  // Columns split across threads, rows repeated.
  Tensor rows = index_add(zeros({3, 50000}, DType::Float64), 0, idx({0, 1, 0, 2, 0}),
                          ones({5, 50000}, DType::Float64));
  CHECK(sum(rows, {1}).to_vector<double>() == std::vector<double>{150000, 50000, 50000});
  Tensor picked = index_select(rows, 0, idx({2, 0}));
  CHECK(sum(picked, {1}).to_vector<double>() == std::vector<double>{50000, 150000});
  // The first bad value is reported even when a later chunk finds one first.
  I bad(100000, 1);
  bad[70000] = 3;
  bad[90000] = -2;
  CHECK_THROWS_WITH_AS(index_select(rows, 0, idx(bad)),
                       doctest::Contains("index_select: index 3 at position [70000]"), Error);
}

TEST_CASE("index gradients: duplicate indices accumulate") {
  Tensor x = from_values({1, 2, 3, 4}, {4}, DType::Float64).set_requires_grad();
  Tensor y = index_select(x, 0, idx({1, 1, 3, 1}));
  CHECK(y.grad_fn()->name() == "IndexSelectBackward");
  y.backward(from_values({1, 10, 100, 1000}, {4}, DType::Float64));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 1011, 0, 100});

  Tensor m = zeros({2, 3}, DType::Float64).set_requires_grad();
  Tensor gm = gather(m, 1, idx({2, 2, 0, 1, 1, 1}, {2, 3}));
  CHECK(gm.grad_fn()->name() == "GatherBackward");
  gm.backward(from_values({1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float64));
  CHECK(m.grad().to_vector<double>() == std::vector<double>{3, 0, 3, 0, 15, 0});

  Tensor self = zeros({3}, DType::Float64).set_requires_grad();
  Tensor src = zeros({2, 2}, DType::Float64).set_requires_grad();
  Tensor s = scatter_add(self, 0, idx({2}, {1}), src.reshape({4}));
  CHECK(s.grad_fn()->name() == "ScatterAddBackward");
  s.backward(from_values({7, 8, 9}, {3}, DType::Float64));
  CHECK(self.grad().to_vector<double>() == std::vector<double>{7, 8, 9});
  CHECK(src.grad().to_vector<double>() == std::vector<double>{9, 0, 0, 0});  // uncovered: 0

  Tensor base = zeros({2}, DType::Float64).set_requires_grad();
  Tensor add_src = zeros({3}, DType::Float64).set_requires_grad();
  Tensor a = index_add(base, 0, idx({1, 0, 1}), add_src);
  CHECK(a.grad_fn()->name() == "IndexAddBackward");
  a.backward(from_values({5, 6}, {2}, DType::Float64));
  CHECK(base.grad().to_vector<double>() == std::vector<double>{5, 6});
  CHECK(add_src.grad().to_vector<double>() == std::vector<double>{6, 5, 6});
}

TEST_CASE("gradcheck: index_select and gather with duplicate indices") {
  test::check_op_cases({
      {"index_select dim 0", {{4, 3}}, [](const Xs& x) { return index_select(x[0], 0, x[1]); },
       test::Inputs::Normal, {}, fixed({idx({3, 1, 3, 0, 3})})},
      {"index_select middle dim", {{2, 4, 3}},
       [](const Xs& x) { return index_select(x[0], 1, x[1]); }, test::Inputs::Normal, {},
       fixed({idx({2, 2, 0})})},
      {"index_select last dim, squared", {{3, 4}},
       [](const Xs& x) {
         Tensor s = index_select(x[0], -1, x[1]);
         return s * s;
       },
       test::Inputs::Normal, {}, fixed({idx({1, 3, 1, 1})})},
      {"gather dim 0", {{3, 4}}, [](const Xs& x) { return gather(x[0], 0, x[1]); },
       test::Inputs::Normal, {}, fixed({idx({2, 0, 2, 2, 2, 1, 0, 2}, {2, 4})})},
      {"gather last dim, index smaller off dim", {{3, 4, 5}},
       [](const Xs& x) { return gather(x[0], 2, x[1]); }, test::Inputs::Normal, {},
       fixed({idx({4, 4, 0, 1, 1, 3, 2, 2, 2, 0, 4, 0, 3, 3, 3, 1, 0, 1, 2, 2, 4, 4, 0, 0},
                  {2, 3, 4})})},
      {"gather middle dim", {{2, 3, 2}}, [](const Xs& x) { return gather(x[0], 1, x[1]); },
       test::Inputs::Normal, {}, fixed({idx({0, 2, 0, 0, 1, 2, 2, 2, 2, 1}, {2, 5, 1})})},
  });
}

TEST_CASE("gradcheck: index_add and scatter_add (self and src)") {
  test::check_op_cases({
      {"index_add dim 0", {{3, 2}, {4, 2}},
       [](const Xs& x) { return index_add(x[0], 0, x[2], x[1]); }, test::Inputs::Normal, {},
       fixed({idx({2, 0, 2, 2})})},
      {"index_add last dim, times self", {{2, 3}, {2, 4}},
       [](const Xs& x) { return index_add(x[0], 1, x[2], x[1]) * x[0]; },
       test::Inputs::Normal, {}, fixed({idx({1, 1, 0, 1})})},
      {"scatter_add dim 0", {{3, 4}, {2, 4}},
       [](const Xs& x) { return scatter_add(x[0], 0, x[2], x[1]); }, test::Inputs::Normal, {},
       fixed({idx({2, 0, 2, 2, 2, 1, 0, 2}, {2, 4})})},
      {"scatter_add src larger than index", {{2, 3}, {3, 4}},
       [](const Xs& x) { return scatter_add(x[0], 1, x[2], x[1]); }, test::Inputs::Normal, {},
       fixed({idx({2, 2, 0, 1}, {2, 2})})},
      {"scatter_add middle dim, squared", {{2, 2, 3}, {2, 4, 3}},
       [](const Xs& x) {
         Tensor s = scatter_add(x[0], 1, x[2], x[1]);
         return s * s;
       },
       test::Inputs::Normal, {},
       fixed({idx({1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 1, 0},
                  {2, 4, 3})})},
  });
}

TEST_CASE("index errors name the op, the value and its position") {
  using doctest::Contains;
  Tensor x = zeros({3, 4}, DType::Float64);
  CHECK_THROWS_WITH_AS(index_select(x, 0, from_values({0, 1}, {2})),
                       Contains("index_select: index must be int64, got float32[2]"), Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, idx({0, 1}, {1, 2})),
                       Contains("index_select: index must be 1-D, got int64[1, 2]"), Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, idx({0, 3, 1})),
                       Contains("index_select: index 3 at position [1] of the index is out of "
                                "range for dim 0 of size 3"),
                       Error);
  CHECK_THROWS_WITH_AS(index_select(x, 1, idx({0, 1, 2, -1})),
                       Contains("index_select: index -1 at position [3]"), Error);
  CHECK_THROWS_WITH_AS(index_select(x, 2, idx({0})), Contains("index_select: dim 2 is out of range"),
                       Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, fake_cuda({1}, DType::Int64)),
                       Contains("index_select: tensors are on different devices"), Error);

  CHECK_THROWS_WITH_AS(gather(x, 1, idx({0, 1}, {2, 1}).to(DType::Float64)),
                       Contains("gather: index must be int64, got float64[2, 1]"), Error);
  CHECK_THROWS_WITH_AS(gather(x, 1, idx({0, 1})),
                       Contains("gather: index int64[2] has 1 dims but input float64[3, 4] has 2"),
                       Error);
  CHECK_THROWS_WITH_AS(gather(x, 1, idx(I(5, 0), {5, 1})),
                       Contains("gather: index int64[5, 1] is larger than input float64[3, 4] in "
                                "dim 0 (5 > 3)"),
                       Error);
  CHECK_THROWS_WITH_AS(gather(x, 1, idx({0, 1, 2, 3, 4, 0}, {2, 3})),
                       Contains("gather: index 4 at position [1, 1] of the index is out of range "
                                "for dim 1 of size 4"),
                       Error);
  CHECK_THROWS_WITH_AS(gather(x, -3, idx({0}, {1, 1})), Contains("gather: dim -3 is out of range"),
                       Error);

  Tensor src = ones({2, 4}, DType::Float64);
  CHECK_THROWS_WITH_AS(scatter_add(x, 0, idx({0, 1}, {1, 2}), src.to(DType::Float32)),
                       Contains("scatter_add: dtypes differ"), Error);
  CHECK_THROWS_WITH_AS(scatter_add(x, 0, idx({0, 1}), src),
                       Contains("scatter_add: index int64[2] has 1 dims but self"), Error);
  CHECK_THROWS_WITH_AS(scatter_add(x, 0, idx(I(6, 0), {1, 6}), src),
                       Contains("scatter_add: index int64[1, 6] is larger than src float64[2, 4] "
                                "in dim 1 (6 > 4)"),
                       Error);
  CHECK_THROWS_WITH_AS(scatter_add(x, 0, idx({0, 1, 2, 0, 9, 1}, {3, 2}), ones({3, 2}, DType::Float64)),
                       Contains("scatter_add: index 9 at position [2, 0] of the index is out of "
                                "range for dim 0 of size 3"),
                       Error);
  CHECK_THROWS_WITH_AS(scatter_add(zeros({2, 2}, DType::Float64), 1, idx(I(6, 0), {3, 2}),
                                   ones({3, 2}, DType::Float64)),
                       Contains("scatter_add: index int64[3, 2] is larger than self float64[2, 2] "
                                "in dim 0 (3 > 2)"),
                       Error);

  CHECK_THROWS_WITH_AS(index_add(x, 0, idx({0, 1}), ones({3, 4}, DType::Float64)),
                       Contains("index_add: src float64[3, 4] must have shape [2, 4]"), Error);
  CHECK_THROWS_WITH_AS(index_add(x, 1, idx({4}), ones({3, 1}, DType::Float64)),
                       Contains("index_add: index 4 at position [0] of the index is out of range "
                                "for dim 1 of size 4"),
                       Error);
  CHECK_THROWS_WITH_AS(index_add(x, 1, idx({0}, {1, 1}), ones({3, 1}, DType::Float64)),
                       Contains("index_add: index must be 1-D"), Error);
}
