#include "engine/core/storage.h"

#include "engine/core/cuda_backend.h"
#include "engine/core/cpu_allocator.h"
#include "engine/core/error.h"

namespace fovea {

Storage::~Storage() {
  if (data_ && deleter_) deleter_(data_, nbytes_);
}

namespace {

void release_cpu(void* p, size_t nbytes) { cpu_allocator().release(p, nbytes); }

// A Storage owning a fresh block; the block goes back through `deleter` if make_shared throws.
std::shared_ptr<Storage> adopt(void* p, size_t nbytes, Device device, Storage::Deleter deleter) {
  try {
    return std::make_shared<Storage>(p, nbytes, device, deleter);
  } catch (...) {
    if (p) deleter(p, nbytes);
    throw;
  }
}

}  // namespace

DeviceAllocator& cuda_allocator_slot() {
  static DeviceAllocator slot;
  return slot;
}

size_t available_memory(Device device) {
  if (device.is_cpu()) return cpu_allocator().available();
  ensure_backends_registered();
  const CudaBackend* backend = selected_cuda_backend();
  FOVEA_CHECK(backend != nullptr, "available_memory: no CUDA backend serves ", device.str());
  return backend->bytes_available();
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  // 0 bytes still gets a valid pointer on the CPU so empty tensors need no special case.
  if (device.is_cpu()) return adopt(cpu_allocator().allocate(nbytes), nbytes, device, &release_cpu);
  ensure_backends_registered();
  DeviceAllocator& cuda = cuda_allocator_slot();
  FOVEA_CHECK(cuda.allocate != nullptr, "Storage: cannot allocate on ", device.str(),
              ": no CUDA backend serves it (this build has no GPU backend, or none was "
              "selected; FOVEA_CUDA_BACKEND=emu runs the CUDA kernels on the CPU emulator)");
  // The stream, the cuBLAS handle and the block cache are per process, made for one device.
  FOVEA_CHECK(device.index == 0, "Storage: cannot allocate on ", device.str(),
              ": fovea drives one GPU, cuda:0 (select another with CUDA_VISIBLE_DEVICES)");
  void* p = cuda.allocate(nbytes, device.index);
  return adopt(p, nbytes, device, cuda.release);
}

}  // namespace fovea
