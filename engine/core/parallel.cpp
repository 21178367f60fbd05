#include "engine/core/parallel.h"

#include <atomic>

#include "engine/core/error.h"
#include "engine/cpu/blas.h"

namespace fovea {

void set_num_threads(int n) {
  FOVEA_CHECK(n >= 1, "set_num_threads: need at least 1 thread, got ", n);
  omp_set_num_threads(n);
  blas::set_num_threads(n);
}

namespace {
thread_local int serial_depth = 0;
std::atomic<int64_t> grain{kParallelGrain};
}  // namespace

int64_t parallel_grain() { return grain.load(std::memory_order_relaxed); }

void set_parallel_grain(int64_t g) {
  FOVEA_CHECK(g >= 1, "set_parallel_grain: the grain must be at least 1, got ", g);
  grain.store(g, std::memory_order_relaxed);
}

int get_num_threads() { return serial_depth > 0 ? 1 : omp_get_max_threads(); }

SerialRegion::SerialRegion() { ++serial_depth; }
SerialRegion::~SerialRegion() { --serial_depth; }
bool in_serial_region() { return serial_depth > 0; }

}  // namespace fovea
