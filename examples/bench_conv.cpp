// conv2d benchmark on ResNet-20's (CIFAR) three 3x3 convolution shapes at batch 128:
// 16 -> 16 channels on 32x32, 32 -> 32 on 16x16, 64 -> 64 on 8x8 (stride 1, padding 1, no
// bias), plus the two stride-2 3x3 and 1x1 downsampling convs and a depthwise 3x3 (MobileNet
// style, groups = channels). For each: forward alone, and
// forward + backward (dx and dw). Prints the median of --repeat timed runs after --warmup
// untimed ones, and GFLOP/s (forward 2 N C_out Ho Wo C_in kH kW; backward twice that).
// examples/bench_conv_torch.py times the same shapes in PyTorch.
//
//   build/examples/bench_conv --threads 2 [--batch 128] [--json]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "engine/fovea.h"
#include "support/timing.h"

using namespace fovea;

namespace {

struct Shape4 {
  std::string name;
  int64_t c_in, c_out, hw, k, stride, groups = 1;
};


}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fovea conv2d benchmark (ResNet-20 shapes)"};
  bench::Options opt(15);
  int64_t batch = 128;
  opt.add_to(app);
  app.add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  set_num_threads(opt.threads);
  Generator gen(0);

  const std::vector<Shape4> shapes = {
      {"3x3 16->16 32x32", 16, 16, 32, 3, 1},
      {"3x3 32->32 16x16", 32, 32, 16, 3, 1},
      {"3x3 64->64 8x8", 64, 64, 8, 3, 1},
      {"3x3/s2 16->32 32x32", 16, 32, 32, 3, 2},
      {"3x3/s2 32->64 16x16", 32, 64, 16, 3, 2},
      {"1x1/s2 16->32 32x32", 16, 32, 32, 1, 2},
      {"dw3x3 64 16x16", 64, 64, 16, 3, 1, 64},
  };
  if (!opt.json) {
    std::printf("%s", build_info().c_str());
    std::printf("threads %d, batch %lld, median of %d runs\n\n%-24s %-8s %10s %10s\n", opt.threads,
                static_cast<long long>(batch), opt.repeat, "conv", "pass", "median ms", "GFLOP/s");
  }
  for (const Shape4& s : shapes) {
    if (!opt.selected(s.name)) continue;
    Conv2dOptions o;
    o.stride = {s.stride, s.stride};
    o.padding = {s.k / 2, s.k / 2};
    o.groups = s.groups;
    Tensor x = randn({batch, s.c_in, s.hw, s.hw}, DType::Float32, &gen).set_requires_grad();
    Tensor w = randn({s.c_out, s.c_in / s.groups, s.k, s.k}, DType::Float32, &gen);
    w.set_requires_grad();
    const int64_t out_hw = (s.hw + 2 * (s.k / 2) - s.k) / s.stride + 1;
    const Tensor gy = randn({batch, s.c_out, out_hw, out_hw}, DType::Float32, &gen);
    const double fwd_flops =
        2.0 * batch * s.c_out * out_hw * out_hw * (s.c_in / s.groups) * s.k * s.k;
    struct Pass {
      const char* name;
      double flops;
      std::function<void()> run;
    };
    const std::vector<Pass> passes = {
        {"fwd", fwd_flops, [&] {
           NoGradGuard no_grad;
           (void)conv2d(x, w, Tensor(), o);
         }},
        {"fwd+bwd", 3 * fwd_flops, [&] {
           x.set_grad(Tensor());
           w.set_grad(Tensor());
           conv2d(x, w, Tensor(), o).backward(gy);
         }},
    };
    for (const Pass& p : passes) {
      const double sec = bench::median_seconds(p.run, opt.warmup, opt.repeat);
      const double rate = p.flops / sec / 1e9;
      if (opt.json)
        std::printf("{\"name\": \"%s %s\", \"median_ms\": %.4f, \"gflops\": %.3f}\n",
                    s.name.c_str(), p.name, sec * 1e3, rate);
      else
        std::printf("%-24s %-8s %10.3f %10.2f\n", s.name.c_str(), p.name, sec * 1e3, rate);
      std::fflush(stdout);
    }
  }
  return 0;
}
