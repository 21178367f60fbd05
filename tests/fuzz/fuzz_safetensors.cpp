// safetensors files (engine/io/safetensors.h): the header length, the JSON header (fields,
// dtypes, shapes, offsets, metadata) and the data buffer. A file that loads has every tensor's
// bytes read, so that a tensor smaller than its shape claims shows up under ASan.
#include "engine/io/safetensors.h"
#include "fuzz_support.h"

namespace {
volatile uint8_t g_sink;  // keeps the reads of the tensors' bytes
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fovea;
  const std::string path = fuzz::write_file("x.safetensors", data, size);
  fuzz::accept_or_reject([&] {
    const io::SafetensorsFile f = io::load_safetensors(path);
    uint8_t sum = 0;
    for (const auto& [name, t] : f.tensors) {
      const auto* bytes = static_cast<const uint8_t*>(t.raw_data());
      for (int64_t i = 0; i < t.numel() * int64_t(dtype_size(t.dtype())); ++i) sum ^= bytes[i];
      if (!f.contains(name)) std::abort();
    }
    g_sink = sum;
  });
  return 0;
}
