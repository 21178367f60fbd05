// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
// counter-based generator. The 128 bits for counter c under key k are a pure function of
// (c, k), so element i of a random tensor can be computed by whichever thread owns it, on the
// CPU or on a GPU, and both give the same bits. fovea draws one 64-bit key per random op from
// the sequential Generator (engine/core/random.h) and gives element i the 32-bit word i % 4 of
// the block at counter i / 4. Checked against Random123's known-answer vectors
// (tests/cpu/test_philox.cpp). C++17, FOVEA_HD, no intrinsics.
#pragma once

#include <cstdint>

#include "engine/core/hostdevice.h"

namespace fovea::philox {

struct Block {
  uint32_t v[4];
};

FOVEA_HD Block philox4x32_10(Block c, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(kM0) * c.v[0], p1 = uint64_t(kM1) * c.v[2];
    const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    const uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    c = Block{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return c;
}

// The 32 random bits of element i under `key`.
FOVEA_HD uint32_t bits(uint64_t key, uint64_t i) {
  const uint64_t block = i / 4;
  const Block r = philox4x32_10(Block{{uint32_t(block), uint32_t(block >> 32), 0u, 0u}},
                                uint32_t(key), uint32_t(key >> 32));
  return r.v[i % 4];
}

// dropout drops an element when its bits fall below floor(p 2^32): exactly representable, so
// the comparison is the same on every device. p >= 1 drops everything (the mask is 0 anyway).
inline uint64_t drop_threshold(double p) {
  return p >= 1 ? (uint64_t(1) << 32) : uint64_t(p * 4294967296.0);
}

// What a kept element is multiplied by: 1 / (1 - p), and 0 when everything is dropped.
FOVEA_HD double keep_scale(double p) { return p < 1 ? 1.0 / (1.0 - p) : 0.0; }

}  // namespace fovea::philox
