// kcompat.cuh -- the only CUDA-facing header a kernel file includes, and the last one it
// includes (cuda/emu/cuemu.h defines __device__, __shared__, ... as macros).
//
// The same .cu text builds two ways (cuda/README.md): nvcc sees the real CUDA runtime and the
// kernels land in fovea::cuda; the host C++ compiler sees the CPU emulator and the same kernels
// land in fovea::cuda_emu, with the emulator's API (fovea::cuemu) in scope. Both can link into
// one binary. Kernel code uses only what is defined identically for both below:
//
//   FOVEA_CUDA_BEGIN ... FOVEA_CUDA_END   the build's namespace; FOVEA_CUDA_NS names it
//   FOVEA_CUDA_EMULATED                    1 under the emulator, 0 under nvcc
//   KLAUNCH(grid, block, smem, stream, kernel)(args...)   instead of kernel<<<...>>>(args...)
//   BLOCK_SHARED(name, T)                  __shared__ T name, fresh and poisoned per block when
//                                          emulated; T may be an array type: float[256]
//   DYNAMIC_SHARED(name, T)                T* name = the launch's dynamic shared memory
//   GRID_STRIDE_LOOP(i, n)                 for each i in [0, n) this thread owns (64-bit i)
//   fovea::kFullMask                       every lane of a warp, for the *_sync intrinsics
#pragma once

#include <cstdint>

#if defined(__CUDACC__)

#include <cuda_runtime.h>

#define FOVEA_CUDA_EMULATED 0
#define FOVEA_CUDA_NS cuda
#define FOVEA_CUDA_BEGIN \
  namespace fovea {      \
  namespace cuda {
#define FOVEA_CUDA_END \
  }                    \
  }

// The kernel comes last, so template arguments with commas need no parentheses.
#define KLAUNCH(grid, block, smem, stream, ...) \
  __VA_ARGS__<<<(grid), (block), (smem), (stream)>>>

namespace fovea {
namespace kcompat {
// Lets BLOCK_SHARED take an array type: `__shared__ identity_t<float[8]> x` is `float x[8]`.
template <class T>
using identity_t = T;
}  // namespace kcompat
}  // namespace fovea
#define BLOCK_SHARED(name, ...) __shared__ ::fovea::kcompat::identity_t<__VA_ARGS__> name
// One extern array for every kernel, 16-byte aligned: the emulator guarantees the same.
#define DYNAMIC_SHARED(name, T)                                           \
  extern __shared__ __align__(16) unsigned char fovea_kc_dynamic_smem_[]; \
  T* name = reinterpret_cast<T*>(fovea_kc_dynamic_smem_)

#else  // the CPU emulator

#include "cuda/emu/cuemu.h"

#define FOVEA_CUDA_EMULATED 1
#define FOVEA_CUDA_NS cuda_emu
#define FOVEA_CUDA_BEGIN \
  namespace fovea {      \
  namespace cuda_emu {   \
  using namespace ::fovea::cuemu;
#define FOVEA_CUDA_END \
  }                    \
  }

// The stream is evaluated (it may be a call) and ignored: the emulator runs the launch now.
#define KLAUNCH(grid, block, smem, stream, ...)                                          \
  ((void)(stream), ::fovea::cuemu::impl::make_launch(__VA_ARGS__, (grid), (block), (smem), \
                                                      #__VA_ARGS__))
// Storage from the block's arena, filled with 0xFF (NaN, -1) at every block start, so a read
// of shared memory that no thread wrote shows up in the results; plain `static` storage would
// hand the next block the previous block's values.
#define BLOCK_SHARED(name, ...)                                                   \
  static thread_local ::fovea::cuemu::impl::SharedKey fovea_kc_key_##name;        \
  auto& name = *::fovea::cuemu::impl::block_shared<__VA_ARGS__>(&fovea_kc_key_##name, #name)
#define DYNAMIC_SHARED(name, T) T* name = static_cast<T*>(::fovea::cuemu::impl::dynamic_smem())

#endif

#define GRID_STRIDE_LOOP(i, n)                                                          \
  for (::std::int64_t i = ::std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;        \
       i < ::std::int64_t(n); i += ::std::int64_t(blockDim.x) * gridDim.x)

namespace fovea {
inline constexpr unsigned kFullMask = 0xffffffffu;
}  // namespace fovea
