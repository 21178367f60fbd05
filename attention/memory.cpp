#include "attention/memory.h"

#include <cstdio>

#include "engine/core/cpu_allocator.h"
#include "engine/core/error.h"
#include "engine/core/storage.h"

namespace fovea::attention {

size_t matrix_bytes(const Shape& shape, DType dtype) {
  size_t bytes = dtype_size(dtype);
  for (int64_t d : shape) {
    const size_t n = size_t(d);
    bytes = n != 0 && bytes > SIZE_MAX / n ? SIZE_MAX : bytes * n;  // saturates, never wraps
  }
  return bytes;
}

std::string byte_string(size_t bytes) {
  char text[40];
  if (bytes >= (size_t(1) << 30))
    std::snprintf(text, sizeof text, "%.2f GiB", double(bytes) / double(size_t(1) << 30));
  else if (bytes >= (size_t(1) << 20))
    std::snprintf(text, sizeof text, "%.2f MiB", double(bytes) / double(size_t(1) << 20));
  else
    std::snprintf(text, sizeof text, "%zu B", bytes);
  return text;
}

void check_bytes_fit(const std::string& module, const std::string& what, size_t need,
                     Device device) {
  const size_t available = available_memory(device);
  if (need <= available) return;
  throw OutOfMemoryError(detail::cat_message(module, ": ", what, " needs ", byte_string(need),
                                             ", more than the ", byte_string(available),
                                             " available on ", device.str(),
                                             "; use a smaller input or batch"));
}

void check_matrix_fits(const std::string& module, const std::string& what, const Shape& shape,
                       DType dtype, Device device, int live, const std::string& live_why) {
  FOVEA_CHECK(live >= 1, module, ": ", live, " live copies of the ", what, " (must be >= 1)");
  const size_t one = matrix_bytes(shape, dtype);
  const size_t need = one > SIZE_MAX / size_t(live) ? SIZE_MAX : one * size_t(live);
  check_bytes_fit(module,
                  detail::cat_message("the ", what, " ", dtype_name(dtype), shape_str(shape),
                                      " (x", live, " live",
                                      live_why.empty() ? "" : ": " + live_why, ")"),
                  need, device);
}

}  // namespace fovea::attention
