// CIFAR binary batches (engine/data/cifar.h). The first input byte picks the layout (CIFAR-10,
// CIFAR-100 fine, CIFAR-100 coarse); the rest is the test split's only file (test_batch.bin or
// test.bin), read from a folder of its own. A dataset that loads has its last example read.
#include <filesystem>

#include "engine/data/cifar.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fovea;
  if (size == 0) return 0;
  const int layout = data[0] % 3;
  const std::string dir = fuzz::scratch_dir() + "/cifar";
  std::filesystem::create_directories(dir);
  const std::string file = layout == 0 ? "cifar/test_batch.bin" : "cifar/test.bin";
  fuzz::write_file(file, data + 1, size - 1);
  fuzz::accept_or_reject([&] {
    const auto ds = layout == 0 ? data::load_cifar10(dir, /*train=*/false)
                                : data::load_cifar100(dir, /*train=*/false, layout == 2);
    if (ds->size() > 0) ds->get(ds->size() - 1);
  });
  return 0;
}
