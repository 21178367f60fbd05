// Training on the CUDA device against the CPU: a few SGD steps of a ResNet-20 (batch 8, 16x16
// images) compare the losses, every parameter's gradient, the parameters after each step and
// the BatchNorm running statistics; and every attention module of the registry, in a small
// ResNet, forward and backward.
//
// Tolerances. Losses rel 1e-5. Gradients and parameters abs 1e-5 + rel 1e-4: each kernel
// agrees with its CPU twin to a few float ulp (its own test), and 20 layers with BatchNorm
// (whose backward subtracts nearly equal sums) amplify those differences. On the emulator
// everything agrees within abs 1e-6 + rel 1e-5 (at rel 1e-6 the first conv's weight gradient
// differs by 1.3e-5 relative); a GPU adds cuBLAS's float accumulation and FMA contraction, hence
// one decade of headroom.
#include <doctest/doctest.h>

#include "attention/register.h"
#include "engine/fovea.h"
#include "engine/optim/sgd.h"
#include "layers/attention_slot.h"
#include "layers/resnet.h"
#include "support/cuda_parity.h"

using namespace fovea;

namespace {

constexpr test::Tolerance kLoss{1e-6, 1e-5};
constexpr test::Tolerance kTrain{1e-5, 1e-4};

// The same network twice: one on the CPU, one on the device (same seed, then moved).
std::pair<std::shared_ptr<nn::ResNet>, std::shared_ptr<nn::ResNet>> twin_nets(
    int depth, const std::string& attention, Device device) {
  manual_seed(123);
  auto host = nn::cifar_resnet(depth, 10, 3, nn::Shortcut::A, attention, 16);
  manual_seed(123);
  auto dev = nn::cifar_resnet(depth, 10, 3, nn::Shortcut::A, attention, 16);
  dev->to(device);
  return {host, dev};
}

void check_state(const nn::Module& dev, const nn::Module& host, test::Tolerance tol,
                 const std::string& what) {
  const auto d = dev.state_dict(), h = host.state_dict();
  for (const auto& [name, value] : h) {
    const Tensor other = d.at(name);
    if (!is_floating(value.dtype())) {
      test::check_parity(other, value, {0, 0}, what + ": " + name);
      continue;
    }
    test::check_parity(other, value, tol, what + ": " + name);
  }
}

// One forward and backward of both nets on (x, y): compares the losses and every parameter's
// gradient.
void check_step(nn::Module& host, nn::Module& dev, const Tensor& x, const Tensor& y, Device device,
                const std::string& what) {
  const Tensor host_loss = cross_entropy(host(x), y);
  const Tensor dev_loss = cross_entropy(dev(x.to(device)), y.to(device));
  test::check_parity(dev_loss, host_loss, kLoss, what + ": loss");
  host_loss.backward();
  dev_loss.backward();
  const auto hp = host.named_parameters(), dp = dev.named_parameters();
  REQUIRE(hp.size() == dp.size());
  for (size_t i = 0; i < hp.size(); ++i)
    test::check_parity(dp[i].second.grad(), hp[i].second.grad(), kTrain,
                       what + ": gradient of " + hp[i].first);
}

}  // namespace

TEST_CASE("cuda parity: three SGD steps of a ResNet-20 on the device match the CPU") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  auto [host, dev] = twin_nets(20, "none", cuda.device());
  optim::SGD host_opt(host->parameters(), 0.1, 0.9, 5e-4);
  optim::SGD dev_opt(dev->parameters(), 0.1, 0.9, 5e-4);
  Generator gen(7);
  const Tensor x = randn({8, 3, 16, 16}, DType::Float32, &gen);
  const Tensor y = (rand({8}, DType::Float32, &gen) * 9.99).to(DType::Int64);
  for (int step = 0; step < 3; ++step) {
    const std::string what = "step " + std::to_string(step);
    host_opt.zero_grad();
    dev_opt.zero_grad();
    check_step(*host, *dev, x, y, cuda.device(), what);
    host_opt.step();
    dev_opt.step();
    check_state(*dev, *host, kTrain, what + ": after the update");
  }
}

TEST_CASE("cuda parity: every attention module trains on the device like on the CPU") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  Generator gen(11);
  // Batch 4: a BatchNorm over N alone (AFF's and MS-CAM's global branch on [N, C, 1, 1]) maps
  // two samples to about +-1, and its backward is then a cancellation to rounding noise: in
  // float32 alone (CPU against float64) the AFF network's first conv gradient is 1e-4 off at
  // N = 2, 3e-6 at N = 3 and 4.
  const Tensor x = randn({4, 3, 16, 16}, DType::Float32, &gen);
  const Tensor y = from_vector<int64_t>({3, 7, 1, 5}, {4});
  // The built-in modules, not every registered name: other tests register stand-ins.
  attention::register_all();
  for (const std::string& name : attention::builtin_names()) {
    auto [host, dev] = twin_nets(8, attention::cifar_name(name), cuda.device());
    check_step(*host, *dev, x, y, cuda.device(), name);
  }
}
