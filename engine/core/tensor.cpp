#include "engine/core/tensor.h"

#include "engine/autograd/node.h"
#include "engine/core/factory.h"

namespace fovea {

TensorImpl& Tensor::impl() const {
  FOVEA_CHECK(impl_ != nullptr, "Tensor: use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const { return shape()[normalize_dim(d, shape(), "size")]; }

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // no element to be out of place (as in PyTorch)
  int64_t expected = 1;
  for (size_t i = shape().size(); i-- > 0;) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

std::string Tensor::str() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype())) + shape_str(shape()) +
         (device().is_cpu() ? "" : " on " + device().str());
}

void* Tensor::raw_data() const {
  FOVEA_CHECK(device().is_cpu(), "Tensor::raw_data: ", str(),
              " is not on the CPU (copy it with .to(Device::cpu()) first)");
  return static_cast<char*>(impl().storage->data()) + impl().offset * dtype_size(dtype());
}

template <typename T> T Tensor::at(const Shape& index) const {
  FOVEA_CHECK(index.size() == shape().size(), "Tensor::at: index of ", index.size(),
              " dims for a tensor of shape ", shape_str(shape()));
  int64_t off = 0;
  for (size_t d = 0; d < index.size(); ++d) {
    FOVEA_CHECK(index[d] >= 0 && index[d] < shape()[d], "Tensor::at: index ", shape_str(index),
                " is out of bounds for shape ", shape_str(shape()));
    off += index[d] * strides()[d];
  }
  if (!device().is_cpu()) {  // one element comes back (a synchronising copy, like PyTorch's)
    NoGradGuard no_grad;
    Tensor element = make_tensor(storage(), {}, {}, offset() + off, dtype());
    return element.to(Device::cpu()).item<T>();
  }
  return FOVEA_DISPATCH_ALL(dtype(), "Tensor::at", [&] {
    return static_cast<T>(static_cast<const scalar_t*>(impl().storage->data())[offset() + off]);
  });
}

template <typename T> T Tensor::item() const {
  FOVEA_CHECK(numel() == 1, "Tensor::item: needs a one-element tensor, got shape ",
              shape_str(shape()));
  return at<T>(Shape(shape().size(), 0));
}

template <typename T> std::vector<T> Tensor::to_vector() const {
  // Values only: detached first, so reading a tensor that requires grad records no copy node.
  Tensor c = detach().to(Device::cpu()).to(dtype_of<T>()).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}

#define FOVEA_INSTANTIATE_ACCESSORS(T)                     \
  template T Tensor::at<T>(const Shape&) const;            \
  template T Tensor::item<T>() const;                      \
  template std::vector<T> Tensor::to_vector<T>() const;
FOVEA_INSTANTIATE_ACCESSORS(float)
FOVEA_INSTANTIATE_ACCESSORS(double)
FOVEA_INSTANTIATE_ACCESSORS(int64_t)
#undef FOVEA_INSTANTIATE_ACCESSORS

Tensor make_tensor(std::shared_ptr<Storage> storage, const Shape& shape, const Shape& strides,
                   int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::detach() const {
  return make_tensor(storage(), shape(), strides(), offset(), dtype());
}

// ---- autograd ---------------------------------------------------------------------------------

Tensor& Tensor::set_requires_grad(bool on) {
  FOVEA_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can change requires_grad (this "
              "one comes from ", grad_fn()->name(), "); use detach() to make a new leaf");
  FOVEA_CHECK(!on || is_floating(dtype()), "set_requires_grad: ", str(),
              " cannot require a gradient (only float tensors can)");
  impl().requires_grad = on;
  return *this;
}

void Tensor::set_grad(const Tensor& g) {
  if (g.defined()) {
    FOVEA_CHECK(g.shape() == shape() && g.dtype() == dtype(), "set_grad: gradient ", g.str(),
                " does not match tensor ", str());
  }
  impl().grad = g.defined() ? g.impl_ptr() : nullptr;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  FOVEA_CHECK(requires_grad(), "backward: ", str(), " does not require grad and has no grad_fn "
              "(set requires_grad on an input, and do not run the forward under NoGradGuard)");
  Tensor g = grad;
  if (!g.defined()) {
    FOVEA_CHECK(numel() == 1, "backward: an implicit gradient needs a one-element output, got ",
                str(), "; pass the upstream gradient explicitly");
    g = ones(shape(), dtype(), device());
  } else {
    FOVEA_CHECK(g.shape() == shape() && g.dtype() == dtype() && g.device() == device(),
                "backward: upstream gradient ", g.str(), " does not match output ", str());
    g = g.clone();  // the caller keeps its tensor; accumulation must not write into it
  }
  run_backward({*this}, {g}, retain_graph);
}

void Tensor::retain_grad() const {
  if (is_leaf()) return;  // leaves keep their gradient anyway
  impl().retains_grad = true;
  grad_fn()->retained_outputs()[output_nr()] = impl_ptr();
}

void Tensor::register_hook(GradHook hook) const {
  FOVEA_CHECK(requires_grad(), "register_hook: ", str(), " does not require grad, so no "
              "gradient will ever reach the hook");
  if (is_leaf())
    impl().hooks.push_back(std::move(hook));
  else
    grad_fn()->output_hooks()[output_nr()].push_back(std::move(hook));
}

Tensor& Tensor::set_name(const std::string& name) {
  impl().name = name;
  return *this;
}

// ---- checks -----------------------------------------------------------------------------------

void check_defined(const Tensor& t, const char* op) {
  FOVEA_CHECK(t.defined(), op, ": got an undefined tensor");
}
void check_float(const Tensor& t, const char* op) {
  check_defined(t, op);
  FOVEA_CHECK(is_floating(t.dtype()), op, ": expected a float32 or float64 tensor, got ",
              t.str());
}
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  FOVEA_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ: ", a.str(), " and ", b.str(),
              " (convert one with .to(dtype))");
}
void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  FOVEA_CHECK(a.device() == b.device(), op, ": tensors are on different devices: ", a.str(),
              " on ", a.device().str(), " and ", b.str(), " on ", b.device().str());
}

}  // namespace fovea
