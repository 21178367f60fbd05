// Benchmarks of the CUDA kernels and of a ResNet-20 training step on the CUDA device: each
// kernel's median time, its achieved GB/s (compulsory traffic: bytes read + bytes written once)
// or TFLOP/s, and, when PyTorch with CUDA is importable, PyTorch's time for the same work on
// the same GPU (examples/bench_cuda_torch.py, run by this program).
//
//   build/examples/bench_cuda                     # full sizes, for a GPU
//   FOVEA_CUDA_BACKEND=emu build/examples/bench_cuda --small   # CI: the emulator, tiny sizes
//
// Every timed call is followed by a device synchronisation. On the emulator the kernels run on
// the CPU, one fiber per CUDA thread: the program runs, but its timings say nothing about a GPU.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/cuda_backend.h"
#include "engine/fovea.h"
#include "engine/optim/sgd.h"
#include "layers/resnet.h"
#include "support/timing.h"

using namespace fovea;

namespace {

struct Bench {
  std::string name;
  std::string unit;  // "GB/s", "TFLOP/s" or "img/s"
  double work;       // bytes, flops or images per call
  std::function<void()> run;
};

// name -> PyTorch's median ms, from examples/bench_cuda_torch.py (empty when it cannot run).
std::map<std::string, double> torch_times(const std::string& script, bool small, int repeat) {
  std::map<std::string, double> out;
  const std::string cmd = "python3 '" + script + "' --repeat " + std::to_string(repeat) +
                          (small ? " --small" : "") + " 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return out;
  char line[512];
  while (std::fgets(line, sizeof line, pipe)) {
    char name[256];
    double ms = 0;
    if (std::sscanf(line, "%255[^\t]\t%lf", name, &ms) == 2) out[name] = ms;
  }
  pclose(pipe);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fovea CUDA kernel benchmarks"};
  bench::Options opt(20);
  opt.add_to(app);
  bool small = false;
  std::string torch_script = FOVEA_BENCH_CUDA_TORCH;
  app.add_flag("--small", small, "tiny sizes (the emulator in CI)");
  app.add_option("--torch-script", torch_script, "PyTorch twin (skipped when it cannot run)");
  CLI11_PARSE(app, argc, argv);
  set_num_threads(opt.threads);

  std::string why;
  if (!cuda_available(&why)) {
    std::fprintf(stderr, "bench_cuda: no usable CUDA device: %s (FOVEA_CUDA_BACKEND=emu runs the "
                         "emulator)\n", why.c_str());
    return 1;
  }
  const CudaBackend* backend = selected_cuda_backend();
  const Device dev = Device::cuda();
  const bool emulated = backend->set_schedule != nullptr;
  const int64_t s = small ? 16 : 1;  // every size divided by s
  Generator gen(0);
  auto randn_dev = [&](const Shape& shape) { return randn(shape, DType::Float32, &gen).to(dev); };

  const int64_t n = 4096 / s, big = int64_t(1) << (small ? 12 : 24);
  const Tensor square = randn_dev({n, n}), flat = randn_dev({big}), row = randn_dev({n});
  const Tensor logits = randn_dev({256 / (small ? 8 : 1), n});
  const Tensor targets = (rand({256 / (small ? 8 : 1)}) * 9.99).to(DType::Int64).to(dev);
  const int64_t mm = 2048 / s;
  const Tensor ma = randn_dev({mm, mm}), mb = randn_dev({mm, mm});
  const int64_t batch = small ? 2 : 128, c = small ? 8 : 64, hw = small ? 8 : 32;
  const Tensor act = randn_dev({batch, c, hw, hw}), w3 = randn_dev({c, c, 3, 3});
  const Tensor bn_w = randn_dev({c}), bn_b = randn_dev({c});
  Tensor bn_rm = zeros({c}, DType::Float32, dev), bn_rv = ones({c}, DType::Float32, dev);
  const double f = sizeof(float);
  const double conv_flops = 2.0 * double(batch * c * hw * hw) * double(c * 9);

  // A ResNet-20 step (SGD, batch 128 of 32x32; small: batch 4 of 16x16).
  const int64_t step_batch = small ? 4 : 128, step_hw = small ? 16 : 32;
  manual_seed(0);
  auto net = nn::cifar_resnet(20, 10, 3, nn::Shortcut::A, "none", step_hw);
  net->to(dev);
  optim::SGD sgd(net->parameters(), 0.1, 0.9, 5e-4);
  const Tensor step_x = randn_dev({step_batch, 3, step_hw, step_hw});
  const Tensor step_y = (rand({step_batch}) * 9.99).to(DType::Int64).to(dev);

  std::vector<Bench> benches = {
      {"copy transpose", "GB/s", 2.0 * n * n * f, [&] { (void)square.t().contiguous(); }},
      {"relu", "GB/s", 2.0 * big * f, [&] { (void)relu(flat); }},
      {"add broadcast row", "GB/s", 2.0 * n * n * f, [&] { (void)(square + row); }},
      {"sum dim=1", "GB/s", (n * n + n) * f, [&] { (void)sum(square, {1}); }},
      {"sum dim=0", "GB/s", (n * n + n) * f, [&] { (void)sum(square, {0}); }},
      {"amax dim=1", "GB/s", (n * n + n) * f, [&] { (void)amax(square, {1}); }},
      {"softmax dim=-1", "GB/s", 2.0 * double(logits.numel()) * f,
       [&] { (void)softmax(logits, -1); }},
      {"cross_entropy", "GB/s", double(logits.numel()) * f,
       [&] { (void)cross_entropy(logits, targets); }},
      {"matmul", "TFLOP/s", 2.0 * double(mm) * mm * mm, [&] { (void)matmul(ma, mb); }},
      {"conv2d 3x3 forward", "TFLOP/s", conv_flops,
       [&] { (void)conv2d(act, w3, Tensor(), {{1, 1}, {1, 1}, {1, 1}, 1}); }},
      {"max_pool2d 3x3 s2", "GB/s", 1.25 * double(act.numel()) * f,
       [&] { (void)max_pool2d(act, {{3, 3}, {2, 2}, {1, 1}}); }},
      {"batch_norm train", "GB/s", 2.0 * double(act.numel()) * f,
       [&] { (void)batch_norm(act, bn_rm, bn_rv, bn_w, bn_b, true, 0.1, 1e-5); }},
      {"resnet20 train step", "img/s", double(step_batch), [&] {
         sgd.zero_grad();
         cross_entropy((*net)(step_x), step_y).backward();
         sgd.step();
       }},
  };

  const std::map<std::string, double> torch = torch_times(torch_script, small, opt.repeat);
  if (!opt.json) {
    std::printf("%s", build_info().c_str());
    if (emulated)
      std::printf("backend emu: the CUDA emulator runs the kernels on the CPU; these timings "
                  "mean nothing for a GPU\n");
    std::printf("median of %d runs%s\n\n%-22s %11s %14s %13s %9s\n", opt.repeat,
                torch.empty() ? " (PyTorch with CUDA not available: no comparison)" : "",
                "benchmark", "median ms", "throughput", "PyTorch ms", "ratio");
  }
  for (const Bench& b : benches) {
    if (!opt.selected(b.name)) continue;
    const double secs = bench::median_seconds(
        [&] {
          b.run();
          backend->synchronize();
        },
        opt.warmup, opt.repeat);
    const double rate = b.unit == "img/s" ? b.work / secs
                        : b.unit == "TFLOP/s" ? b.work / secs / 1e12 : b.work / secs / 1e9;
    const auto t = torch.find(b.name);
    if (opt.json) {
      std::printf("{\"name\": \"%s\", \"median_ms\": %.4f, \"rate\": %.4f, \"unit\": \"%s\", "
                  "\"torch_ms\": %.4f}\n", b.name.c_str(), secs * 1e3, rate, b.unit.c_str(),
                  t == torch.end() ? -1.0 : t->second);
    } else if (t == torch.end()) {
      std::printf("%-22s %11.3f %8.2f %-7s %13s %9s\n", b.name.c_str(), secs * 1e3, rate,
                  b.unit.c_str(), "-", "-");
    } else {
      std::printf("%-22s %11.3f %8.2f %-7s %13.3f %8.2fx\n", b.name.c_str(), secs * 1e3, rate,
                  b.unit.c_str(), t->second, secs * 1e3 / t->second);
    }
  }
  return 0;
}
