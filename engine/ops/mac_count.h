// Counting the multiply-accumulates (MACs) of the ops that actually run. While a MacCounter lives
// on a thread, every forward matmul (batched ones included), linear and convolution on that
// thread adds its MACs to it: a model's count is then what its forward executed, attention
// matmuls and data-dependent paths included, not what each layer declares. Backward passes call
// the kernels directly and are not counted. Counters nest: each one alive sees every op.
//
//   matmul [..., m, k] x [..., k, n]: batch * m * n * k
//   linear [..., in] -> [..., out]:   rows * out * in
//   conv   -> [N, Cout, OH, OW]:      N * Cout * OH * OW * (Cin / groups) * KH * KW
#pragma once

#include <cstdint>

namespace fovea {

class MacCounter {
 public:
  MacCounter();
  ~MacCounter();
  MacCounter(const MacCounter&) = delete;
  MacCounter& operator=(const MacCounter&) = delete;
  int64_t macs() const { return macs_; }

 private:
  friend void count_macs(int64_t macs);
  int64_t macs_ = 0;
  MacCounter* outer_;
};

// Adds `macs` to every counter alive on this thread (the ops call it; one branch when none).
void count_macs(int64_t macs);

}  // namespace fovea
