// The fused update kernels of the optimisers: one pass over a parameter's contiguous data reads
// the gradient and the state once and writes the parameter and the state once, where the same
// update written with tensor ops would make several passes and temporaries.
//
// Every tensor is contiguous, of the parameter's shape, dtype and device (checked by the
// optimizer). Elements are independent, so the result does not depend on the thread count.
// The arithmetic follows torch.optim's (1.13) operation order, so float64 results agree with
// PyTorch to rounding.
#pragma once

#include <cstdint>

#include "engine/core/dispatch.h"
#include "engine/core/tensor.h"

namespace fovea::optim {

// SGD (sgd.h): d = g + wd p; with momentum, b = d on the first step (`first`), else
// b = momentum b + (1 - dampening) d, and d = nesterov ? d + momentum b : b; p -= lr d.
// `buf` is undefined when momentum is 0.
struct SGDStep {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, first;
};
void sgd_step_cpu(const Tensor& p, const Tensor& g, const Tensor& buf, const SGDStep& a);
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const SGDStep&)>
    sgd_step_kernel;

// Adam / AdamW (adam.h) at step `step` (>= 1, already counted):
//   decoupled (AdamW): p *= 1 - lr wd          else: g = g + wd p
//   m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2;   amsgrad: vmax = max(vmax, v)
//   p -= lr / (1 - beta1^step) * m / (sqrt(amsgrad ? vmax : v) / sqrt(1 - beta2^step) + eps)
// `vmax` is undefined unless amsgrad.
struct AdamStep {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled, amsgrad;
  int64_t step;
};
void adam_step_cpu(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v,
                   const Tensor& vmax, const AdamStep& a);
extern KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                       const AdamStep&)>
    adam_step_kernel;

}  // namespace fovea::optim
