#include "engine/cpu/cross_entropy.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd/grad_mode.h"
#include "engine/core/parallel.h"
#include "engine/cpu/softmax.h"

namespace fovea {

KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double)>
    cross_entropy_forward_kernel{"cross_entropy_forward", &cross_entropy_forward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                double)>
    cross_entropy_backward_kernel{"cross_entropy_backward", &cross_entropy_backward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&)> nll_loss_forward_kernel{
    "nll_loss_forward", &nll_loss_forward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&)> nll_loss_backward_kernel{
    "nll_loss_backward", &nll_loss_backward_cpu};

void cross_entropy_forward_cpu(const Tensor& logits_in, const Tensor& target_in,
                               const Tensor& loss, const Tensor& lse, double eps) {
  NoGradGuard no_grad;  // layout plumbing, never part of the graph
  const Tensor logits = logits_in.contiguous(), target = target_in.contiguous();
  const int64_t m = logits.size(0), k = logits.size(1);
  FOVEA_DISPATCH_FLOAT(logits.dtype(), "cross_entropy", [&] {
    using T = scalar_t;
    const T* pz = logits.data<T>();
    const int64_t* pt = target.data<int64_t>();
    T* pl = loss.data<T>();
    double* plse = lse.data<double>();
    parallel_for(m, 3 * k, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) {
        const T* z = pz + n * k;
        T mx;
        double sum_exp;
        block_max(z, RowBlock{k}, &mx);
        block_sum_exp(z, RowBlock{k}, &mx, &sum_exp);
        const double l = double(mx) + std::log(sum_exp);
        double spread = 0;
        if (eps > 0)
          for (int64_t c = 0; c < k; ++c) spread += l - z[c];
        plse[n] = l;
        pl[n] = T(softmax_math::ce_loss(l, z[pt[n]], spread, eps, k));
      }
    });
  });
}

void cross_entropy_backward_cpu(const Tensor& logits_in, const Tensor& target_in,
                                const Tensor& lse, const Tensor& grad_in, const Tensor& dlogits,
                                double eps) {
  NoGradGuard no_grad;
  const Tensor logits = logits_in.contiguous(), target = target_in.contiguous(),
               grad = grad_in.contiguous();
  const int64_t m = logits.size(0), k = logits.size(1);
  FOVEA_DISPATCH_FLOAT(logits.dtype(), "cross_entropy", [&] {
    using T = scalar_t;
    const T *pz = logits.data<T>(), *pg = grad.data<T>();
    const int64_t* pt = target.data<int64_t>();
    const double* plse = lse.data<double>();
    T* pd = dlogits.data<T>();
    parallel_for(m, 2 * k, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) {
        const T* z = pz + n * k;
        T* dz = pd + n * k;
        const double g = pg[n], l = plse[n];
        for (int64_t c = 0; c < k; ++c) dz[c] = softmax_math::ce_grad(z[c], l, g, eps, k, false);
        const int64_t t = pt[n];
        dz[t] = softmax_math::ce_grad(z[t], l, g, eps, k, true);
      }
    });
  });
}

void nll_loss_forward_cpu(const Tensor& log_probs_in, const Tensor& target_in,
                          const Tensor& loss) {
  NoGradGuard no_grad;
  const Tensor x = log_probs_in.contiguous(), target = target_in.contiguous();
  const int64_t m = x.size(0), k = x.size(1);
  FOVEA_DISPATCH_FLOAT(x.dtype(), "nll_loss", [&] {
    using T = scalar_t;
    const T* px = x.data<T>();
    const int64_t* pt = target.data<int64_t>();
    T* pl = loss.data<T>();
    for (int64_t n = 0; n < m; ++n) pl[n] = -px[n * k + pt[n]];
  });
}

void nll_loss_backward_cpu(const Tensor& target_in, const Tensor& grad_in, const Tensor& dx) {
  NoGradGuard no_grad;
  const Tensor target = target_in.contiguous(), grad = grad_in.contiguous();
  const int64_t m = dx.size(0), k = dx.size(1);
  FOVEA_DISPATCH_FLOAT(dx.dtype(), "nll_loss", [&] {
    using T = scalar_t;
    const T* pg = grad.data<T>();
    const int64_t* pt = target.data<int64_t>();
    T* pd = dx.data<T>();
    parallel_for(m, k, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) {
        std::fill(pd + n * k, pd + (n + 1) * k, T(0));
        pd[n * k + pt[n]] = -pg[n];
      }
    });
  });
}

}  // namespace fovea
