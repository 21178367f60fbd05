// CPU kernels of the index ops (ops/index.h). index_select and index_add have no kernels of
// their own: the op views their 1-D index as a full index tensor (size k along the dim,
// stride 0 elsewhere) and runs gather / scatter_add.
//   index_bounds: throws "<op>: index v at position [..] is out of range for dim d of size n"
//                 for the first value (row-major) of `index` outside [0, size). The op calls it
//                 before gather / scatter_add, which then trust every index value.
//   gather:       out[p] = x[p with coordinate dim replaced by index[p]], p over index's shape
//                 (out has that shape; index may be expanded, x may be larger off `dim`)
//   scatter_add:  out[p with coordinate dim replaced by index[p]] += src[p], p over index's
//                 shape; out is contiguous and already holds the base values
#pragma once

#include "engine/core/dispatch.h"
#include "engine/core/tensor.h"

namespace fovea {

void index_bounds_cpu(const Tensor& index, int64_t size, int64_t dim, const char* op);
// index_bounds' error, shared with the CUDA twin (cuda/index.cu).
[[noreturn]] void fail_index_bounds(const char* op, int64_t value, const Shape& position,
                                    int64_t dim, int64_t size);
void gather_cpu(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index);
void scatter_add_cpu(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);

extern KernelSlot<void(const Tensor&, int64_t, int64_t, const char*)> index_bounds_kernel;
extern KernelSlot<void(const Tensor&, const Tensor&, int64_t, const Tensor&)> gather_kernel;
extern KernelSlot<void(const Tensor&, int64_t, const Tensor&, const Tensor&)> scatter_add_kernel;

}  // namespace fovea
