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

// The lowest and highest element offsets t reads or writes (empty tensors: lo > hi).
std::pair<int64_t, int64_t> memory_span(const Tensor& t) {
  int64_t lo = t.offset(), hi = t.offset();
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.shape()[d] == 0) return {1, 0};
    const int64_t extent = (t.shape()[d] - 1) * t.strides()[d];
    (extent >= 0 ? hi : lo) += extent;
  }
  return {lo, hi};
}

// What an in-place op reading `src` into `dst` must read: src itself, or a copy when src
// overlaps dst in another layout (a shifted or transposed view of the same memory), where the
// kernel would read elements it has already written.
Tensor readable_source(const Tensor& dst, const Tensor& src) {
  if (src.storage() != dst.storage()) return src;
  const Shape strides = broadcast_strides(src.shape(), src.strides(), dst.shape());
  if (src.offset() == dst.offset() && strides == dst.strides()) return src;  // element by element
  const auto [dlo, dhi] = memory_span(dst);
  const auto [slo, shi] = memory_span(src);
  if (shi < dlo || dhi < slo) return src;
  NoGradGuard no_grad;
  return src.clone();
}

Tensor& finish_inplace(Tensor& t) {
  t.storage()->bump_version();
  return t;
}

}  // namespace

void check_inplace(const Tensor& t, const char* op) {
  check_defined(t, op);
  FOVEA_CHECK(!(GradMode::is_enabled() && t.requires_grad()), op, ": in-place change of ",
              t.str(), " which requires grad; wrap the update in NoGradGuard (as optimisers "
              "do) or use the out-of-place op");
  for (int64_t d = 0; d < t.dim(); ++d)
    FOVEA_CHECK(t.strides()[d] != 0 || t.shape()[d] <= 1, op, ": ", t.str(),
                " has elements that share memory (an expanded view, stride 0 in dim ", d,
                "); writing into it in place is ambiguous, clone() it first");
}

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
  copy_kernel(device().is_cuda() ? device() : src.device(), *this, readable_source(*this, src));
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
  binary_forward_kernel(self.device(), kind, self, self, readable_source(self, other));
  return finish_inplace(self);
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  if (alpha == 1.0) return binary_inplace(*this, BinaryKind::Add, other, "add_");
  check_inplace(*this, "add_");  // before the scaled copy hides a refused change
  Tensor scaled;
  {
    NoGradGuard no_grad;  // the scaled temporary is never part of a graph
    check_defined(other, "add_");
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
