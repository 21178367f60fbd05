// Counting the work of the ops that actually run. While a MacCounter lives on a thread, every
// forward op of the kinds below on that thread adds to it: a model's count is then what its
// forward executed, attention matmuls, softmaxes and poolings included, data-dependent paths
// too, not what each layer declares. Backward passes are not counted: the autograd engine
// pauses counting while it runs (OpCountPause), since a node may call a counted op (the
// gradient of a broadcast is a sum). Counters nest: each one alive sees every op. Three kinds,
// kept apart because they cost differently and the tools that count PyTorch models (fvcore,
// ptflops, thop) disagree on the last two:
//
//   macs (multiply-accumulates):
//     matmul [..., m, k] x [..., k, n]: batch * m * n * k
//     linear [..., in] -> [..., out]:   rows * out * in
//     conv   -> [N, Cout, OH, OW]:      N * Cout * OH * OW * (Cin / groups) * KH * KW
//   softmax_elements: the input's elements of softmax and log_softmax (per element an exp, an
//     add to its row's sum, and a divide, or for log_softmax a subtract of the row's log-sum;
//     the row's max, subtracted first, is not counted apart), and cross_entropy's fused
//     log-softmax over its [M, K] logits
//   reduce_reads: elements read by poolings and reductions
//     max_pool2d / avg_pool2d:      output elements * KH * KW (every tap of every window,
//                                   padding and ceil_mode's overhang included)
//     adaptive_{avg,max}_pool2d:    N * C * (sum of the bins' heights) * (sum of their widths)
//     sum, mean, amax, amin, max, min, argmax, argmin, var, stddev, logsumexp, norm: the
//     input's elements; cross_entropy and nll_loss: their M losses when reduced
// Not counted: element-wise ops, copies and views, and the batch / group / layer norm kernels.
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

// Adds `work` to every counter alive on this thread (the ops call it; one branch when none),
// unless an OpCountPause lives on this thread.
void count_ops(const OpCounts& work);
inline void count_macs(int64_t macs) { count_ops({macs, 0, 0}); }
inline void count_softmax(int64_t elements) { count_ops({0, elements, 0}); }
inline void count_reduce_reads(int64_t reads) { count_ops({0, 0, reads}); }

// While one lives on this thread, ops add nothing to any counter (the autograd engine holds one
// over every backward pass). Pauses nest.
class OpCountPause {
 public:
  OpCountPause();
  ~OpCountPause();
  OpCountPause(const OpCountPause&) = delete;
  OpCountPause& operator=(const OpCountPause&) = delete;

 private:
  bool previous_;
};

}  // namespace fovea
