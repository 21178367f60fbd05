// Element types. Float32 trains; Float64 exists so gradient checks on the CPU are exact;
// Int64 holds indices and labels (argmax results, class targets) and never carries gradients.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/core/error.h"

namespace fovea {

enum class DType : uint8_t { Float32, Float64, Int64 };

constexpr size_t dtype_size(DType t) { return t == DType::Float32 ? 4 : 8; }

constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
  }
  return "?";
}

constexpr bool is_floating(DType t) { return t != DType::Int64; }

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::Int64; }

inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

}  // namespace fovea

// Runs the block once with `scalar_t` bound to the C++ type of a floating dtype; any other
// dtype is an error that names the op. The block is the trailing lambda body:
//   FOVEA_DISPATCH_FLOAT(x.dtype(), "softmax", [&] { softmax_rows<scalar_t>(...); });
#define FOVEA_DISPATCH_FLOAT(dtype, opname, ...)                                        \
  [&] {                                                                                 \
    switch (dtype) {                                                                    \
      case ::fovea::DType::Float32: { using scalar_t = float; return __VA_ARGS__(); }    \
      case ::fovea::DType::Float64: { using scalar_t = double; return __VA_ARGS__(); }   \
      default:                                                                          \
        FOVEA_FAIL(opname, ": expected a float32 or float64 tensor, got ", ::fovea::dtype_name(dtype)); \
    }                                                                                   \
  }()

// The same, admitting int64 too (copies, gathers, comparisons).
#define FOVEA_DISPATCH_ALL(dtype, opname, ...)                                          \
  [&] {                                                                                 \
    switch (dtype) {                                                                    \
      case ::fovea::DType::Float32: { using scalar_t = float; return __VA_ARGS__(); }    \
      case ::fovea::DType::Float64: { using scalar_t = double; return __VA_ARGS__(); }   \
      case ::fovea::DType::Int64: { using scalar_t = int64_t; return __VA_ARGS__(); }    \
    }                                                                                   \
    FOVEA_FAIL(opname, ": unknown dtype");                                              \
  }()
