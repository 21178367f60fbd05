// Threading: fovea's own kernels use OpenMP, GEMM uses OpenBLAS's pool. set_num_threads sets
// both so `--threads 2` means two cores, not two plus OpenBLAS's default.
#pragma once

#include <omp.h>

#include <cstdint>

namespace fovea {

void set_num_threads(int n);
int get_num_threads();

// Work below this many elements runs on one thread: an OpenMP fork costs a few microseconds.
constexpr int64_t kParallelGrain = 32768;

// Calls body(begin, end) over [0, n) split into one contiguous chunk per thread, or once on the
// calling thread when n * cost_per_item < kParallelGrain.
template <typename Body>
void parallel_for(int64_t n, int64_t cost_per_item, Body&& body) {
  if (n <= 0) return;
  if (n * cost_per_item < kParallelGrain || n == 1) {
    body(int64_t(0), n);
    return;
  }
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), tid = omp_get_thread_num();
    const int64_t chunk = (n + nt - 1) / nt;
    const int64_t b = tid * chunk, e = b + chunk < n ? b + chunk : n;
    if (b < e) body(b, e);
  }
}

}  // namespace fovea
