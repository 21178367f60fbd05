// The memory of attention matrices. SAGAN, MHSA and GSA hold matrices that grow with the square
// of the positions (an [N, HW, HW] score matrix, its softmax and, in training, their gradients):
// 64x64 inputs give 4096 x 4096 entries per sample and head. A module asks here before it builds
// one, so a size that cannot fit is refused with an error naming the module, the matrix and the
// bytes, before anything is allocated (not a crash, not the OOM killer).
#pragma once

#include <cstddef>
#include <string>

#include "engine/core/device.h"
#include "engine/core/dtype.h"
#include "engine/core/shape.h"

namespace fovea::attention {

// Bytes of one tensor of `shape` in `dtype`.
size_t matrix_bytes(const Shape& shape, DType dtype);

// "1.50 GiB", "64.00 MiB", "512 B".
std::string byte_string(size_t bytes);

// Throws OutOfMemoryError ("SAGAN: the attention matrix float32[8, 4096, 4096] (x3 live in
// training: scores, softmax, gradient) needs 1.50 GiB, more than the 1.20 GiB available on cpu;
// use a smaller input or batch") unless `live` tensors of `shape` fit in what `device` has
// available now (engine/core/storage.h: available_memory).
void check_matrix_fits(const std::string& module, const std::string& what, const Shape& shape,
                       DType dtype, Device device, int live, const std::string& live_why);

// The same for `need` bytes a module counted itself (several matrices alive together):
// "<module>: <what> needs 96.00 MiB, more than ...".
void check_bytes_fit(const std::string& module, const std::string& what, size_t need,
                     Device device);

}  // namespace fovea::attention
