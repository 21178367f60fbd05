#include "engine/cpu/blas.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

#include "engine/core/error.h"
#include "fovea_config.h"

namespace fovea::blas {

namespace {

// CBLAS's enum values (cblas.h), so that this file needs no BLAS header.
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

using Sgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                       float, float*, int);
using Dgemm = void (*)(int, int, int, int, int, int, double, const double*, int, const double*,
                       int, double, double*, int);

struct Library {
  std::string path;
  Sgemm sgemm = nullptr;
  Dgemm dgemm = nullptr;
  void (*set_threads)(int) = nullptr;
  int (*get_threads)() = nullptr;
  char* (*config)() = nullptr;
  char* (*corename)() = nullptr;
};

bool has_avx512() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

template <typename Fn>
Fn symbol(void* handle, const char* name, const std::string& path) {
  void* p = dlsym(handle, name);
  FOVEA_CHECK(p != nullptr, "blas: ", path, " has no symbol ", name);
  return reinterpret_cast<Fn>(p);
}

const Library& library() {
  static Library lib;
  static std::once_flag once;
  std::call_once(once, [] {
    if (has_avx512()) setenv("OPENBLAS_CORETYPE", "SkylakeX", /*overwrite=*/0);
    void* handle = nullptr;
    for (const char* candidate : {FOVEA_BLAS_LIBRARY, "libopenblas.so.0"}) {
      handle = dlopen(candidate, RTLD_NOW | RTLD_LOCAL);
      if (handle) {
        lib.path = candidate;
        break;
      }
    }
    FOVEA_CHECK(handle != nullptr, "blas: cannot load OpenBLAS (tried ", FOVEA_BLAS_LIBRARY,
                " and libopenblas.so.0): ", dlerror());
    lib.sgemm = symbol<Sgemm>(handle, "cblas_sgemm", lib.path);
    lib.dgemm = symbol<Dgemm>(handle, "cblas_dgemm", lib.path);
    lib.set_threads = symbol<void (*)(int)>(handle, "openblas_set_num_threads", lib.path);
    lib.get_threads = symbol<int (*)()>(handle, "openblas_get_num_threads", lib.path);
    lib.config = symbol<char* (*)()>(handle, "openblas_get_config", lib.path);
    lib.corename = symbol<char* (*)()>(handle, "openblas_get_corename", lib.path);
  });
  return lib;
}

int op(bool trans) { return trans ? kTrans : kNoTrans; }

}  // namespace

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  library().sgemm(kRowMajor, op(ta), op(tb), int(m), int(n), int(k), 1.0f, a, int(lda), b,
                  int(ldb), beta, c, int(ldc));
}

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  library().dgemm(kRowMajor, op(ta), op(tb), int(m), int(n), int(k), 1.0, a, int(lda), b,
                  int(ldb), beta, c, int(ldc));
}

void set_num_threads(int n) { library().set_threads(n); }
int num_threads() { return library().get_threads(); }

std::string describe() {
  const Library& lib = library();
  return std::string(lib.config()) + " (core " + lib.corename() + ") from " + lib.path;
}

SingleThreaded::SingleThreaded() : saved_(num_threads()) {
  if (saved_ != 1) set_num_threads(1);
}

SingleThreaded::~SingleThreaded() {
  if (saved_ != 1) set_num_threads(saved_);
}

}  // namespace fovea::blas
