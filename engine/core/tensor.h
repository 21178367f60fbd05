// Tensor: a cheap, copyable handle to (storage, shape, strides, offset, dtype) plus the
// autograd metadata of that value.
//
// Copying a Tensor copies the handle, not the data: `Tensor b = a;` names the same tensor.
// Views (reshape when possible, permute, transpose, expand, squeeze/unsqueeze, narrow/slice,
// flatten) are metadata-only and share storage; `contiguous()` and `clone()` are the copies.
// Every method that computes something records itself on the autograd tape when one of its
// inputs requires a gradient and grad mode is on (see autograd/grad_mode.h).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "engine/core/device.h"
#include "engine/core/dtype.h"
#include "engine/core/shape.h"
#include "engine/core/storage.h"

namespace fovea {

class Node;
class Tensor;

// A gradient hook sees the gradient flowing into a tensor during backward. Returning an
// undefined Tensor keeps the gradient; returning a tensor of the same shape replaces it.
using GradHook = std::function<Tensor(const Tensor& grad)>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  DType dtype = DType::Float32;

  // Autograd. A leaf has no grad_fn; a non-leaf that needs a gradient has one, and
  // `output_nr` says which output of that node it is.
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;
  uint32_t output_nr = 0;
  std::shared_ptr<TensorImpl> grad;
  std::weak_ptr<Node> grad_accumulator;  // leaves: the node that adds into `grad`
  bool retains_grad = false;
  std::vector<GradHook> hooks;           // leaves; a non-leaf's hooks live on its grad_fn
  std::string name;                      // optional, shown in DOT exports
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- metadata ----------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }
  std::string str() const;  // "float32[2, 3] on cpu", for error messages

  // ---- data access (CPU) --------------------------------------------------------------------
  // Pointer to the first element (storage + offset); checks that T matches the dtype and that
  // the tensor is on the CPU (the CUDA emulator's device memory is host memory, so without the
  // check a host read of a device tensor would pass in CI and crash on a GPU).
  template <typename T> T* data() const;
  void* raw_data() const;
  // The same pointer for a tensor on a CUDA device: for launchers, which hand it to kernels.
  template <typename T> T* device_data() const;
  // The value of a one-element tensor, converted to T. These three read device tensors too,
  // through a copy to the host.
  template <typename T = double> T item() const;
  // Element at a full index, converted to T (slow; for tests and printing).
  template <typename T = double> T at(const Shape& index) const;
  // All elements in row-major order, converted to T.
  template <typename T> std::vector<T> to_vector() const;

  // ---- views (no copy) ----------------------------------------------------------------------
  Tensor view(const Shape& shape) const;     // error if the strides do not allow a view
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a copy
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor expand(const Shape& shape) const;   // -1 keeps a dim; new dims go in front
  Tensor expand_as(const Tensor& other) const { return expand(other.shape()); }
  Tensor squeeze(int64_t dim) const;         // dim must have size 1
  Tensor squeeze() const;                    // all size-1 dims
  Tensor unsqueeze(int64_t dim) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // narrow + squeeze
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;

  // ---- copies -------------------------------------------------------------------------------
  Tensor contiguous() const;  // itself when already contiguous
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  Tensor detach() const;      // same storage, no autograd history, requires_grad false

  // ---- in-place (bump the storage version; refused on tensors that need a gradient while
  //      grad mode is on: wrap optimiser updates in NoGradGuard) ------------------------------
  Tensor& zero_();
  Tensor& fill_(double value);
  Tensor& copy_(const Tensor& src);  // src broadcasts to this shape; dtype converts
  Tensor& add_(const Tensor& other, double alpha = 1.0);  // this += alpha * other
  Tensor& add_(double value);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(double value);

  // ---- autograd -----------------------------------------------------------------------------
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& set_requires_grad(bool on = true);  // leaves only
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  uint32_t output_nr() const { return impl().output_nr; }
  Tensor grad() const { return Tensor(impl().grad); }
  void set_grad(const Tensor& g);  // undefined clears
  // Scalar outputs need no argument; otherwise pass the upstream gradient (same shape).
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  void retain_grad() const;  // keep .grad on a non-leaf after backward
  void register_hook(GradHook hook) const;
  Tensor& set_name(const std::string& name);
  const std::string& name() const { return impl().name; }

 private:
  template <typename T> T* element_pointer() const;
  std::shared_ptr<TensorImpl> impl_;
};

// A tensor over existing storage, for kernels and views: no autograd metadata.
Tensor make_tensor(std::shared_ptr<Storage> storage, const Shape& shape, const Shape& strides,
                   int64_t offset, DType dtype);

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Checks used by ops at their entry (all throw fovea::Error naming `op`).
void check_defined(const Tensor& t, const char* op);
void check_float(const Tensor& t, const char* op);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
// Before writing into t in place: it must not need a gradient while recording, and no two of
// its elements may share memory (an expanded view).
void check_inplace(const Tensor& t, const char* op);

// ---- template definitions --------------------------------------------------------------------
template <typename T> T* Tensor::device_data() const {
  // The emulator's device memory is host memory: without this check a CPU tensor reaching a
  // CUDA launcher would pass in CI and fault on a GPU.
  FOVEA_CHECK(!impl().storage->device().is_cpu(), "Tensor::device_data: ", str(),
              " is on the CPU, not on a CUDA device");
  return element_pointer<T>();
}
template <typename T> T* Tensor::data() const {
  FOVEA_CHECK(impl().storage->device().is_cpu(), "Tensor::data: ", str(),
              " is not on the CPU (copy it with .to(Device::cpu()) first)");
  return element_pointer<T>();
}
template <typename T> T* Tensor::element_pointer() const {
  FOVEA_CHECK(dtype_of<T>() == dtype(), "Tensor::data: requested ", dtype_name(dtype_of<T>()),
              " from a ", dtype_name(dtype()), " tensor");
  return static_cast<T*>(impl().storage->data()) + impl().offset;
}

}  // namespace fovea
