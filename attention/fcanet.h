// FcaNet: Multi-Spectral Channel Attention (Qin et al., ICCV 2021; attention-spec §11).
//
//   Xp = X if (H, W) == (dct_h, dct_w), else adaptive_avg_pool2d(X, (dct_h, dct_w))
//                                                           [N, C, dct_h, dct_w]
//   f_c = sum_ij Xp[c, i, j] B_c(i, j)                      [N, C]   B: buffer [C, dct_h, dct_w]
//   a = sigmoid(W2 relu(W1 f))                              [N, C]   W1 [C/r, C], W2 [C, C/r]
//   Y = X * a[:, :, None, None]
// B_c = dct_basis(dct_h, dct_w, u_k, v_k) (engine/core/init.h, orthonormal DCT-II) for the
// frequency k = c / (C / K) (contiguous channel blocks), where (x_k, y_k) are the first K entries
// of the official top / low / bot table on the 7x7 grid, scaled as the official code does:
// u = x (dct_h / 7), v = y (dct_w / 7) (integer division). At (0, 0) f_c = sqrt(HW) GAP(X)_c.
// Backward: autograd through the ops; B is a buffer and gets no gradient.
//
// Names as cfzd/FcaNet model/layer.py: dct_layer.weight (buffer), fc.0.weight, fc.2.weight
// (fc = Linear, ReLU, Linear, Sigmoid, no biases). Init: PyTorch's default for the two Linears.
// Options: reduction (16), freq_sel_method (top16; top|low|bot x 1, 2, 4, 8, 16, 32).
// Constraints (spec §21): C % K == 0 and C // reduction >= 1.
// Map: "channel" = a [N, C].
//
// The DCT size. The official models size the filters as the 224-px feature map of each stage
// (56, 28, 14, 7), so the 7x7 table scales by 8, 4, 2, 1. The slot (fcanet_spec) picks the size
// from the block's H x W with the rule `dct_size` (or takes dct_h / dct_w as given):
//   max7 (default)  dct = max(7, H) x max(7, W): the official sizing on every map of 7 or more,
//                   and small maps (CIFAR's 4x4) are pooled up to 7x7 (adaptive average pooling:
//                   overlapping bins) instead of collapsing
//   reference       dct = H x W, the official arithmetic everywhere: below 7 the scale H / 7 is
//                   0 and every frequency collapses to (0, 0), a sqrt(HW)-scaled SE (spec §11)
//   fixed7          dct = 7 x 7 on every map (adaptive pooling down or up to 7x7)
// When the network does not know its input size (height = width = 0), max7 and reference take
// the official per-stage size 56 / 28 / 14 / 7 (stage 1, 2, 3, 4 and later); the forward pools
// whatever map arrives to the DCT size, as the official forward does.
#pragma once

#include <memory>
#include <string>

#include "layers/attention_slot.h"
#include "layers/sequential.h"

namespace fovea::attention {

struct FcaOptions {
  int64_t reduction = 16;
  std::string freq_sel_method = "top16";
};

class MultiSpectralAttentionLayer : public nn::AttentionModule {
 public:
  MultiSpectralAttentionLayer(int64_t channel, int64_t dct_h, int64_t dct_w,
                              const FcaOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t channel, dct_h, dct_w;
  const FcaOptions options;
  std::shared_ptr<nn::Module> dct_layer;  // holds the buffer "weight" [C, dct_h, dct_w]
  std::shared_ptr<nn::Sequential> fc;

 private:
  Tensor* filters_;  // dct_layer's slot: follows to(dtype / device)
};

// The (x, y) frequency indices of `method` on the 7x7 grid (get_freq_indices); an unknown
// method is an error listing the valid ones.
std::pair<std::vector<int64_t>, std::vector<int64_t>> fca_frequencies(const std::string& method);

// "fca" in the slot (attention/register.h).
nn::AttentionSpec fcanet_spec();

}  // namespace fovea::attention
