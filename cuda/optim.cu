// CUDA twins of the fused optimiser steps (engine/optim/kernels.h), one thread per element,
// with the per-element updates of engine/kernels/optim.h, which the CPU kernels call too.
// Every tensor is contiguous, of the parameter's shape (checked by the optimiser).
#include "engine/kernels/optim.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"
#include "cuda/elementwise.cuh"

FOVEA_CUDA_BEGIN

namespace {

using optim::AdamScalars;
using optim::SgdScalars;

struct SgdBody {
  float *p, *buf;
  const float* g;
  SgdScalars<float> s;
  __device__ void operator()(const int64_t (&off)[1]) const {
    const int64_t i = off[0];
    optim::sgd_update(p[i], g[i], buf ? buf + i : nullptr, s);
  }
};

struct AdamBody {
  float *p, *m, *v, *vmax;
  const float* g;
  AdamScalars<float> s;
  __device__ void operator()(const int64_t (&off)[1]) const {
    const int64_t i = off[0];
    optim::adam_update(p[i], g[i], m[i], v[i], vmax ? vmax + i : nullptr, s);
  }
};

}  // namespace

void sgd_step_cuda(const Tensor& p, const Tensor& g, const Tensor& buf, const optim::SGDStep& a) {
  require_float32(p, "sgd_step");
  launch_elementwise<1>("sgd_step", {p.numel()}, {Shape{1}},
                        SgdBody{p.device_data<float>(),
                                buf.defined() ? buf.device_data<float>() : nullptr,
                                g.device_data<float>(), SgdScalars<float>::of(a)});
}

void adam_step_cuda(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v,
                    const Tensor& vmax, const optim::AdamStep& a) {
  require_float32(p, "adam_step");
  launch_elementwise<1>("adam_step", {p.numel()}, {Shape{1}},
                        AdamBody{p.device_data<float>(), m.device_data<float>(),
                                 v.device_data<float>(),
                                 a.amsgrad ? vmax.device_data<float>() : nullptr,
                                 g.device_data<float>(), AdamScalars<float>::of(a)});
}

void register_optim() {
  optim::sgd_step_kernel.set_cuda(&sgd_step_cuda);
  optim::adam_step_kernel.set_cuda(&adam_step_cuda);
}

FOVEA_CUDA_END
