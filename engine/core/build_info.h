// What this build of fovea contains and what the machine offers at run time, printed by the
// examples at start-up and by `train --version`.
#pragma once

#include <string>

namespace fovea {

// One line per item: version, compiler, build type, BLAS, OpenMP threads, CUDA (compiled in?
// device found?).
std::string build_info();
bool cuda_compiled();
// True when fovea was built with CUDA and a device is usable; `why` says why not otherwise.
bool cuda_available(std::string* why = nullptr);

}  // namespace fovea
