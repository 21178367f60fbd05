// CUDA parity of the remaining slots: the index ops (bounds errors, gather, scatter_add and the
// ops built on them), dropout (the same Philox mask on both devices), and the fused optimiser
// steps (SGD with momentum, dampening, nesterov and weight decay; Adam, AdamW, amsgrad) over
// several steps.
//
// Tolerances: index ops and dropout exact (moves, the same bits, and scatter_add's sums in the
// same order in double). Optimisers abs 1e-6 + rel 1e-6: the same float operations in the same
// order (engine/kernels/optim.h), but a GPU may contract them into FMAs and its sqrtf differs.
#include <doctest/doctest.h>

#include "engine/fovea.h"
#include "engine/optim/adam.h"
#include "engine/optim/sgd.h"
#include "support/cuda_parity.h"

using namespace fovea;
using test::random_index;
using test::random_values;

namespace {

constexpr test::Tolerance kExact{0, 0};
constexpr test::Tolerance kOptim{1e-6, 1e-6};

}  // namespace

TEST_CASE("cuda parity: gather scatter_add index_select and index_add") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  const Tensor x = random_values({5, 7, 6}, 1);
  for (int64_t dim : {0, 1, 2}) {
    Shape is = x.shape();
    is[dim] = 4;
    const Tensor idx = random_index(is, x.shape()[dim], 10 + dim);
    const std::string d = " dim " + std::to_string(dim);
    test::check_op_parity({"gather" + d,
                           [dim](const std::vector<Tensor>& v) { return gather(v[0], dim, v[1]); },
                           {x, idx}, kExact},
                          cuda);
    test::check_op_parity({"scatter_add" + d,
                           [dim](const std::vector<Tensor>& v) {
                             return scatter_add(v[0], dim, v[1], v[2]);
                           },
                           {x, idx, random_values(is, 20 + dim)}, kExact},
                          cuda);
    const Tensor sel = random_index({9}, x.shape()[dim], 30 + dim);  // repeats: index_add sums
    Shape ss = x.shape();
    ss[dim] = 9;
    test::check_op_parity({"index_select" + d,
                           [dim](const std::vector<Tensor>& v) { return index_select(v[0], dim, v[1]); },
                           {x, sel}, kExact},
                          cuda);
    test::check_op_parity({"index_add" + d,
                           [dim](const std::vector<Tensor>& v) {
                             return index_add(v[0], dim, v[1], v[2]);
                           },
                           {x, sel, random_values(ss, 40 + dim)}, kExact},
                          cuda);
  }
  // int64 data moves too.
  const Tensor xi = random_index({4, 6}, 100, 2), ii = random_index({4, 3}, 6, 3);
  test::check_parity(gather(xi.to(cuda.device()), 1, ii.to(cuda.device())), gather(xi, 1, ii),
                     kExact, "int64 gather");
}

TEST_CASE("cuda: an out-of-range index is the CPU's error") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  Tensor idx = from_vector<int64_t>({0, 2, 1, 7, 1, -1}, {2, 3});
  const Tensor x = random_values({3, 5}, 4);
  std::string host_message, device_message;
  try {
    gather(x, 0, idx);
  } catch (const Error& e) {
    host_message = e.what();
  }
  try {
    gather(x.to(cuda.device()), 0, idx.to(cuda.device()));
  } catch (const Error& e) {
    device_message = e.what();
  }
  CHECK(host_message.find("index 7 at position [1, 0]") != std::string::npos);
  CHECK(device_message == host_message);
}

TEST_CASE("cuda parity: dropout draws the same mask on both devices") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  for (double p : {0.0, 0.1, 0.5, 1.0}) {
    const Tensor x = random_values({13, 257}, 5);
    Generator a(77), b(77);
    const Tensor host = dropout(x, p, true, &a);
    const Tensor device = dropout(x.to(cuda.device()), p, true, &b);
    test::check_parity(device, host, kExact, "dropout p " + std::to_string(p));
    CHECK(a.next_u64() == b.next_u64());  // both drew the same number of keys
  }
  test::check_op_parity({"dropout backward",
                         [](const std::vector<Tensor>& v) {
                           Generator gen(5);
                           return dropout(v[0], 0.3, true, &gen);
                         },
                         {random_values({6, 33}, 6)}, kExact},
                        cuda);
}

TEST_CASE("cuda parity: SGD and Adam steps match the CPU over several steps") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  using Make = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;
  const std::vector<std::pair<std::string, Make>> makers = {
      {"sgd", [](std::vector<Tensor> ps) { return std::make_unique<optim::SGD>(ps, 0.1); }},
      {"sgd momentum dampening decay",
       [](std::vector<Tensor> ps) {
         return std::make_unique<optim::SGD>(ps, 0.1, 0.9, 1e-2, 0.1, false);
       }},
      {"sgd nesterov",
       [](std::vector<Tensor> ps) { return std::make_unique<optim::SGD>(ps, 0.05, 0.9, 0, 0, true); }},
      {"adam decay", [](std::vector<Tensor> ps) {
         optim::AdamOptions o;
         o.lr = 1e-2;
         o.weight_decay = 1e-2;
         return std::make_unique<optim::Adam>(ps, o);
       }},
      {"adamw amsgrad", [](std::vector<Tensor> ps) {
         optim::AdamWOptions o;
         o.lr = 1e-2;
         o.amsgrad = true;
         return std::make_unique<optim::AdamW>(ps, o);
       }}};
  for (const auto& [name, make] : makers) {
    std::vector<Tensor> params;
    for (Device device : {Device::cpu(), cuda.device()}) {
      Tensor w = random_values({7, 33}, 8).to(device).detach().set_requires_grad();
      auto opt = make({w});
      for (int step = 0; step < 3; ++step) {
        opt->zero_grad();
        const Tensor target = random_values({7, 33}, 9 + uint64_t(step)).to(device);
        sum((w - target) * (w - target) * w).backward();
        opt->step();
      }
      params.push_back(w.detach());
    }
    test::check_parity(params[1], params[0], kOptim, name + " after 3 steps");
  }
}

TEST_CASE("cuda: random fills of a device tensor give the CPU's values") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  Tensor host = empty({5, 37}), dev = empty({5, 37}, DType::Float32, cuda.device());
  Generator a(3), b(3);
  uniform_(host, -2, 3, &a);
  uniform_(dev, -2, 3, &b);
  test::check_parity(dev, host, kExact, "uniform_");
  Tensor dev_strided = empty({37, 5}, DType::Float32, cuda.device()).t();
  normal_(host, 1, 2, &a);
  normal_(dev_strided, 1, 2, &b);
  test::check_parity(dev_strided, host, kExact, "normal_ into a transposed device tensor");
}
