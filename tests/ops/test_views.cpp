// View ops share storage (no copy) and route gradients back to the input's layout;
// reductions sum and mean over any set of dims.
#include <doctest/doctest.h>

#include "engine/fovea.h"
#include "support/op_check.h"

using namespace fovea;
using fovea::test::OpCase;

namespace {
using Xs = std::vector<Tensor>;
}

TEST_CASE("views share storage and have the expected strides") {
  Tensor x = arange(24, DType::Float32).reshape({2, 3, 4});
  CHECK(x.strides() == Shape{12, 4, 1});
  Tensor t = x.transpose(0, 2);
  CHECK(t.shape() == Shape{4, 3, 2});
  CHECK(t.strides() == Shape{1, 4, 12});
  CHECK(t.storage() == x.storage());
  CHECK(!t.is_contiguous());
  CHECK(t.at({3, 2, 1}) == x.at({1, 2, 3}));
  Tensor s = x.slice(2, 1, 4, 2);
  CHECK(s.shape() == Shape{2, 3, 2});
  CHECK(s.to_vector<float>()[0] == 1);
  CHECK(s.to_vector<float>()[1] == 3);
  Tensor e = from_values({1, 2, 3}, {3, 1}).expand({2, 3, 4});
  CHECK(e.strides() == Shape{0, 1, 0});
  CHECK(e.at({1, 2, 3}) == 3);
  CHECK(x.unsqueeze(1).shape() == Shape{2, 1, 3, 4});
  CHECK(x.unsqueeze(-1).shape() == Shape{2, 3, 4, 1});
  CHECK(x.unsqueeze(0).squeeze(0).shape() == x.shape());
  CHECK(x.squeeze(1).shape() == x.shape());  // size 3: a no-op, as in PyTorch
  CHECK(x.flatten(1).shape() == Shape{2, 12});
  CHECK(x.view({-1, 4}).shape() == Shape{6, 4});
  CHECK(x.select(1, 2).shape() == Shape{2, 4});
  CHECK(x.select(1, -1).at({1, 0}) == 20);
  CHECK(x.narrow(1, 1, 2).at({0, 0, 0}) == 4);
  CHECK(x.permute({2, 0, 1}).contiguous().at({3, 1, 2}) == 23);
  // reshape copies only when it must
  CHECK(x.reshape({6, 4}).storage() == x.storage());
  CHECK(t.reshape({24}).storage() != x.storage());
  CHECK(t.reshape({24}).at({1}) == 12);
}

TEST_CASE("view refuses a layout that needs a copy") {
  Tensor t = arange(6, DType::Float32).reshape({2, 3}).t();
  CHECK_THROWS_WITH_AS(t.view({6}), doctest::Contains("cannot be viewed as [6]"), Error);
  CHECK(t.reshape({6}).to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("to(dtype) converts the gradient back to the input's dtype") {
  Tensor x = from_values({1, 2, 3}, {3}, DType::Float64).set_requires_grad();
  Tensor y = x.to(DType::Float32);
  CHECK(y.dtype() == DType::Float32);
  CHECK(y.grad_fn()->name() == "ToDtypeBackward");
  sum(y * from_values({0.5, 2, 4}, {3})).backward();
  CHECK(x.grad().dtype() == DType::Float64);
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0.5, 2, 4});
}

TEST_CASE("sum and mean: values over any set of dims") {
  Tensor x = arange(24, DType::Float64).reshape({2, 3, 4});
  CHECK(sum(x).item() == 276);
  CHECK(sum(x, {0}).to_vector<double>()[0] == 12);
  CHECK(sum(x, {1}).shape() == Shape{2, 4});
  CHECK(sum(x, {1}).at({1, 3}) == 15 + 19 + 23);
  CHECK(sum(x, {0, 2}).to_vector<double>() == std::vector<double>{60, 92, 124});
  CHECK(sum(x, {-1}, true).shape() == Shape{2, 3, 1});
  CHECK(mean(x, {2}).at({0, 0}) == 1.5);
  CHECK(mean(x.transpose(0, 2), {0, 2}).to_vector<double>() ==
        std::vector<double>{(60 / 8.0), 92 / 8.0, 124 / 8.0});
  Tensor big = ones({3, 100000}, DType::Float32);  // long rows take the split-row path
  CHECK(sum(big, {1}).to_vector<float>() == std::vector<float>{100000, 100000, 100000});
  CHECK(sum(big).item() == 300000);
}

TEST_CASE("gradcheck: views, copies and reductions") {
  test::check_op_cases({
      {"reshape", {{2, 3, 4}}, [](const Xs& x) { return x[0].reshape({4, 6}); }},
      {"view", {{2, 3, 4}}, [](const Xs& x) { return x[0].contiguous().view({6, -1}); }},
      {"permute", {{2, 3, 4}}, [](const Xs& x) { return x[0].permute({1, 2, 0}); }},
      {"transpose", {{2, 3, 4}}, [](const Xs& x) { return x[0].transpose(0, 2); }},
      {"expand", {{3, 1}}, [](const Xs& x) { return x[0].expand({2, 3, 4}); }},
      {"squeeze/unsqueeze", {{2, 3}}, [](const Xs& x) {
         return x[0].unsqueeze(1).unsqueeze(-1).squeeze(1) * 2.0;
       }},
      {"slice", {{4, 5}}, [](const Xs& x) { return x[0].slice(1, 1, 5, 2); }},
      {"narrow", {{4, 5}}, [](const Xs& x) { return x[0].narrow(0, 1, 2); }},
      {"select", {{4, 5}}, [](const Xs& x) { return x[0].select(1, 3); }},
      {"flatten", {{2, 3, 4}}, [](const Xs& x) { return x[0].flatten(1); }},
      {"contiguous", {{2, 3}}, [](const Xs& x) { return x[0].t().contiguous(); }},
      {"clone", {{2, 3}}, [](const Xs& x) { return x[0].clone() * x[0]; }},
      {"sum all", {{2, 3, 4}}, [](const Xs& x) { return sum(x[0]); }},
      {"sum dims", {{2, 3, 4}}, [](const Xs& x) { return sum(x[0], {0, 2}); }},
      {"sum keepdim", {{2, 3, 4}}, [](const Xs& x) { return sum(x[0], {1}, true); }},
      {"mean all", {{2, 3, 4}}, [](const Xs& x) { return mean(x[0]); }},
      {"mean dims", {{2, 3, 4}}, [](const Xs& x) { return mean(x[0], {-1, 0}, true); }},
      {"sum_to", {{2, 3, 4}}, [](const Xs& x) { return sum_to(x[0], {3, 1}); }},
  });
}
