// Device dispatch: every kernel has one slot per device type.
//
//   // engine/cpu/softmax.h
//   void softmax_forward_cpu(const Tensor& x, const Tensor& y, int64_t dim);
//   extern KernelSlot<void(const Tensor&, const Tensor&, int64_t)> softmax_forward_kernel;
//   // engine/cpu/softmax.cpp
//   KernelSlot<...> softmax_forward_kernel{"softmax_forward", &softmax_forward_cpu};
//   // engine/ops/softmax.cpp (the autograd op)
//   softmax_forward_kernel(x.device(), x, y, dim);
//
// The CPU entry is always there; the CUDA entry is filled by cuda/ when fovea is built with
// CUDA. Asking for a CUDA kernel that is not there is an error naming the kernel.
// Dtype dispatch happens inside each kernel (FOVEA_DISPATCH_FLOAT in core/dtype.h).
#pragma once

#include <vector>

#include "engine/core/device.h"
#include "engine/core/error.h"

namespace fovea {

// The part of a slot that does not depend on its signature: what the CUDA backends and the
// coverage test (tests/cuda/test_coverage.cpp) need to walk every slot (all_kernel_slots()).
// The CUDA entry is kept type-erased here; a function pointer cast to another function
// pointer type and back is exact.
class KernelSlotBase {
 public:
  constexpr explicit KernelSlotBase(const char* name) : name_(name) {}
  const char* name() const { return name_; }
  bool has_cuda() const { return cuda_ != nullptr; }
  void clear_cuda() { cuda_ = nullptr; }

 protected:
  using AnyFn = void (*)();
  const char* name_;
  AnyFn cuda_ = nullptr;
};

template <typename Fn> class KernelSlot;

template <typename R, typename... Args>
class KernelSlot<R(Args...)> : public KernelSlotBase {
 public:
  using Fn = R (*)(Args...);
  constexpr KernelSlot(const char* name, Fn cpu) : KernelSlotBase(name), cpu_(cpu) {}

  R operator()(Device device, Args... args) const { return get(device)(args...); }

  Fn get(Device device) const {
    if (device.is_cpu()) return cpu_;
    FOVEA_CHECK(cuda_ != nullptr, name_, ": no CUDA kernel in this build (",
                device.str(), " requested)");
    return reinterpret_cast<Fn>(cuda_);
  }
  void set_cuda(Fn fn) { cuda_ = reinterpret_cast<AnyFn>(fn); }

 private:
  Fn cpu_;
};

// Every slot of the engine, in one list (engine/kernels/slots.cpp).
std::vector<KernelSlotBase*> all_kernel_slots();

}  // namespace fovea
