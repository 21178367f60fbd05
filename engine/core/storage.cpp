#include "engine/core/storage.h"

#include <cstdlib>
#include <new>

#include "engine/core/backends.h"
#include "engine/core/error.h"

namespace fovea {

Storage::~Storage() {
  if (data_ && deleter_) deleter_(data_);
}

DeviceAllocator& cuda_allocator_slot() {
  static DeviceAllocator slot;
  return slot;
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  if (device.is_cpu()) {
    // aligned_alloc needs a size that is a multiple of the alignment; 0 bytes still gets a
    // valid pointer so empty tensors need no special case.
    size_t padded = (nbytes + 63) / 64 * 64;
    if (padded == 0) padded = 64;
    void* p = std::aligned_alloc(64, padded);
    FOVEA_CHECK(p != nullptr, "Storage: out of memory allocating ", nbytes, " bytes on the CPU");
    return std::make_shared<Storage>(p, nbytes, device, &std::free);
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
