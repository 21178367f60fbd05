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

#include "engine/core/device.h"
#include "engine/core/error.h"

namespace fovea {

template <typename Fn> class KernelSlot;

template <typename R, typename... Args>
class KernelSlot<R(Args...)> {
 public:
  using Fn = R (*)(Args...);
  constexpr KernelSlot(const char* name, Fn cpu) : name_(name), cpu_(cpu) {}

  R operator()(Device device, Args... args) const { return get(device)(args...); }

  Fn get(Device device) const {
    if (device.is_cpu()) return cpu_;
    FOVEA_CHECK(cuda_ != nullptr, name_, ": no CUDA kernel in this build (",
                device.str(), " requested)");
    return cuda_;
  }
  void set_cuda(Fn fn) { cuda_ = fn; }
  bool has_cuda() const { return cuda_ != nullptr; }
  const char* name() const { return name_; }

 private:
  const char* name_;
  Fn cpu_;
  Fn cuda_ = nullptr;
};

}  // namespace fovea
