// FOVEA_HD marks small math helpers (the element-wise functors) that both the CPU kernels and
// the CUDA kernels call, so the formula for each op is written exactly once.
#pragma once

#if defined(__CUDACC__)
#define FOVEA_HD __host__ __device__ __forceinline__
#else
#define FOVEA_HD inline
#endif
