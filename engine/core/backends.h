// Backends beyond the CPU register their kernels and allocator into the dispatch slots
// (core/dispatch.h, core/storage.h) the first time a non-CPU device is touched.
#pragma once

namespace fovea {

void ensure_backends_registered();

}  // namespace fovea
