// MacCounter (engine/ops/mac_count.h): matmul, batched and broadcast matmul, linear and
// convolutions add their multiply-accumulates while a counter lives, softmaxes their elements,
// poolings and reductions the elements they read; other ops and backward passes add nothing;
// counters nest.
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

TEST_CASE("mac count: softmax elements and the elements poolings and reductions read") {
  const Tensor x = randn({2, 3, 4});
  MacCounter c;
  softmax(x, 2);
  log_softmax(x, 1);
  CHECK(c.counts().softmax_elements == 2 * 24);
  // Each reduction reads its whole input once; mean and sum_to go through sum.
  sum(x, {1});
  mean(x, {0, 2});
  amax(x, {2});
  max(x, 1);
  argmax(x, 0);
  var(x, {2});
  logsumexp(x, {1});
  norm(x, 2, {2});
  sum_to(x, {3, 1});
  CHECK(c.counts().reduce_reads == 9 * 24);
  CHECK(c.counts().macs == 0);
}

TEST_CASE("mac count: poolings read every tap of their windows, adaptive ones their bins") {
  MacCounter c;
  Pool2dOptions two;
  two.kernel = {2, 2};
  max_pool2d(randn({2, 3, 5, 5}), two);  // [2, 3, 2, 2], 4 taps each
  CHECK(c.counts().reduce_reads == 2 * 3 * 2 * 2 * 4);
  MacCounter avg;
  Pool2dOptions three;
  three.kernel = {3, 3};
  three.stride = {1, 1};
  three.padding = {1, 1};
  avg_pool2d(randn({1, 2, 4, 4}), three);  // [1, 2, 4, 4], 9 taps each, padding included
  CHECK(avg.counts().reduce_reads == 2 * 16 * 9);
  // Rows 5 -> 2 bins: [0, 3) and [2, 5); columns 7 -> 3 bins: [0, 3), [2, 5), [4, 7).
  MacCounter adaptive;
  adaptive_avg_pool2d(randn({1, 2, 5, 7}), {2, 3});
  CHECK(adaptive.counts().reduce_reads == 2 * (3 + 3) * (3 + 3 + 3));
  adaptive_max_pool2d(randn({1, 2, 5, 7}), {2, 3});
  CHECK(adaptive.counts().reduce_reads == 2 * 2 * (3 + 3) * (3 + 3 + 3));
  CHECK(c.counts().reduce_reads == 96 + 288 + 2 * 108);
}

TEST_CASE("mac count: the backward of softmax and reductions adds nothing") {
  const Tensor x = randn({3, 4}).set_requires_grad();
  const Tensor y = sum(mean(softmax(x, 1), {0}) * amax(x, {0}));
  MacCounter c;
  y.backward();
  CHECK(c.counts().softmax_elements == 0);
  CHECK(c.counts().reduce_reads == 0);
  CHECK(x.grad().defined());
}

TEST_CASE("mac count: backward passes that sum gradients (broadcasts, biases) count nothing") {
  const Tensor x = randn({3, 4}).set_requires_grad(), b = randn({4}).set_requires_grad();
  const Tensor w = randn({5, 4}).set_requires_grad(), bias = randn({5}).set_requires_grad();
  const Tensor y = sum(linear(x + b, w, bias));  // b's gradient and bias's are sums over rows
  MacCounter c;
  y.backward();
  CHECK(c.counts().macs == 0);
  CHECK(c.counts().softmax_elements == 0);
  CHECK(c.counts().reduce_reads == 0);
  CHECK(b.grad().defined());
  CHECK(bias.grad().defined());
  // The same sum outside a backward counts, and a pause stops it.
  sum(x, {0});
  CHECK(c.counts().reduce_reads == 12);
  {
    OpCountPause pause;
    sum(x, {0});
    matmul(x, w.t());
  }
  CHECK(c.counts().reduce_reads == 12);
  CHECK(c.counts().macs == 0);
}

TEST_CASE("mac count: cross_entropy counts its fused log-softmax and its reduction") {
  const Tensor logits = randn({3, 5});
  const Tensor target = from_vector(std::vector<int64_t>{0, 4, 2}, {3});
  MacCounter c;
  cross_entropy(logits, target);  // mean over the 3 losses
  CHECK(c.counts().softmax_elements == 3 * 5);
  CHECK(c.counts().reduce_reads == 3);
  cross_entropy(logits, target, Reduction::None);  // no reduction
  CHECK(c.counts().softmax_elements == 2 * 3 * 5);
  CHECK(c.counts().reduce_reads == 3);
  CHECK(c.counts().macs == 0);
}
