// Training checkpoints (layers/checkpoint.h) loaded into a small model (tiny_model.h): the
// metadata fields and their JSON, the model's tensor names, shapes and dtypes, and the
// optimiser's state. Each input is loaded three ways: read_checkpoint_state alone, into the
// model alone, and into the model and its optimiser. A load that fails must leave the model
// and the optimiser exactly as they were (checkpoint.h's promise), else the target aborts.
#include <cstdlib>
#include <cstring>

#include "fuzz_support.h"
#include "tiny_model.h"

namespace {

using namespace fovea;

// Every tensor's bytes and the optimiser's JSON, to compare before and after a failed load.
struct Snapshot {
  std::vector<std::vector<uint8_t>> bytes;
  std::string optim_meta;

  Snapshot(const nn::Module& model, const optim::Optimizer* opt) {
    std::vector<Tensor> tensors;
    for (const auto& [key, t] : model.state_dict()) tensors.push_back(t);
    if (opt) {
      const optim::OptimizerState s = opt->state_dict();
      optim_meta = s.meta.dump();
      for (const auto& [key, t] : s.tensors) tensors.push_back(t);
    }
    for (const Tensor& t : tensors) {
      const Tensor c = t.contiguous();
      const auto* p = static_cast<const uint8_t*>(c.raw_data());
      bytes.emplace_back(p, p + c.numel() * int64_t(dtype_size(c.dtype())));
    }
  }
  bool operator==(const Snapshot& o) const = default;
};

void load_into(const std::string& path, bool with_optimizer) {
  auto model = fuzz::make_tiny_model();
  auto opt = with_optimizer ? fuzz::make_tiny_optimizer(*model) : nullptr;
  const Snapshot before(*model, opt.get());
  try {
    nn::load_checkpoint(path, fuzz::kTinyModelDesc, *model, opt.get());
  } catch (const Error& e) {
    if (fuzz::verbose()) fuzz::report_rejection(e);
    if (!(Snapshot(*model, opt.get()) == before)) std::abort();  // a failed load changed state
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_file("checkpoint.safetensors", data, size);
  fuzz::accept_or_reject([&] { nn::read_checkpoint_state(path); });
  load_into(path, /*with_optimizer=*/false);
  load_into(path, /*with_optimizer=*/true);
  return 0;
}
