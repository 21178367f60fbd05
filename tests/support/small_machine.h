// Stands in a machine with little memory for the CPU allocator's out-of-memory checks
// (engine/core/cpu_allocator.h) and attention/memory.h's refusals: for its lifetime the memory
// probe reports `bytes` available and the cache starts empty (its free blocks would count as
// available too); the previous probe comes back afterwards. One at a time (the probe is a plain
// function pointer reading a static).
#pragma once

#include <cstddef>

#include "engine/core/cpu_allocator.h"

namespace fovea::test {

class SmallMachine {
 public:
  explicit SmallMachine(size_t bytes) {
    cpu_allocator().empty_cache();
    available() = bytes;
    previous_ = cpu_allocator().set_memory_probe([] { return available(); });
  }
  ~SmallMachine() { cpu_allocator().set_memory_probe(previous_); }
  SmallMachine(const SmallMachine&) = delete;
  SmallMachine& operator=(const SmallMachine&) = delete;

 private:
  static size_t& available() {
    static size_t bytes = 0;
    return bytes;
  }
  CpuCachingAllocator::MemoryProbe previous_;
};

}  // namespace fovea::test
