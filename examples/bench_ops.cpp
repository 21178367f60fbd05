// Micro-benchmarks of core CPU kernels: matmul 1024^3 (GFLOP/s), softmax over 256x4096 and a
// sum reduction (GB/s of compulsory traffic: bytes read + bytes written once).
// Prints the median of --repeat timed runs after --warmup untimed ones. Not a test: the
// numbers depend on the machine. examples/compare_ops.py runs this and PyTorch side by side.
//
//   build/examples/bench_ops --threads 2 [--json]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "engine/fovea.h"
#include "support/timing.h"

using namespace fovea;

namespace {

struct Bench {
  std::string name;
  std::string unit;    // "GFLOP/s" or "GB/s"
  double work;         // flops or bytes per call
  std::function<void()> run;
};


}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fovea kernel micro-benchmarks"};
  bench::Options opt(20);
  opt.add_to(app);
  CLI11_PARSE(app, argc, argv);
  set_num_threads(opt.threads);
  NoGradGuard no_grad;
  Generator gen(0);

  const Tensor a = randn({1024, 1024}, DType::Float32, &gen);
  const Tensor b = randn({1024, 1024}, DType::Float32, &gen);
  const Tensor logits = randn({256, 4096}, DType::Float32, &gen);
  const Tensor big = randn({4096, 4096}, DType::Float32, &gen);

  std::vector<Bench> benches = {
      {"matmul 1024x1024x1024 f32", "GFLOP/s", 2.0 * 1024 * 1024 * 1024,
       [&] { (void)matmul(a, b); }},
      {"softmax 256x4096 dim=-1 f32", "GB/s", 2.0 * 256 * 4096 * 4,
       [&] { (void)softmax(logits, -1); }},
      {"sum 4096x4096 all f32", "GB/s", 4096.0 * 4096 * 4, [&] { (void)sum(big); }},
      {"sum 4096x4096 dim=1 f32", "GB/s", 4096.0 * 4096 * 4 + 4096 * 4,
       [&] { (void)sum(big, {1}); }},
      {"sum 4096x4096 dim=0 f32", "GB/s", 4096.0 * 4096 * 4 + 4096 * 4,
       [&] { (void)sum(big, {0}); }},
  };

  if (!opt.json) {
    std::printf("%s", build_info().c_str());
    std::printf("threads %d, median of %d runs\n\n%-32s %12s %14s\n", opt.threads, opt.repeat,
                "benchmark", "median ms", "throughput");
  }
  for (const Bench& bench : benches) {
    if (!opt.selected(bench.name)) continue;
    const double s = bench::median_seconds(bench.run, opt.warmup, opt.repeat);
    const double rate = bench.work / s / 1e9;
    if (opt.json)
      std::printf("{\"name\": \"%s\", \"median_ms\": %.4f, \"rate\": %.3f, \"unit\": \"%s\"}\n",
                  bench.name.c_str(), s * 1e3, rate, bench.unit.c_str());
    else
      std::printf("%-32s %12.3f %9.2f %s\n", bench.name.c_str(), s * 1e3, rate,
                  bench.unit.c_str());
  }
  return 0;
}
