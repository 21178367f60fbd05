// IDX files (the MNIST format) for tests: header + big-endian dims + raw bytes.
#pragma once

#include <cstdint>
#include <vector>

namespace fovea::test {

inline std::vector<uint8_t> idx_bytes(uint8_t type, const std::vector<uint32_t>& dims,
                                      const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out{0, 0, type, uint8_t(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(uint8_t(d >> shift));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

}  // namespace fovea::test
