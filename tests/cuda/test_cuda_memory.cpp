// Device memory on the emulator: running out is a clear OutOfMemoryError that names the sizes
// (the emulator's budget stands in for a full GPU).
#include <doctest/doctest.h>

#include "engine/core/cpu_allocator.h"
#include "engine/core/cuda_backend.h"
#include "engine/fovea.h"
#include "support/cuda_parity.h"

#include "cuda/kcompat.cuh"

using namespace fovea;

TEST_CASE("cuda: out of device memory names the request and what is free") {
  test::CudaDevice cuda;
  if (!cuda.ok() || !cuda.emulated()) return;
  const CudaBackend* b = selected_cuda_backend();
  b->empty_cache();
  namespace emu = ::fovea::cuemu::impl;
  emu::set_memory_budget(emu::memory_in_use() + (size_t(1) << 20));  // 1 MiB left
  struct Reset {
    ~Reset() { emu::reset_memory_budget(); }
  } reset;
  Tensor fits = empty({1 << 17}, DType::Float32, cuda.device());  // 512 KiB
  CHECK_THROWS_WITH_AS(empty({1 << 20}, DType::Float32, cuda.device()),  // 4 MiB
                       doctest::Contains("CUDA out of memory on cuda:0: cannot allocate 4.00 MiB"),
                       OutOfMemoryError);
  // The cache is given back before giving up: freeing `fits` makes room for a 768 KiB block.
  fits = Tensor();
  Tensor after = empty({3 << 16}, DType::Float32, cuda.device());
  CHECK(after.numel() == (3 << 16));
}
