// CUDA parity of the normalisation slots (cuda/norm.cu): batch_norm in training (BatchNorm2d
// shapes with odd and 1x1 maps, BatchNorm1d's [N, C] and [N, C, L]) and in eval, the running
// statistics after three training steps (nn::BatchNorm2d / BatchNorm1d, momentum 0.1 and
// None, and running stats that are overlapping views), group_norm with 1, 2 and C groups,
// layer_norm over the last dim (longer than a block, and 3) and over the last two dims (longer
// than 2048: the largest block); forward and the gradients of x, weight and bias, in every
// layout, with the emulator's schedule check; the parameter-only backward and empty batches.
//
// Tolerances: rel 2e-6 + abs 2e-6 for outputs, gradients and running statistics. Both devices
// compute the statistics in double (two passes) and round them to float32 once; they differ
// only in the order of the double additions (the backward sums N*H*W terms), which moves a
// float32 result by at most an ulp where it lands next to a rounding boundary. The float32
// steps, y = (x - mean) * scale + shift and dx = a (g - k1 - (x - mean) k2), are the same
// expressions (engine/kernels/norm.h) on O(1) values; on a GPU nvcc contracts them into FMAs
// (the CPU and the emulator build with -ffp-contract=off), which moves a result by half an ulp
// of its largest term, up to ~3e-7 here and absolute where terms cancel: hence the absolute
// part. rstd is 1 / sqrt in double on both (IEEE on a GPU too; no rsqrtf). On the emulator
// every result of this file is bit-identical to the CPU's.
#include <doctest/doctest.h>

#include "engine/fovea.h"
#include "layers/layers.h"
#include "support/cuda_parity.h"

using namespace fovea;
using test::random_index;
using test::random_values;

namespace {

constexpr test::Tolerance kNorm{2e-6, 2e-6};

using Xs = std::vector<Tensor>;

// x away from 0 on average (mean 1.5), so that a kernel forgetting to subtract the mean, or
// subtracting another channel's, is off by O(1).
Tensor input(const Shape& shape, uint64_t seed) { return random_values(shape, seed, -0.5, 3.5); }
Tensor weight(int64_t c, uint64_t seed) { return random_values({c}, seed, 0.5, 1.5); }
Tensor bias(int64_t c, uint64_t seed) { return random_values({c}, seed, -1, 1); }
Tensor arg(const Xs& x, size_t i) { return i < x.size() ? x[i] : Tensor(); }

}  // namespace

TEST_CASE("cuda parity: batch_norm training on odd sizes and 1x1 maps and BatchNorm1d shapes") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  const std::vector<Shape> shapes = {{3, 5, 7, 11}, {2, 4, 1, 1}, {7, 5}, {4, 3, 9}};
  for (const Shape& shape : shapes) {
    const int64_t c = shape[1];
    const uint64_t seed = uint64_t(shape.size() * 100 + shape[0] * 10 + c);
    for (bool affine : {true, false}) {
      // Fresh running statistics on the input's device: the in-block update runs too.
      auto fn = [c](const Xs& x) {
        const Device dev = x[0].device();
        return batch_norm(x[0], zeros({c}, DType::Float32, dev), ones({c}, DType::Float32, dev),
                          arg(x, 1), arg(x, 2), true);
      };
      Xs values = {input(shape, seed)};
      if (affine) values.insert(values.end(), {weight(c, seed + 1), bias(c, seed + 2)});
      test::check_op_parity({"batch_norm train " + shape_str(shape) +
                                 (affine ? "" : " without affine"),
                             fn, values, kNorm},
                            cuda);
    }
  }
}

TEST_CASE("cuda parity: batch_norm eval with running statistics") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  for (const Shape& shape : {Shape{3, 5, 7, 11}, Shape{7, 5}}) {
    const int64_t c = shape[1];
    const Tensor rm = random_values({c}, 31, -1, 2), rv = random_values({c}, 32, 0.2, 3);
    auto fn = [rm, rv](const Xs& x) {
      const Device dev = x[0].device();
      return batch_norm(x[0], rm.to(dev), rv.to(dev), x[1], x[2], false);
    };
    test::check_op_parity(
        {"batch_norm eval " + shape_str(shape), fn, {input(shape, 33), weight(c, 34), bias(c, 35)},
         kNorm},
        cuda);
  }
}

