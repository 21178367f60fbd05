#include "engine/core/build_info.h"

#include "engine/core/backends.h"

#include <sstream>

#include "engine/core/parallel.h"
#include "engine/cpu/blas.h"
#include "fovea_config.h"

#ifdef FOVEA_HAS_CUDA
namespace fovea::cuda {
bool device_available(std::string* why);
std::string device_name();
void register_backend();
}  // namespace fovea::cuda
#endif

namespace fovea {

void ensure_backends_registered() {
#ifdef FOVEA_HAS_CUDA
  static const bool registered = [] {
    cuda::register_backend();
    return true;
  }();
  (void)registered;
#endif
}

bool cuda_compiled() {
#ifdef FOVEA_HAS_CUDA
  return true;
#else
  return false;
#endif
}

bool cuda_available(std::string* why) {
#ifdef FOVEA_HAS_CUDA
  return cuda::device_available(why);
#else
  if (why) *why = "fovea was built without CUDA (FOVEA_CUDA=OFF or no nvcc found)";
  return false;
#endif
}

std::string build_info() {
  std::ostringstream os;
  os << "fovea " << FOVEA_VERSION << " (" << FOVEA_BUILD_TYPE << ", " << FOVEA_CXX_COMPILER
     << ", " << FOVEA_CPU_TARGET << " CPU code)\n";
  os << "  BLAS:   " << blas::describe() << "\n";
  os << "  OpenMP: " << get_num_threads() << " threads\n";
  std::string why;
  const bool gpu = cuda_available(&why);
#ifdef FOVEA_HAS_CUDA
  os << "  CUDA:   compiled (" << FOVEA_CUDA_VERSION << "); "
     << (gpu ? "device " + cuda::device_name() : "no device: " + why) << "\n";
#else
  (void)gpu;
  os << "  CUDA:   not compiled\n";
#endif
  return os.str();
}

}  // namespace fovea
