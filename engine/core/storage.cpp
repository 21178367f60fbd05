#include "engine/core/storage.h"

#include <memory>

#include "engine/core/backends.h"
#include "engine/core/cpu_allocator.h"
#include "engine/core/error.h"

namespace fovea {

Storage::~Storage() {
  if (cpu_cached_) cpu_allocator().release(data_, nbytes_);
  else if (data_ && deleter_) deleter_(data_);
}

DeviceAllocator& cuda_allocator_slot() {
  static DeviceAllocator slot;
  return slot;
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  if (device.is_cpu()) {
    // 0 bytes still gets a valid pointer so empty tensors need no special case. The block goes
    // back to the cache if make_shared throws before the Storage owns it.
    auto release = [nbytes](void* p) { cpu_allocator().release(p, nbytes); };
    std::unique_ptr<void, decltype(release)> block(cpu_allocator().allocate(nbytes), release);
    auto s = std::make_shared<Storage>(block.get(), nbytes, device, nullptr);
    block.release();
    s->cpu_cached_ = true;
    return s;
  }
  ensure_backends_registered();
  DeviceAllocator& cuda = cuda_allocator_slot();
  FOVEA_CHECK(cuda.allocate != nullptr, "Storage: cannot allocate on ", device.str(),
              ": this build of fovea has no CUDA support (configure with FOVEA_CUDA=ON on a "
              "machine with the CUDA toolkit)");
  void* p = cuda.allocate(nbytes, device.index);
  return std::make_shared<Storage>(p, nbytes, device, cuda.release);
}

}  // namespace fovea
