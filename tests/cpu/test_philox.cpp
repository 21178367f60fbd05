// Philox4x32-10 (engine/kernels/philox.h) against Random123's known-answer vectors
// (tests/kat_vectors of github.com/DEShawResearch/random123: counter, key, result).
#include <doctest/doctest.h>

#include "engine/kernels/philox.h"

using fovea::philox::Block;

TEST_CASE("philox4x32-10 matches Random123's known-answer vectors") {
  struct Kat {
    Block counter;
    uint32_t k0, k1;
    Block want;
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, 0xffffffff, 0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, 0xa4093822, 0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}}};
  for (const Kat& k : kats) {
    const Block got = fovea::philox::philox4x32_10(k.counter, k.k0, k.k1);
    for (int w = 0; w < 4; ++w) CHECK(got.v[w] == k.want.v[w]);
  }
  // Element i is word i % 4 of the block at counter i / 4 (low word first).
  const Block b5 = fovea::philox::philox4x32_10(Block{{1, 0, 0, 0}}, 7, 0);
  CHECK(fovea::philox::bits(7, 5) == b5.v[1]);
  CHECK(fovea::philox::drop_threshold(0.5) == (uint64_t(1) << 31));
  CHECK(fovea::philox::drop_threshold(0.0) == 0);
  CHECK(fovea::philox::drop_threshold(1.0) == (uint64_t(1) << 32));
}