TEST_CASE("cuda parity: batch_norm running statistics after three training steps") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  const Device dev = cuda.device();
  struct ModuleCase {
    std::string name;
    Shape shape;
    std::optional<double> momentum;
  };
  const std::vector<ModuleCase> cases = {{"BatchNorm2d", {3, 5, 7, 11}, 0.1},
                                         {"BatchNorm2d", {3, 5, 7, 11}, std::nullopt},
                                         {"BatchNorm1d", {7, 5}, 0.1}};
  for (const ModuleCase& mc : cases) {
    const std::string what =
        mc.name + " " + shape_str(mc.shape) + (mc.momentum ? " momentum 0.1" : " momentum None");
    nn::BatchNormOptions options;
    options.momentum = mc.momentum;
    // The module's three steps on `device`: its outputs, then its buffers.
    auto steps = [&](Device device) {
      std::shared_ptr<nn::BatchNorm> bn;
      if (mc.shape.size() == 4)
        bn = std::make_shared<nn::BatchNorm2d>(mc.shape[1], options);
      else
        bn = std::make_shared<nn::BatchNorm1d>(mc.shape[1], options);
      bn->to(device);
      std::vector<Tensor> out;
      for (uint64_t step = 0; step < 3; ++step)
        out.push_back(bn->forward(input(mc.shape, 40 + step).to(device)));
      bn->eval();
      out.push_back(bn->forward(input(mc.shape, 43).to(device)));
      out.insert(out.end(), {bn->running_mean, bn->running_var, bn->num_batches_tracked});
      return out;
    };
    const std::vector<Tensor> d = steps(dev), h = steps(Device::cpu());
    for (size_t i = 0; i < d.size(); ++i) {
      const std::string item = i < 3 ? "train step " + std::to_string(i) + " output"
                               : i == 3 ? "eval output"
                               : i == 4 ? "running_mean"
                               : i == 5 ? "running_var"
                                        : "num_batches_tracked";
      test::check_parity(d[i], h[i], kNorm, what + ": " + item);
    }
    test::check_schedules([&] { return steps(dev); }, what);
  }

  // Running statistics whose updates may overlap take the serial path, in channel order as on
  // the CPU: both in one storage, and a stride-0 view that every channel updates in turn.
  const Shape shape{3, 5, 7, 11};
  auto overlapping = [&](Device device) {
    NoGradGuard no_grad;
    Tensor both = ones({2, 5}, DType::Float32, device);
    Tensor rm = both.select(0, 0), rv = both.select(0, 1);
    Tensor shared_mean = zeros({1}, DType::Float32, device).expand({5});
    for (uint64_t step = 0; step < 3; ++step) {
      const Tensor x = input(shape, 50 + step).to(device);
      batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.3);
      batch_norm(x, shared_mean, Tensor(), Tensor(), Tensor(), true, 0.3);
    }
    return std::vector<Tensor>{both, shared_mean.contiguous()};
  };
  const std::vector<Tensor> d = overlapping(dev), h = overlapping(Device::cpu());
  test::check_parity(d[0], h[0], kNorm, "running stats in one storage");
  test::check_parity(d[1], h[1], kNorm, "running mean as a stride-0 view");
  test::check_schedules([&] { return overlapping(dev); }, "overlapping running stats");
}

TEST_CASE("cuda parity: group_norm with 1 2 and C groups") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  const Shape shape{2, 6, 5, 7};
  for (int64_t groups : {1, 2, 6}) {
    test::check_op_parity({"group_norm groups " + std::to_string(groups),
                           [groups](const Xs& x) { return group_norm(x[0], groups, x[1], x[2]); },
                           {input(shape, 60 + groups), weight(6, 61), bias(6, 62)}, kNorm},
                          cuda);
  }
  // [N, C]: S = 1, the column kernel's parameter gradients.
  test::check_op_parity({"group_norm [7, 6] groups 3",
                         [](const Xs& x) { return group_norm(x[0], 3, x[1], x[2]); },
                         {input({7, 6}, 64), weight(6, 65), bias(6, 66)}, kNorm},
                        cuda);
  test::check_op_parity({"group_norm groups 2 without affine",
                         [](const Xs& x) { return group_norm(x[0], 2, Tensor(), Tensor()); },
                         {input(shape, 63)}, kNorm},
                        cuda);
}

