#include "engine/core/build_info.h"

#include "engine/core/cuda_backend.h"

#include <sstream>

#include "engine/core/parallel.h"
#include "engine/cpu/blas.h"
#include "fovea_config.h"

namespace fovea {

bool cuda_compiled() {
#ifdef FOVEA_HAS_CUDA
  return true;
#else
  return false;
#endif
}

bool cuda_available(std::string* why) {
  const CudaBackend* backend = selected_cuda_backend();
  if (backend) return backend->available(why);
  if (why) *why = "fovea was built without CUDA (FOVEA_CUDA=OFF or no nvcc found)";
  return false;
}

std::string build_info() {
  std::ostringstream os;
  os << "fovea " << FOVEA_VERSION << " (" << FOVEA_BUILD_TYPE << ", " << FOVEA_CXX_COMPILER
     << ", " << FOVEA_CPU_TARGET << " CPU code)\n";
  os << "  BLAS:   " << blas::describe() << "\n";
  os << "  OpenMP: " << get_num_threads() << " threads\n";
  std::string why;
  const bool usable = cuda_available(&why);
  const CudaBackend* backend = selected_cuda_backend();
  if (cuda_compiled())
    os << "  CUDA:   compiled (" << FOVEA_CUDA_VERSION << ")";
  else
    os << "  CUDA:   not compiled";
  if (backend)
    os << "; backend " << backend->name << ", "
       << (usable ? "device " + backend->device_name() : "no device: " + why);
  os << "\n";
  return os.str();
}

}  // namespace fovea
