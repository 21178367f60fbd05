// CUDA twin of the gemm slot (engine/cpu/gemm.h): c[i] = a[i] @ b[i] + beta c[i] over the
// batch dims, through gemm_rowmajor (cuda/blas.cuh). Operands are read as the CPU reads them
// (blas_operand: row-major or transposed views as they are, other layouts copied once). When
// every operand's batch dims fold into one stride (0 for a broadcast operand) the whole batch
// is one strided-batched call; otherwise one call per matrix.
#include <vector>

#include "engine/cpu/gemm.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"
#include "cuda/blas.cuh"

FOVEA_CUDA_BEGIN

namespace {

// Element offsets of every batch matrix of t (batch dims of `shape`, strides of t).
std::vector<int64_t> batch_offsets(const Shape& shape, const Tensor& t, int64_t batch) {
  const int64_t nd = int64_t(shape.size());
  std::vector<int64_t> off(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) {
    int64_t rest = i, o = 0;
    for (int64_t d = nd - 3; d >= 0; --d) {
      o += (rest % shape[d]) * t.strides()[d];
      rest /= shape[d];
    }
    off[size_t(i)] = o;
  }
  return off;
}

// The one stride that steps through the offsets, or -1 when there is none.
int64_t common_stride(const std::vector<int64_t>& off) {
  if (off.size() < 2) return 0;
  const int64_t s = off[1] - off[0];
  for (size_t i = 2; i < off.size(); ++i)
    if (off[i] - off[i - 1] != s) return -1;
  return s < 0 ? -1 : s;
}

}  // namespace

void gemm_cuda(const Tensor& a_in, const Tensor& b_in, const Tensor& c, double beta) {
  require_float32(c, "gemm");
  const BlasOperand a = blas_operand(a_in), b = blas_operand(b_in);
  const int64_t nd = c.dim();
  const int64_t M = c.shape()[nd - 2], N = c.shape()[nd - 1], K = a.t.shape()[nd - 1];
  int64_t batch = 1;
  for (int64_t d = 0; d < nd - 2; ++d) batch *= c.shape()[d];
  const std::vector<int64_t> oa = batch_offsets(c.shape(), a.t, batch),
                             ob = batch_offsets(c.shape(), b.t, batch);
  const float* pa = a.t.device_data<float>();
  const float* pb = b.t.device_data<float>();
  float* pc = c.device_data<float>();
  const int64_t ldc = std::max<int64_t>(N, 1);
  const int64_t sa = common_stride(oa), sb = common_stride(ob);
  if (sa >= 0 && sb >= 0) {
    gemm_rowmajor(a.trans, b.trans, M, N, K, 1.f, pa + oa[0], a.ld, sa, pb + ob[0], b.ld, sb,
                  float(beta), pc, ldc, M * N, batch);
    return;
  }
  for (int64_t i = 0; i < batch; ++i)
    gemm_rowmajor(a.trans, b.trans, M, N, K, 1.f, pa + oa[size_t(i)], a.ld, 0, pb + ob[size_t(i)],
                  b.ld, 0, float(beta), pc + i * M * N, ldc, 0, 1);
}

void register_gemm() { gemm_kernel.set_cuda(&gemm_cuda); }

FOVEA_CUDA_END