TEST_CASE("cuda parity: layer_norm over the last dim and the last two dims") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  struct LnCase {
    Shape shape, normalized;
    bool affine;
  };
  // 1031 > 128 threads and 2115 > 2048 (512 threads): rows longer than a block; 3: a row much
  // shorter than the smallest block.
  const std::vector<LnCase> cases = {{{3, 1031}, {1031}, true},
                                     {{2, 5, 3}, {3}, true},
                                     {{2, 5, 3}, {3}, false},
                                     {{2, 3, 5, 7}, {5, 7}, true},
                                     {{2, 45, 47}, {45, 47}, true}};
  for (const LnCase& lc : cases) {
    const Shape ns = lc.normalized;
    Xs values = {input(lc.shape, uint64_t(lc.shape.back()) * 3)};
    if (lc.affine)
      values.insert(values.end(), {random_values(ns, 71, 0.5, 1.5), random_values(ns, 72, -1, 1)});
    test::check_op_parity({"layer_norm " + shape_str(lc.shape) + " over " + shape_str(ns) +
                               (lc.affine ? "" : " without affine"),
                           [ns](const Xs& x) { return layer_norm(x[0], ns, arg(x, 1), arg(x, 2)); },
                           values, kNorm},
                          cuda);
  }
}

TEST_CASE("cuda parity: norm gradients of the parameters alone and empty batches") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  const Device dev = cuda.device();
  // Only weight and bias need a gradient: the kernels get no dx.
  const Tensor x = input({3, 6, 4}, 80), g = random_values({3, 6, 4}, 81, -1, 1);
  const Tensor w = weight(6, 82), b = bias(6, 83);
  for (int op = 0; op < 3; ++op) {
    auto grads = [&](Device device) {
      Tensor wd = w.to(device).detach().set_requires_grad();
      Tensor bd = b.to(device).detach().set_requires_grad();
      const Tensor xd = x.to(device);
      const Tensor y = op == 0   ? batch_norm(xd, Tensor(), Tensor(), wd, bd, true)
                       : op == 1 ? group_norm(xd, 3, wd, bd)
                                 : layer_norm(xd.transpose(1, 2), {6}, wd, bd);
      y.backward(op == 2 ? g.transpose(1, 2).to(device) : g.to(device));
      return std::vector<Tensor>{wd.grad(), bd.grad()};
    };
    const std::vector<Tensor> d = grads(dev), h = grads(Device::cpu());
    const std::string what = op == 0 ? "batch_norm" : op == 1 ? "group_norm" : "layer_norm";
    test::check_parity(d[0], h[0], kNorm, what + " weight gradient alone");
    test::check_parity(d[1], h[1], kNorm, what + " bias gradient alone");
  }
  // Empty batches: eval batch_norm still reports its statistics, the gradients are empty and
  // the parameter gradients 0.
  auto empty_batch = [&](Device device) {
    Tensor xd = zeros({0, 3, 4}, DType::Float32, device).set_requires_grad();
    Tensor wd = ones({3}, DType::Float32, device).set_requires_grad();
    Tensor bd = zeros({3}, DType::Float32, device).set_requires_grad();
    std::vector<Tensor> out;
    const std::vector<Tensor> ys = {
        batch_norm(xd, zeros({3}, DType::Float32, device), ones({3}, DType::Float32, device), wd,
                   bd, false),
        group_norm(xd, 3, wd, bd), layer_norm(xd, {4}, Tensor(), Tensor())};
    for (const Tensor& y : ys) {
      y.backward(zeros({0, 3, 4}, DType::Float32, device));
      out.insert(out.end(), {y, xd.grad(), wd.grad(), bd.grad()});
    }
    return out;
  };
  const std::vector<Tensor> d = empty_batch(dev), h = empty_batch(Device::cpu());
  for (size_t i = 0; i < d.size(); ++i)
    test::check_parity(d[i], h[i], kNorm, "empty batch, result " + std::to_string(i));
}
