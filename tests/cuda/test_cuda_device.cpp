// The CUDA device and its backends (engine/core/cuda_backend.h): what "auto" picks, the refusal
// to switch backends under live tensors, and device names.
#include <doctest/doctest.h>

#include "engine/core/cuda_backend.h"
#include "engine/fovea.h"
#include "support/skip.h"

using namespace fovea;

namespace {

// Selects `name` for the test's duration, then the runner's backend again.
struct BackendScope {
  explicit BackendScope(const char* name) : previous(selected_cuda_backend()) {
    select_cuda_backend(name);
  }
  ~BackendScope() { select_cuda_backend(previous ? previous->name : "auto"); }
  const CudaBackend* previous;
};

}  // namespace

TEST_CASE("cuda: the auto backend never falls back to the emulator") {
  BackendScope scope("auto");
  const CudaBackend* backend = selected_cuda_backend();
  CHECK((backend == nullptr || std::string(backend->name) == "gpu"));
  std::string why;
  if (cuda_available(&why)) return test::skip_test("a CUDA device is present");
  CHECK(!why.empty());
  CHECK_THROWS_AS(zeros({2, 3}, DType::Float32, Device::cuda()), Error);
  CHECK(build_info().find("CUDA:") != std::string::npos);
}

TEST_CASE("cuda: the emulator backend is in every build and serves Device::cuda()") {
  BackendScope scope("emu");
  std::string why;
  REQUIRE(cuda_available(&why));
  Tensor t = full({4, 5}, 1.5, DType::Float32, Device::cuda());
  CHECK(t.device() == Device::cuda());
  CHECK(selected_cuda_backend()->bytes_in_use() >= 80);
  CHECK(t.to(Device::cpu()).to_vector<float>() == std::vector<float>(20, 1.5f));
  CHECK(build_info().find("backend emu, device fovea CUDA emulator") != std::string::npos);
  // Switching backends while t lives would strand it.
  CHECK_THROWS_WITH_AS(select_cuda_backend("auto"), doctest::Contains("still live"), Error);
}

TEST_CASE("cuda: unknown backends are errors") {
  CHECK_THROWS_WITH_AS(select_cuda_backend("tpu"), doctest::Contains("valid: auto, gpu, emu"),
                       Error);
  if (!find_cuda_backend("gpu"))
    CHECK_THROWS_WITH_AS(select_cuda_backend("gpu"), doctest::Contains("not in this build"),
                         Error);
}

TEST_CASE("device names parse, and bad ones are errors") {
  CHECK(Device::parse("cpu") == Device::cpu());
  CHECK(Device::parse("cuda") == Device::cuda(0));
  CHECK(Device::parse("cuda:1") == Device::cuda(1));
  CHECK_THROWS_WITH_AS(Device::parse("gpu"), doctest::Contains("cannot parse \"gpu\""), Error);
  CHECK_THROWS_AS(Device::parse("cuda:x"), Error);
}

TEST_CASE("cuda: freed device blocks are cached and reused, and empty_cache gives them back") {
  BackendScope scope("emu");
  const CudaBackend* b = selected_cuda_backend();
  b->empty_cache();
  const size_t before = b->bytes_in_use();
  { Tensor t = empty({1000}, DType::Float32, Device::cuda()); }
  CHECK(b->bytes_in_use() == before);
#ifndef FOVEA_SANITIZE  // sanitizer builds turn the cache off (exact sizes for ASan)
  CHECK(b->bytes_cached() == 4096);  // 4000 bytes rounded up to 512
  { Tensor again = empty({1010}, DType::Float32, Device::cuda()); }  // the same rounded size
  CHECK(b->bytes_cached() == 4096);
#endif
  b->empty_cache();
  CHECK(b->bytes_cached() == 0);
}

TEST_CASE("cuda: devices other than cuda:0 are a clear error") {
  BackendScope scope("emu");
  CHECK_THROWS_WITH_AS(empty({2}, DType::Float32, Device::cuda(1)),
                       doctest::Contains("fovea drives one GPU, cuda:0"), Error);
}
