// Counting the work of the ops that actually run. While a MacCounter lives on a thread, every
// forward op of the kinds below on that thread adds to it: a model's count is then what its
// forward executed, attention matmuls, softmaxes and poolings included, data-dependent paths
// too, not what each layer declares. Backward passes call the kernels directly and are not
// counted. Counters nest: each one alive sees every op. Three kinds, kept apart because they
// cost differently and the tools that count PyTorch models (fvcore, ptflops, thop) disagree on
// the last two:
//
//   macs (multiply-accumulates):
//     matmul [..., m, k] x [..., k, n]: batch * m * n * k
//     linear [..., in] -> [..., out]:   rows * out * in
//     conv   -> [N, Cout, OH, OW]:      N * Cout * OH * OW * (Cin / groups) * KH * KW
//   softmax_elements: softmax and log_softmax: the input's elements (each an exp, an add to its
//     row's sum and a divide; the max subtracted first is not counted apart)
//   reduce_reads: elements read by poolings and reductions
//     max_pool2d / avg_pool2d:      output elements * KH * KW (every tap, padding included)
//     adaptive_{avg,max}_pool2d:    N * C * (sum of the bins' heights) * (sum of their widths)
//     sum, mean, amax, amin, max, min, argmax, argmin, var, stddev, logsumexp, norm: the
//     input's elements
#pragma once

#include <cstdint>

namespace fovea {

struct OpCounts {
  int64_t macs = 0;
  int64_t softmax_elements = 0;
  int64_t reduce_reads = 0;
  OpCounts& operator+=(const OpCounts& o) {
    macs += o.macs, softmax_elements += o.softmax_elements, reduce_reads += o.reduce_reads;
    return *this;
  }
};

class MacCounter {
 public:
  MacCounter();
  ~MacCounter();
  MacCounter(const MacCounter&) = delete;
  MacCounter& operator=(const MacCounter&) = delete;
  int64_t macs() const { return counts_.macs; }
  const OpCounts& counts() const { return counts_; }

 private:
  friend void count_ops(const OpCounts& work);
  OpCounts counts_;
  MacCounter* outer_;
};

// Adds `work` to every counter alive on this thread (the ops call it; one branch when none).
void count_ops(const OpCounts& work);
inline void count_macs(int64_t macs) { count_ops({macs, 0, 0}); }
inline void count_softmax(int64_t elements) { count_ops({0, elements, 0}); }
inline void count_reduce_reads(int64_t reads) { count_ops({0, 0, reads}); }

}  // namespace fovea
