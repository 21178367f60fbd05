// Times one training step (forward, cross-entropy, backward, SGD update) of a CIFAR ResNet on
// random data: the median of --repeat steps after --warmup. examples/compare_train_step.py runs
// it beside the same step in PyTorch.
//
//   build/examples/bench_train_step --model resnet20 --batch-size 128 --threads 2
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "layers/layers.h"
#include "support/timing.h"

using namespace fovea;

int main(int argc, char** argv) {
  CLI::App app{"Time a ResNet training step on random data"};
  int depth = 20, threads = 2, warmup = 3, repeat = 10;
  int64_t batch = 128, size = 32;
  bool json = false, breakdown = false;
  app.add_option("--depth", depth, "CIFAR ResNet depth (6n+2)");
  app.add_option("--batch-size", batch, "images per step");
  app.add_option("--image-size", size, "input height and width");
  app.add_option("--threads", threads, "CPU threads");
  app.add_option("--warmup", warmup, "untimed steps");
  app.add_option("--repeat", repeat, "timed steps (median reported)");
  app.add_flag("--json", json, "one JSON line");
  app.add_flag("--breakdown", breakdown, "also time forward and backward separately");
  CLI11_PARSE(app, argc, argv);
  set_num_threads(threads);
  manual_seed(0);
  auto model = nn::cifar_resnet(depth);
  optim::SGD opt(model->parameters(), 0.1, 0.9, 5e-4);
  Generator gen(1);
  const Tensor x = randn({batch, 3, size, size}, DType::Float32, &gen);
  std::vector<int64_t> y(static_cast<size_t>(batch), 0);
  for (auto& v : y) v = gen.randint(10);
  const Tensor labels = from_vector(y, {batch});

  using Clock = std::chrono::steady_clock;
  std::vector<double> step_ms, fwd_ms, bwd_ms;
  for (int i = 0; i < warmup + repeat; ++i) {
    const auto t0 = Clock::now();
    Tensor loss = cross_entropy((*model)(x), labels);
    const auto t1 = Clock::now();
    opt.zero_grad();
    loss.backward();
    const auto t2 = Clock::now();
    opt.step();
    const auto t3 = Clock::now();
    if (i < warmup) continue;
    auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    step_ms.push_back(ms(t0, t3));
    fwd_ms.push_back(ms(t0, t1));
    bwd_ms.push_back(ms(t1, t2));
  }
  using bench::median;
  if (json) {
    std::printf("{\"step_ms\": %.3f, \"forward_ms\": %.3f, \"backward_ms\": %.3f}\n",
                median(step_ms), median(fwd_ms), median(bwd_ms));
  } else {
    std::printf("ResNet-%d, batch %lld, %lldx%lld, %d threads: step %.1f ms (median of %d)", depth,
                (long long)batch, (long long)size, (long long)size, threads, median(step_ms), repeat);
    if (breakdown) std::printf(", forward %.1f ms, backward %.1f ms", median(fwd_ms), median(bwd_ms));
    std::printf("\n");
  }
  return 0;
}
