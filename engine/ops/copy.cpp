// Copies and in-place updates.
//   contiguous/clone  y = x (new memory)           dx = dy
//   to(dtype)         y = convert(x)               dx = convert back(dy)
//   to(device)        y = x on another device      dx = dy moved back
// In-place methods write into existing memory and bump its version, so a backward that saved
// the old contents refuses to run (autograd/node.h, SavedTensor).
#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/binary.h"
#include "engine/cpu/fill.h"
#include "engine/ops/binary.h"

namespace fovea {

namespace {

class CopyBackward final : public Node {
 public:
  explicit CopyBackward(const char* op) : op_(op) {}
  std::string name() const override { return op_ + std::string("Backward"); }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const TensorMeta& m = input_meta(0);
    return {g[0].to(m.dtype).to(m.device)};
  }

 private:
  const char* op_;
};

Tensor copy_of(const Tensor& x, DType dtype, Device device, const char* op) {
  Tensor out = empty(x.shape(), dtype, device);
  // A CUDA copy kernel handles every transfer that touches the GPU.
  copy_kernel(device.is_cuda() ? device : x.device(), out, x);
  if (is_floating(x.dtype()) && is_floating(dtype))
    if (auto node = make_node<CopyBackward>({x}, op)) set_history(out, node);
  return out;
}

// In-place writes into memory that autograd may need are refused while recording.
void check_inplace(const Tensor& t, const char* op) {
  check_defined(t, op);
  FOVEA_CHECK(!(GradMode::is_enabled() && t.requires_grad()), op, ": in-place change of ",
              t.str(), " which requires grad; wrap the update in NoGradGuard (as optimisers "
              "do) or use the out-of-place op");
}

Tensor& finish_inplace(Tensor& t) {
  t.storage()->bump_version();
  return t;
}

}  // namespace

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return copy_of(*this, dtype(), device(), "Contiguous");
}

Tensor Tensor::clone() const { return copy_of(*this, dtype(), device(), "Clone"); }

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  return copy_of(*this, target, device(), "ToDtype");
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  return copy_of(*this, dtype(), target, "ToDevice");
}

Tensor& Tensor::zero_() { return fill_(0.0); }

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  fill_kernel(device(), *this, value);
  return finish_inplace(*this);
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  check_defined(src, "copy_");
  FOVEA_CHECK(broadcast_shapes(shape(), src.shape(), "copy_") == shape(), "copy_: source ",
              src.str(), " does not broadcast to ", str());
  copy_kernel(device().is_cuda() ? device() : src.device(), *this, src);
  return finish_inplace(*this);
}

// this = this (op) other, with `other` broadcast to this shape.
static Tensor& binary_inplace(Tensor& self, BinaryKind kind, const Tensor& other, const char* op) {
  check_inplace(self, op);
  check_defined(other, op);
  check_same_dtype(self, other, op);
  check_same_device(self, other, op);
  FOVEA_CHECK(broadcast_shapes(self.shape(), other.shape(), op) == self.shape(), op, ": ",
              other.str(), " does not broadcast to ", self.str());
  binary_forward_kernel(self.device(), kind, self, self, other);
  return finish_inplace(self);
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  if (alpha == 1.0) return binary_inplace(*this, BinaryKind::Add, other, "add_");
  check_inplace(*this, "add_");
  check_defined(other, "add_");
  check_same_dtype(*this, other, "add_");
  Tensor scaled;
  {
    NoGradGuard no_grad;  // the scaled temporary is never part of a graph
    scaled = other * alpha;
  }
  return binary_inplace(*this, BinaryKind::Add, scaled, "add_");
}

Tensor& Tensor::add_(double value) {
  return binary_inplace(*this, BinaryKind::Add, scalar_like(value, *this), "add_");
}

Tensor& Tensor::mul_(const Tensor& other) {
  return binary_inplace(*this, BinaryKind::Mul, other, "mul_");
}

Tensor& Tensor::mul_(double value) {
  return binary_inplace(*this, BinaryKind::Mul, scalar_like(value, *this), "mul_");
}

}  // namespace fovea
