// The CUDA slot: without a GPU (or without CUDA compiled in) using a CUDA device is a clear
// error and these tests report "skipped"; with one, tensors can live on it.
#include <doctest/doctest.h>

#include "engine/fovea.h"
#include "support/skip.h"

using namespace fovea;

TEST_CASE("cuda: without a usable device, CUDA tensors are a clear error") {
  std::string why;
  if (cuda_available(&why)) return test::skip_test("a CUDA device is present");
  CHECK(!why.empty());
  CHECK_THROWS_AS(zeros({2, 3}, DType::Float32, Device::cuda()), Error);
  CHECK(build_info().find("CUDA:") != std::string::npos);
}

TEST_CASE("cuda: allocating on the device works when a GPU is present") {
  std::string why;
  if (!cuda_available(&why)) return test::skip_test("no usable CUDA device: " + why);
  Tensor t = empty({4, 5}, DType::Float32, Device::cuda());
  CHECK(t.device() == Device::cuda());
  CHECK(t.numel() == 20);
}

TEST_CASE("device names parse, and bad ones are errors") {
  CHECK(Device::parse("cpu") == Device::cpu());
  CHECK(Device::parse("cuda") == Device::cuda(0));
  CHECK(Device::parse("cuda:1") == Device::cuda(1));
  CHECK_THROWS_WITH_AS(Device::parse("gpu"), doctest::Contains("cannot parse \"gpu\""), Error);
  CHECK_THROWS_AS(Device::parse("cuda:x"), Error);
}
