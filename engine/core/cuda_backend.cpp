#include "engine/core/cuda_backend.h"

#include <cstdlib>
#include <mutex>

#include "engine/core/dispatch.h"
#include "engine/core/error.h"
#include "engine/core/storage.h"

// Each backend is defined by cuda/backend.cu in its own namespace (kcompat.cuh).
#ifdef FOVEA_HAS_CUDA
namespace fovea::cuda {
const CudaBackend& backend();
}
#endif
namespace fovea::cuda_emu {
const CudaBackend& backend();
}

namespace fovea {

namespace {

struct State {
  std::mutex mutex;
  bool chosen = false;                  // the environment was read or a selection was made
  const CudaBackend* selected = nullptr;
  const CudaBackend* installed = nullptr;
};

State& state() {
  static State s;
  return s;
}

const CudaBackend* resolve(const std::string& name) {
  if (name == "auto") return find_cuda_backend("gpu");
  FOVEA_CHECK(name == "gpu" || name == "emu", "CUDA backend \"", name,
              "\" is unknown (valid: auto, gpu, emu)");
  const CudaBackend* b = find_cuda_backend(name);
  FOVEA_CHECK(b != nullptr, "CUDA backend \"", name, "\" is not in this build of fovea (nvcc was "
              "not found when it was configured, or FOVEA_CUDA=OFF)");
  return b;
}

// The backend the environment asks for, read once.
void choose_from_environment(State& s) {
  if (s.chosen) return;
  const char* env = std::getenv("FOVEA_CUDA_BACKEND");
  s.selected = resolve(env && *env ? env : "auto");
  s.chosen = true;
}

}  // namespace

const CudaBackend* find_cuda_backend(const std::string& name) {
#ifdef FOVEA_HAS_CUDA
  if (name == "gpu") return &cuda::backend();
#endif
  if (name == "emu") return &cuda_emu::backend();
  return nullptr;
}

void select_cuda_backend(const std::string& name) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  const CudaBackend* next = resolve(name);
  if (s.installed && s.installed != next) {
    FOVEA_CHECK(s.installed->bytes_in_use() == 0, "select_cuda_backend(\"", name, "\"): ",
                s.installed->bytes_in_use(), " bytes of tensors still live on the \"",
                s.installed->name, "\" backend's device; free them first");
    s.installed->empty_cache();  // its freed blocks would stay reserved on the device
  }
  s.selected = next;
  s.chosen = true;
}

const CudaBackend* selected_cuda_backend() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  choose_from_environment(s);
  return s.selected;
}

void ensure_backends_registered() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  choose_from_environment(s);
  if (s.selected == s.installed) return;
  // Nothing of the previous backend may stay behind (an "auto" without a GPU backend must not
  // keep serving the emulator's allocator).
  for (KernelSlotBase* slot : all_kernel_slots()) slot->clear_cuda();
  cuda_allocator_slot() = DeviceAllocator{};
  if (s.selected) s.selected->install();
  s.installed = s.selected;
}

}  // namespace fovea
