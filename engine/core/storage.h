// Storage: one reference-counted allocation shared by a tensor and all of its views.
//
// The version counter lives here because "this memory was changed in place" is a property of
// the memory, not of one view: autograd records the version of every tensor it saves and
// refuses to run a backward that would read memory changed since (SavedTensor, autograd/node.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/core/device.h"

namespace fovea {

class Storage {
 public:
  using Deleter = void (*)(void* data, size_t nbytes);  // nbytes as allocated

  // Allocates `nbytes` on `device` (64-byte aligned on the CPU, from cpu_allocator(): see
  // engine/core/cpu_allocator.h). Throws fovea::Error if the device is not available in this
  // build or the allocation fails.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device);

  Storage(void* data, size_t nbytes, Device device, Deleter deleter)
      : data_(data), nbytes_(nbytes), device_(device), deleter_(deleter) {}
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  Deleter deleter_;
  uint64_t version_ = 0;
};

// Bytes a fresh allocation on `device` could get now (free memory plus the allocator's cached
// blocks; SIZE_MAX when the CPU's probe cannot tell). For checks that refuse a request too large
// to fit before anything is allocated (attention/memory.h).
size_t available_memory(Device device);

// The allocator a CUDA build installs (cuda/ fills this slot at start-up).
struct DeviceAllocator {
  void* (*allocate)(size_t nbytes, int device_index) = nullptr;
  void (*release)(void* ptr, size_t nbytes) = nullptr;
};
DeviceAllocator& cuda_allocator_slot();

}  // namespace fovea
