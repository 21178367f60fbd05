// Random numbers: a small, seedable, serialisable generator (xoshiro256**, seeded through
// splitmix64) and tensors filled from it. The same seed gives the same numbers on every
// machine, because the conversions to uniform and normal variates are written here rather than
// left to the standard library's implementation-defined distributions.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "engine/core/tensor.h"

namespace fovea {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) { manual_seed(seed); }
  void manual_seed(uint64_t seed);

  uint64_t next_u64();
  double uniform();                  // [0, 1), 53 random bits
  double normal();                   // N(0, 1), Box-Muller with a cached second value
  int64_t randint(int64_t n);        // uniform in [0, n), unbiased

  // The full state as text (checkpoints keep it so a resumed run draws the same numbers).
  std::string state() const;
  void set_state(const std::string& text);

 private:
  std::array<uint64_t, 4> s_{};
  bool has_spare_ = false;
  double spare_ = 0;
};

// SplitMix64's finaliser: a bijective 64-bit mix, for seeding generators from several numbers.
uint64_t mix64(uint64_t z);

// The process-wide generator used when none is passed.
Generator& default_generator();
void manual_seed(uint64_t seed);

// Fresh tensors: U[0,1) and N(0,1).
Tensor rand(const Shape& shape, DType dtype = DType::Float32, Generator* gen = nullptr);
Tensor randn(const Shape& shape, DType dtype = DType::Float32, Generator* gen = nullptr);
// A random permutation of 0..n-1 (int64), Fisher-Yates.
Tensor randperm(int64_t n, Generator* gen = nullptr);

// In-place fills (no autograd; refused on tensors that need a gradient while recording, so
// initialise parameters under NoGradGuard or before set_requires_grad).
Tensor& uniform_(Tensor& t, double low, double high, Generator* gen = nullptr);
Tensor& normal_(Tensor& t, double mean, double std, Generator* gen = nullptr);

}  // namespace fovea
