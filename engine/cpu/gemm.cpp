#include "engine/cpu/gemm.h"


#include "engine/autograd/grad_mode.h"
#include "engine/cpu/blas.h"

namespace fovea {

KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, double)> gemm_kernel{"gemm",
                                                                                 &gemm_cpu};

BlasOperand blas_operand(const Tensor& t) {
  const int64_t n = t.dim();
  const int64_t rows = t.shape()[n - 2], cols = t.shape()[n - 1];
  const int64_t rs = t.strides()[n - 2], cs = t.strides()[n - 1];
  if ((cs == 1 || cols == 1) && (rs >= std::max<int64_t>(cols, 1) || rows == 1))
    return {t, false, rows == 1 ? std::max<int64_t>(cols, 1) : rs};
  if ((rs == 1 || rows == 1) && (cs >= std::max<int64_t>(rows, 1) || cols == 1))
    return {t, true, cols == 1 ? std::max<int64_t>(rows, 1) : cs};
  NoGradGuard no_grad;
  Tensor c = t.contiguous();
  return {c, false, std::max<int64_t>(cols, 1)};
}

void gemm_cpu(const Tensor& a_in, const Tensor& b_in, const Tensor& c, double beta) {
  const BlasOperand a = blas_operand(a_in), b = blas_operand(b_in);
  const int64_t nd = c.dim();
  const int64_t M = c.shape()[nd - 2], N = c.shape()[nd - 1], K = a.t.shape()[nd - 1];
  int64_t batch = 1;
  for (int64_t d = 0; d < nd - 2; ++d) batch *= c.shape()[d];
  FOVEA_DISPATCH_FLOAT(c.dtype(), "gemm", [&] {
    using T = scalar_t;
    const T* pa = a.t.data<T>();
    const T* pb = b.t.data<T>();
    T* pc = c.data<T>();
    for (int64_t i = 0; i < batch; ++i) {
      // Offsets of batch element i in each operand (strides may be 0 where broadcast).
      int64_t rest = i, oa = 0, ob = 0;
      for (int64_t d = nd - 3; d >= 0; --d) {
        const int64_t idx = rest % c.shape()[d];
        rest /= c.shape()[d];
        oa += idx * a.t.strides()[d];
        ob += idx * b.t.strides()[d];
      }
      T* out = pc + i * M * N;
      if (K == 0) {
        for (int64_t j = 0; j < M * N; ++j) out[j] = beta == 0 ? T(0) : T(beta) * out[j];
        continue;
      }
      blas::gemm(a.trans, b.trans, M, N, K, pa + oa, a.ld, pb + ob, b.ld, T(beta), out,
                std::max<int64_t>(N, 1));
    }
  });
}

}  // namespace fovea
