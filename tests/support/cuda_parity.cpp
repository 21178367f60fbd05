#include "support/cuda_parity.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "engine/core/build_info.h"
#include "engine/core/cuda_backend.h"
#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/core/random.h"
#include "engine/ops/binary.h"
#include "support/skip.h"

namespace fovea::test {

CudaDevice::CudaDevice() {
  const CudaBackend* backend = selected_cuda_backend();
  std::string why;
  ok_ = cuda_available(&why);
  emulated_ = backend && backend->set_schedule != nullptr;
  if (ok_) return;
  // A GPU run (cuda/gpu_check.sh) sets FOVEA_REQUIRE_GPU=1: a broken device must fail, not skip.
  const char* require = std::getenv("FOVEA_REQUIRE_GPU");
  if (require && std::string(require) == "1") FAIL("no usable CUDA backend: " << why);
  skip_test("no usable CUDA backend: " + why);
}

namespace {

std::string index_str(const Shape& shape, int64_t flat) {
  Shape idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return shape_str(idx);
}

// Values on the CPU, contiguous, as doubles (int64 and float64 convert exactly).
std::vector<double> host_values(const Tensor& t) { return t.to(Device::cpu()).to_vector<double>(); }

}  // namespace

void check_parity(const Tensor& cuda, const Tensor& cpu, Tolerance tol, const std::string& what) {
  INFO(what);
  REQUIRE(cuda.shape() == cpu.shape());
  REQUIRE(cuda.dtype() == cpu.dtype());
  const std::vector<double> a = host_values(cuda), b = host_values(cpu);
  int64_t worst = -1, bad = 0;
  double worst_excess = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    bool ok;
    double excess = 0;
    if (std::isnan(b[i]) || std::isnan(a[i])) {
      ok = std::isnan(a[i]) && std::isnan(b[i]);
    } else if (std::isinf(b[i]) || std::isinf(a[i])) {
      ok = a[i] == b[i];
    } else {
      excess = std::abs(a[i] - b[i]) - (tol.abs + tol.rel * std::abs(b[i]));
      ok = excess <= 0;
    }
    if (!ok) {
      ++bad;
      if (worst < 0 || !(excess <= worst_excess)) worst = int64_t(i), worst_excess = excess;
    }
  }
  if (bad == 0) return;
  std::ostringstream os;
  os.precision(9);
  os << bad << " of " << a.size() << " elements differ beyond (abs " << tol.abs << ", rel "
     << tol.rel << "); worst at " << index_str(cpu.shape(), worst) << ": cuda " << a[worst]
     << ", cpu " << b[worst];
  FAIL(os.str());
}

void check_identical(const Tensor& a, const Tensor& b, const std::string& what) {
  INFO(what);
  REQUIRE(a.shape() == b.shape());
  REQUIRE(a.dtype() == b.dtype());
  const Tensor ha = a.to(Device::cpu()).contiguous(), hb = b.to(Device::cpu()).contiguous();
  const size_t bytes = size_t(ha.numel()) * dtype_size(ha.dtype());
  if (std::memcmp(ha.raw_data(), hb.raw_data(), bytes) == 0) return;
  const std::vector<double> va = ha.to_vector<double>(), vb = hb.to_vector<double>();
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::memcmp(&va[i], &vb[i], sizeof(double)) == 0) continue;
    std::ostringstream os;
    os.precision(17);
    os << "not bit-identical; first difference at " << index_str(ha.shape(), int64_t(i)) << ": "
       << va[i] << " vs " << vb[i];
    FAIL(os.str());
  }
}

std::optional<Tensor> with_layout(const Tensor& values, Layout layout, Device device) {
  NoGradGuard no_grad;
  const std::optional<LaidOut> laid = lay_out(values.detach(), layout);
  if (!laid) return std::nullopt;
  return laid->view(laid->leaf.to(device));
}

void check_schedules(const std::function<std::vector<Tensor>()>& compute, const std::string& what) {
  const CudaBackend* backend = selected_cuda_backend();
  if (!backend || !backend->set_schedule) return;
  const std::vector<Tensor> reference = compute();
  struct Restore {
    const CudaBackend* b;
    ~Restore() { b->set_schedule(CudaSchedule::Forward, 0); }
  } restore{backend};
  for (const auto& [schedule, name] : {std::pair{CudaSchedule::Reverse, "reverse"},
                                        std::pair{CudaSchedule::Shuffle, "shuffle"}}) {
    backend->set_schedule(schedule, 12345);
    const std::vector<Tensor> again = compute();
    REQUIRE(again.size() == reference.size());
    for (size_t i = 0; i < again.size(); ++i)
      check_identical(again[i], reference[i],
                      what + ": output " + std::to_string(i) + " under the " + name + " schedule");
  }
}

namespace {

// y and the input gradients of op with its inputs in `layout` on `device`.
std::vector<Tensor> run_op(const ParityOp& op, Layout layout, Device device, const Tensor& g) {
  std::vector<Tensor> inputs;
  for (const Tensor& v : op.values) {
    std::optional<Tensor> laid = with_layout(v, layout, device);
    if (!laid) laid = with_layout(v, Layout::Contiguous, device);
    Tensor x = laid->detach();
    if (op.backward && is_floating(x.dtype())) x.set_requires_grad();
    inputs.push_back(x);
  }
  std::vector<Tensor> out = {op.fn(inputs)};
  if (!op.backward) return out;
  out[0].backward(g.to(device));
  for (const Tensor& x : inputs)
    if (x.requires_grad()) out.push_back(x.grad());
  return out;
}

}  // namespace

void check_op_parity(const ParityOp& op, const CudaDevice& cuda) {
  Tensor g;
  if (op.backward) {
    NoGradGuard no_grad;
    std::vector<Tensor> plain;
    for (const Tensor& v : op.values) plain.push_back(v);
    Generator gen(std::hash<std::string>{}(op.name));
    g = randn(op.fn(plain).shape(), DType::Float32, &gen);
  }
  for (Layout layout : all_layouts()) {
    const std::vector<Tensor> dev = run_op(op, layout, cuda.device(), g);
    const std::vector<Tensor> host = run_op(op, layout, Device::cpu(), g);
    for (size_t i = 0; i < dev.size(); ++i)
      check_parity(dev[i], host[i], op.tol,
                   op.name + ", " + layout_name(layout) + ": " +
                       (i == 0 ? std::string("forward") : "gradient of input " + std::to_string(i - 1)));
  }
  check_schedules([&] { return run_op(op, Layout::Contiguous, cuda.device(), g); }, op.name);
}

Tensor random_values(const Shape& shape, uint64_t seed, double lo, double hi) {
  Generator gen(seed);
  return rand(shape, DType::Float32, &gen) * (hi - lo) + lo;
}

Tensor random_index(const Shape& shape, int64_t size, uint64_t seed) {
  return random_values(shape, seed, 0, double(size) - 0.01).to(DType::Int64);
}

const std::vector<int64_t>& parity_sizes() {
  static const std::vector<int64_t> sizes = {1, 2, 3, 31, 255, 256, 257, 1031};
  return sizes;
}

}  // namespace fovea::test
