// Threading: fovea's own kernels use OpenMP, GEMM uses OpenBLAS's pool. set_num_threads sets
// both so `--threads 2` means two cores, not two plus OpenBLAS's default.
#pragma once

#include <omp.h>

#include <cstdint>

namespace fovea {

void set_num_threads(int n);
int get_num_threads();  // 1 inside a SerialRegion

// Marks the current thread as one that must not start OpenMP teams for as long as it lives:
// parallel_for runs on the thread itself and get_num_threads() is 1. Data-loader workers use
// it: their parallelism is the worker itself, and every extra OpenMP master makes libgomp count
// more threads than cores and throttle the spinning of the trainer's own team (a ResNet epoch
// on 2 cores ran 5x slower).
class SerialRegion {
 public:
  SerialRegion();
  ~SerialRegion();
  SerialRegion(const SerialRegion&) = delete;
  SerialRegion& operator=(const SerialRegion&) = delete;
};
bool in_serial_region();

// Work below this many elements runs on one thread: an OpenMP fork costs a few microseconds.
constexpr int64_t kParallelGrain = 32768;

// The grain in force: kParallelGrain, unless a test lowered it so that the small tensors of the
// test suite also take the multi-chunk paths (tests/main.cpp, FOVEA_TEST_GRAIN). Results never
// depend on it, only which loop computes them.
int64_t parallel_grain();
void set_parallel_grain(int64_t grain);  // >= 1

// Calls body(begin, end) over [0, n) split into one contiguous chunk per thread, or once on the
// calling thread when n * cost_per_item < parallel_grain().
template <typename Body>
void parallel_for(int64_t n, int64_t cost_per_item, Body&& body) {
  if (n <= 0) return;
  if (n * cost_per_item < parallel_grain() || n == 1 || in_serial_region()) {
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
