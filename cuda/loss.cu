// CUDA twins of the class-index losses (engine/cpu/cross_entropy.h), with the formulas of
// engine/kernels/softmax.h, which the CPU kernels call too. M rows of K classes; target [M]
// int64, already checked by the op to lie in [0, K).
//   cross_entropy_forward:  per row (a thread, or a block for long rows: cuda/lines.cuh)
//                           l = m + log sum exp(z - m) (double, kept for backward),
//                           loss = (1 - eps)(l - z_t) + eps / K sum_k (l - z_k)
//   cross_entropy_backward: dz_k = (exp(z_k - l) - q_k) g, one thread per element
//   nll_loss_forward:       loss = -x_t, one thread per row
//   nll_loss_backward:      dx_k = -g [k == t], one thread per element
#include "engine/autograd/grad_mode.h"
#include "engine/cpu/cross_entropy.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"
#include "cuda/block_reduce.cuh"
#include "cuda/lines.cuh"
#include "cuda/elementwise.cuh"

FOVEA_CUDA_BEGIN

namespace {

namespace sm = ::fovea::softmax_math;

struct CrossEntropyRow {
  const float* z;
  const int64_t* target;
  float* loss;
  double* lse;
  double eps;
  int64_t k;
  template <class L>
  __device__ void operator()(const L& line, int64_t n) const {
    const float m = line.max([&](int64_t c) { return z[line.at(c)]; });
    const double s = line.sum([&](int64_t c) { return double(fast_exp(z[line.at(c)] - m)); });
    const double l = double(m) + fm::log(s);
    const double spread =
        eps > 0 ? line.sum([&](int64_t c) { return l - double(z[line.at(c)]); }) : 0.0;
    if (line.leader()) {
      lse[n] = l;
      loss[n] = float(sm::ce_loss(l, z[line.at(target[n])], spread, eps, k));
    }
  }
};

struct CrossEntropyGrad {
  const float* z;
  const int64_t* target;
  const double* lse;
  const float* g;
  float* dz;
  double eps;
  int64_t k;
  __device__ void operator()(const int64_t (&off)[1]) const {
    const int64_t n = off[0] / k, c = off[0] % k;
    dz[off[0]] = sm::ce_grad(z[off[0]], lse[n], double(g[n]), eps, k, c == target[n]);
  }
};

struct NllForward {
  const float* x;
  const int64_t* target;
  float* loss;
  int64_t k;
  __device__ void operator()(const int64_t (&off)[1]) const {
    loss[off[0]] = -x[off[0] * k + target[off[0]]];
  }
};

struct NllGrad {
  const int64_t* target;
  const float* g;
  float* dx;
  int64_t k;
  __device__ void operator()(const int64_t (&off)[1]) const {
    const int64_t n = off[0] / k, c = off[0] % k;
    dx[off[0]] = c == target[n] ? -g[n] : 0.f;
  }
};

// A flat loop over n elements (the bodies index rows and classes themselves).
template <class Body>
void launch_flat(const char* name, int64_t n, const Body& body) {
  launch_elementwise<1>(name, {n}, {Shape{1}}, body);
}

}  // namespace

void cross_entropy_forward_cuda(const Tensor& logits_in, const Tensor& target_in,
                                const Tensor& loss, const Tensor& lse, double eps) {
  require_float32(logits_in, "cross_entropy");
  const Tensor logits = contiguous(logits_in), target = contiguous(target_in);
  const int64_t m = logits.size(0), k = logits.size(1);
  launch_lines("cross_entropy", m, k, 1,
               CrossEntropyRow{logits.device_data<float>(), target.device_data<int64_t>(),
                               loss.device_data<float>(), lse.device_data<double>(), eps, k});
}

void cross_entropy_backward_cuda(const Tensor& logits_in, const Tensor& target_in,
                                 const Tensor& lse, const Tensor& grad_in, const Tensor& dlogits,
                                 double eps) {
  require_float32(logits_in, "cross_entropy");
  const Tensor logits = contiguous(logits_in), target = contiguous(target_in),
               grad = contiguous(grad_in);
  const int64_t m = logits.size(0), k = logits.size(1);
  launch_flat("cross_entropy", m * k,
              CrossEntropyGrad{logits.device_data<float>(), target.device_data<int64_t>(),
                               lse.device_data<double>(), grad.device_data<float>(),
                               dlogits.device_data<float>(), eps, k});
}

void nll_loss_forward_cuda(const Tensor& log_probs_in, const Tensor& target_in,
                           const Tensor& loss) {
  require_float32(log_probs_in, "nll_loss");
  const Tensor x = contiguous(log_probs_in), target = contiguous(target_in);
  launch_flat("nll_loss", x.size(0),
              NllForward{x.device_data<float>(), target.device_data<int64_t>(),
                         loss.device_data<float>(), x.size(1)});
}

void nll_loss_backward_cuda(const Tensor& target_in, const Tensor& grad_in, const Tensor& dx) {
  require_float32(dx, "nll_loss");
  const Tensor target = contiguous(target_in), grad = contiguous(grad_in);
  launch_flat("nll_loss", dx.numel(),
              NllGrad{target.device_data<int64_t>(), grad.device_data<float>(),
                      dx.device_data<float>(), dx.size(1)});
}

void register_loss() {
  cross_entropy_forward_kernel.set_cuda(&cross_entropy_forward_cuda);
  cross_entropy_backward_kernel.set_cuda(&cross_entropy_backward_cuda);
  nll_loss_forward_kernel.set_cuda(&nll_loss_forward_cuda);
  nll_loss_backward_kernel.set_cuda(&nll_loss_backward_cuda);
}

FOVEA_CUDA_END
