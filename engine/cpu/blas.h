// The CPU BLAS (OpenBLAS), behind one small interface: row-major GEMM and the thread count.
//
// OpenBLAS is loaded with dlopen at first use rather than linked, so that fovea can choose its
// kernels first: OpenBLAS 0.3.21 (Debian 12) picks its AVX2 "Haswell" SGEMM on CPUs it does not
// know, such as AMD's AVX-512 Zen 4/5, while its SkylakeX kernels run there and are faster
// (a ResNet-20 training step on 2 cores: 244 ms -> 194 ms). When the CPU has AVX-512
// (F, BW, DQ, VL) and OPENBLAS_CORETYPE is not set, fovea sets it to SkylakeX before loading;
// setting OPENBLAS_CORETYPE yourself overrides that.
#pragma once

#include <cstdint>
#include <string>

namespace fovea::blas {

// c = op(a) op(b) + beta * c, row-major, op transposing where asked (alpha is 1).
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

void set_num_threads(int n);
int num_threads();

// "OpenBLAS 0.3.21 ... (core SkylakeX) from /usr/lib/.../libopenblas.so"
std::string describe();

// While fovea's own threads each run GEMMs, OpenBLAS must not fork onto the same cores.
class SingleThreaded {
 public:
  SingleThreaded();
  ~SingleThreaded();
  SingleThreaded(const SingleThreaded&) = delete;
  SingleThreaded& operator=(const SingleThreaded&) = delete;

 private:
  int saved_;
};

}  // namespace fovea::blas
