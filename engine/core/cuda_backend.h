// The CUDA backends and which one serves Device::cuda().
//
// Every .cu file under cuda/ is compiled twice (cuda/README.md):
//   "gpu"  by nvcc, against the real CUDA runtime and cuBLAS (builds where nvcc exists);
//   "emu"  by the C++ compiler, against fovea's CUDA emulator (cuda/emu/cuemu.h), in every
//          build: the same kernels run on the CPU, one fiber per CUDA thread.
// A backend, once installed, owns the CUDA allocator slot (core/storage.h) and the CUDA entry of
// every kernel slot (core/dispatch.h).
//
// Selection: FOVEA_CUDA_BACKEND=auto|gpu|emu in the environment, or select_cuda_backend().
// "auto" (the default) is the GPU backend when it is compiled; it never falls back to the
// emulator, so a program that asks for CUDA on a machine without a GPU gets a clear error, not a
// slow CPU run. The test runner selects "emu" (tests/main.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fovea {

enum class CudaSchedule { Forward, Reverse, Shuffle };

struct CudaBackend {
  const char* name;                        // "gpu" or "emu"
  bool (*available)(std::string* why);     // a device can be used; `why` says why not
  std::string (*device_name)();            // e.g. "NVIDIA H100 80GB HBM3 (sm_90)"
  void (*install)();                       // fills the allocator slot and the kernel slots
  size_t (*bytes_in_use)();                // device bytes held by live tensors
  size_t (*bytes_cached)();                // freed device blocks kept for reuse
  size_t (*bytes_available)();             // what an allocation could get: free + cached
  void (*empty_cache)();                   // gives the cached blocks back to the device
  void (*synchronize)();                   // waits for every launch and copy issued so far
  // Emulator only (nullptr on the GPU): the order in which the threads of a block, and the
  // blocks of a grid, run (tests rerun kernels under each and demand the same bits).
  void (*set_schedule)(CudaSchedule schedule, uint64_t seed);
};

// The backend compiled under `name` ("gpu", "emu"), or nullptr when this build lacks it.
const CudaBackend* find_cuda_backend(const std::string& name);

// Chooses the backend that serves Device::cuda(): "auto", "gpu" or "emu". Refused (fovea::Error)
// while tensors live on the current backend's device, and for a backend this build lacks.
void select_cuda_backend(const std::string& name);

// The selected backend, or nullptr when none ("auto" in a build without the GPU backend).
const CudaBackend* selected_cuda_backend();

// Installs the selected backend into the slots if it is not installed yet (Storage::allocate
// calls this before its first CUDA allocation).
void ensure_backends_registered();

}  // namespace fovea
