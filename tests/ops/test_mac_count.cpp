// MacCounter (engine/ops/mac_count.h): matmul, batched and broadcast matmul, linear and
// convolutions add their multiply-accumulates while a counter lives; other ops and backward
// passes add nothing; counters nest.
#include <doctest/doctest.h>

#include "engine/fovea.h"

using namespace fovea;

TEST_CASE("mac count: matmul linear and conv count their multiply-accumulates") {
  const Tensor a = randn({2, 3, 4}), b = randn({4, 5});
  MacCounter outer;
  {
    MacCounter c;
    matmul(a, b);  // broadcast over the batch: 2 x (3 x 5 outputs of 4 products)
    CHECK(c.macs() == 2 * 3 * 5 * 4);
  }
  {
    MacCounter c;
    linear(randn({6, 4}), randn({7, 4}), randn({7}));
    CHECK(c.macs() == 6 * 7 * 4);
  }
  {
    MacCounter c;
    Conv2dOptions o;
    o.stride = {2, 2};
    o.padding = {1, 1};
    o.groups = 2;
    // [2, 4, 7, 6] -> [2, 6, 4, 3], 2 input channels per group, 3x3 kernel.
    const Tensor y = conv2d(randn({2, 4, 7, 6}), randn({6, 2, 3, 3}), Tensor(), o);
    REQUIRE(y.shape() == Shape{2, 6, 4, 3});
    CHECK(c.macs() == 2 * 6 * 4 * 3 * 2 * 3 * 3);
  }
  {
    MacCounter c;
    const Tensor x = randn({3, 4}, DType::Float32).set_requires_grad();
    const Tensor y = sum(relu(softmax(x, 1) + x));  // no multiply-accumulate ops
    y.backward();
    CHECK(c.macs() == 0);
  }
  CHECK(outer.macs() == 2 * 3 * 5 * 4 + 6 * 7 * 4 + 2 * 6 * 4 * 3 * 2 * 3 * 3);
}

TEST_CASE("mac count: backward passes are not counted") {
  const Tensor a = randn({3, 4}).set_requires_grad(), b = randn({4, 5}).set_requires_grad();
  const Tensor y = sum(matmul(a, b));
  MacCounter c;
  y.backward();
  CHECK(c.macs() == 0);
  CHECK(a.grad().defined());
}
