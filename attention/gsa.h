// GSA: the Global Self-Attention module (Shen, Bello, Vemulapalli, Jia, Chen, "Global
// Self-Attention Networks for Image Recognition", arXiv 2010.03019, 2020; attention-spec §14).
// The authors released no code; the reference is lucidrains/global-self-attention-network
// (gsa_pytorch.py, the version with 2L - 1 relative offsets and the batch_norm flag), written
// from the paper's Appendix B. It REPLACES the block's 3x3 conv (like SK), so it maps
// [N, dim, H, W] -> [N, dim_out, H', W'], H' = ceil(H / stride).
//
// Forward. h = heads, d = dim_key, n = N h (heads folded into the batch), m = position x W + y:
//   q, k, v = chunk(to_qkv(X), 3)      to_qkv: 1x1 conv dim -> 3 h d, no bias; each
//                                      [N, h d, H, W] read as [N, h, d, HW] (channel = head d + c)
//   Content attention (linear in HW):
//     K  = softmax of k over HW               per key channel                 [n, d, HW]
//     C  = K V^T                              the d x d context               [n, d, d]
//     Oc = C^T Q,  Oc[e, m] = sum_c C[c, e] Q[c, m]                           [n, d, HW]
//     Q = q, or softmax of q over d when norm_queries (the content branch only; the positional
//     branch always takes the raw q, as the reference).
//   Positional attention (rel_pos_length L > 0): axial, relative, no softmax. An embedding
//   table r (2L - 1 rows of d) gives P[x, i, :] = r[i - x + L - 1] for |i - x| <= L - 1 and 0
//   beyond (offsets past the relative length are masked: L < max(H, W) attends locally).
//     height pass  Sx[i, x, y] = q[:, x, y] . Prow[x, i]        rel_rows      [n, H, H, W]
//                  Yh[e, x, y] = sum_i Sx[i, x, y] v[e, i, y]
//                  Yh = BN(Yh), a BatchNorm2d(d) over (n, H, W) (batch_norm; the batch axis
//                  holds batch x heads)
//     width pass   Sy[i, x, y] = q[:, x, y] . Pcol[y, i]        rel_columns   [n, W, H, W]
//                  Op[e, x, y] = sum_i Sy[i, x, y] Yh[e, x, i]  (consumes the height pass)
//   Y = to_out(Oc + Op)                    to_out: 1x1 conv h d -> dim_out, with bias
//   Stride s > 1 (a downsampling block): Y = avg_pool(Y, s x s, stride s, ceil_mode), whose
//   partial edge windows average their real taps, so H' = ceil(H / s) like the conv it replaces
//   and the shortcut. GSA itself has no stride; the paper builds GSA-ResNet after Stand-Alone
//   Self-Attention (Ramachandran et al., NeurIPS 2019, §4.1: "a 2 x 2 average pooling with
//   stride 2 operation follows the attention layer whenever spatial downsampling is required").
//   The cost is O(HW (H + W) d) per head; the memory of the positional scores is n H W (H + W).
//
// Backward (autograd through the ops): the matmuls give dA = g B^T, dB = A^T g; the softmax
// over HW gives dk = K (dK - sum_HW dK K); the embedding gather (index_select of r padded with a
// zero row) scatter-adds dP into the rows of r it read, so an offset used by several (x, i)
// pairs sums their gradients and the masked offsets send nothing; BN and the convs their own.
//
// Names (the reference's state_dict): rel_rows [2L - 1, d], rel_columns [2L - 1, d] (absent
// without the positional branch), to_qkv.weight [3 h d, dim, 1, 1], to_out.{weight, bias},
// norm.* (BatchNorm2d(d); only with the positional branch and batch_norm).
// Options (lucidrains' defaults): heads 8, dim_key 64, rel_pos_length 0 (the reference's None:
// no positional branch; "global" or -1 in the slot: L = max(H, W) of the tensor the module
// sees, the paper's choice, which needs the network's input size), norm_queries false,
// batch_norm true. dim_out is the replaced conv's out_channels.
// Init: PyTorch's default for both convs, rel_rows and rel_columns N(0, 1), BN 1 / 0 (m 0.1).
// Maps: "keys" = K [N, h, d, H, W] (a spatial distribution per key channel), "context" = C
// [N, h, d, d], and with the positional branch "row_scores" = Sx [N, h, H (i), H (x), W (y)],
// "column_scores" = Sy [N, h, W (i), H (x), W (y)] (the reference's n i x y layout).
// Memory: before anything is allocated the forward refuses (attention/memory.h) a context or
// a positional-score matrix that cannot fit; attention_matrices() gives their bytes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/attention_slot.h"
#include "layers/conv.h"
#include "layers/norm.h"

namespace fovea::attention {

struct GSAOptions {
  int64_t heads = 8;
  int64_t dim_key = 64;
  int64_t rel_pos_length = 0;  // L; 0: no positional branch
  bool norm_queries = false;
  bool batch_norm = true;
};

// One quadratic intermediate of a forward: what it is, its shape and its bytes in one dtype.
struct GSAMatrix {
  std::string what;
  Shape shape;
  size_t bytes = 0;
};

class GSA : public nn::AttentionModule {
 public:
  // dim_out 0: dim. stride: the replaced conv's (average pooling after the module).
  GSA(int64_t dim, int64_t dim_out = 0, int64_t stride = 1, const GSAOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  // The d x d context and, with the positional branch, the row and column scores of a forward
  // on [batch, dim, height, width] in `dtype` (each once; the forward checks them with the
  // copies that are alive together).
  std::vector<GSAMatrix> attention_matrices(int64_t batch, int64_t height, int64_t width,
                                            DType dtype) const;

  const int64_t dim, dim_out, stride;
  const GSAOptions options;
  Tensor& rel_rows;     // [2L - 1, d]; undefined without the positional branch
  Tensor& rel_columns;  // [2L - 1, d]
  std::shared_ptr<nn::Conv2d> to_qkv, to_out;
  std::shared_ptr<nn::BatchNorm2d> norm;  // null without the positional branch or batch_norm

 private:
  // P [l, l, d]: P[x, i] = rel[i - x + L - 1], 0 where |i - x| > L - 1.
  Tensor relative_embeddings(const Tensor& rel, int64_t l) const;
  void check_memory(const Tensor& x) const;
};

// "gsa" in the slot (attention/register.h).
nn::AttentionSpec gsa_spec();

}  // namespace fovea::attention
