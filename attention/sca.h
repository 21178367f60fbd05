// SCA-CNN: spatial and channel-wise attention conditioned on a context vector (Chen et al.,
// "SCA-CNN: Spatial and Channel-wise Attention in Convolutional Networks for Image Captioning",
// CVPR 2017; attention-spec §19; official Theano code zjuchenlong/sca-cnn.cvpr17
// sca_resnet_branch2b.py, lstm_cond_layer._step). V [N, C, H, W] is attended under a context
// h [N, d] (the captioner's LSTM state h_{t-1}; d = context_dim), hidden width k:
//
//   channel(V, h):  vbar = mean_hw V                                    [N, C]
//                   B    = tanh(vbar[:, :, None] w_c + b_c + (h W_hc)[:, None, :])    [N, C, k]
//                   beta = softmax over C of (B u_c + c_c)              [N, C]
//   spatial(V, h):  A    = tanh(V_flat^T W_s + b_s + (h W_hs)[:, None, :])   [N, HW, k]
//                          (V_flat = V.view(N, C, HW); computed as W_s^T V_flat, [N, k, HW])
//                   alpha = softmax over HW of (A u_s + c_s)            [N, HW]
//   order cs (C-S, the paper's and official order):
//                   beta = channel(V, h),   alpha = spatial(V * beta * s_c, h)
//   order sc (S-C, the paper's ablation: spatial first on V, channel on the weighted map):
//                   alpha = spatial(V, h),  beta = channel(V * alpha * s_s, h)
//   Y = V * beta[:, :, None, None] * alpha.view(N, 1, H, W) * s_c s_s              [N, C, H, W]
//
// rescale (default true, the official code): s_c = C undoes the channel softmax's 1/C scale and
// s_s = HW the spatial one's 1/HW; false: s_c = s_s = 1. Where the official code multiplies
// (first attended layer, res5c_branch2b, C-S): the channel-weighted map that feeds the spatial
// attention is V * beta * 512 (= C), and the output is V * alpha * beta * 49 * 512 (= HW C).
// The same for S-C: the spatially weighted map that feeds the channel attention is V * alpha * HW
// (so its vbar is the alpha-weighted sum of V over positions), the output again times HW C.
// At uniform weights (beta = 1/C, alpha = 1/HW) Y = V.
// Both layers use A u_s + c_s (the official second layer adds c_s to u_s inside the dot: spec §19
// quirk, not copied).
//
// Backward (autograd through the ops): a softmax p = softmax(z) gives dz = p (g - sum(g p))
// over its axis, a tanh T of pre-activation P gives dP = dT (1 - T^2); then
//   dW_s = sum_n V'_flat dP_s^T, dW_hs = h^T sum_hw dP_s, du_s = sum T_s^T dz_s (so for the
//   channel side: dw_c = sum vbar dP_c, dW_hc = h^T sum_c dP_c, du_c = sum T_c^T dz_c);
//   dc_c = sum dz_c = 0 and dc_s = 0 exactly (a softmax ignores a shift of all its logits);
//   dh = (sum_c dP_c) W_hc^T + (sum_hw dP_s) W_hs^T, then summed over N into "query" (learned)
//   or back through query_proj and the GAP (pooled);
//   dV = dY beta alpha s_c s_s + the paths into the two attentions: the spatial one through
//   W_s dP_s, the channel one through dvbar / HW broadcast, each times the other weight (and its
//   scale) where the weighted map feeds it.
//
// The context. attend(x, context) takes h from outside (the captioner's; attention_probe's
// "context"): [N, context_dim], checked against x's batch. forward(x), as a network calls it,
// makes its own by `query`:
//   learned  h = the parameter "query" [1, context_dim] broadcast over N, init N(0, 1): the scale
//            of an LSTM state, and a 0.01 query against 0.01 weights W_hc / W_hs would start the
//            query's and W_hc's gradients at 1e-2 of the others (the product sits near a saddle)
//   pooled   h = query_proj(mean_hw x), query_proj = Linear(C, context_dim) with bias, PyTorch's
//            default init (the official decoder's initial state is tanh(ff(mean ctx)); here the
//            projection alone, spec §19 "GAP(V) projected")
//   given    no query: forward(x) is an error, only attend(x, context) runs (the captioning
//            setting; the spec's parameters alone). attention_probe then requires "context";
//            learned / pooled run on "input" alone (needs_context() false).
//
// Reference names (spec §19 table): w_c [1, k], b_c [k], W_hc [d, k], u_c [k, 1], c_c [1],
// W_s [C, k], b_s [k], W_hs [d, k], u_s [k, 1], c_s [1]; query [1, d] (learned);
// query_proj.weight [d, C], query_proj.bias [d] (pooled).
// Init: the official utils/util.py norm_weight for every weight: orthogonal (gain 1, not scaled
// by 0.01) when square, else N(0, 0.01^2); square happens for W_hc and W_hs when d = k and for W_s
// when C = k (the official norm_weight calls all default to ortho=True, so W_hs is orthogonal
// when square too, which the spec's table leaves out); biases b_c, c_c, b_s, c_s = 0.
// Options: order (cs | sc), k (512, the official hard-coded width), context_dim (1000, the
// official LSTM's units, train(dim=1000)), query (learned | pooled | given), rescale (true).
// Maps: "channel" = beta [N, C], "spatial" = alpha [N, 1, H, W].
// Memory: the spatial logits hold [N, k, HW] (linear in HW, no HW x HW matrix).
// No train / eval difference.
#pragma once

#include <memory>
#include <string>

#include "layers/attention_slot.h"
#include "layers/linear.h"

namespace fovea::attention {

struct SCAOptions {
  std::string order = "cs";  // cs | sc
  int64_t k = 512;
  int64_t context_dim = 1000;
  std::string query = "learned";  // learned | pooled | given
  bool rescale = true;
};

class SCA : public nn::ContextModule {
 public:
  SCA(int64_t channels, const SCAOptions& options = {});
  Tensor forward(const Tensor& x) override;  // h from `query`
  Tensor attend(const Tensor& x, const Tensor& context) override;
  int64_t context_dim() const override { return options.context_dim; }
  bool needs_context() const override { return options.query == "given"; }
  std::string extra_repr() const override;

  const int64_t channels;
  const SCAOptions options;
  Tensor &w_c, &b_c, &W_hc, &u_c, &c_c;  // channel attention
  Tensor &W_s, &b_s, &W_hs, &u_s, &c_s;  // spatial attention
  Tensor& query;                          // [1, d]; absent unless query=learned
  std::shared_ptr<nn::Linear> query_proj;  // null unless query=pooled

 private:
  Tensor channel_weights(const Tensor& v, const Tensor& h) const;  // beta [N, C]
  Tensor spatial_weights(const Tensor& v, const Tensor& h) const;  // alpha [N, HW]
};

// "sca" in the slot (attention/register.h).
nn::AttentionSpec sca_spec();

}  // namespace fovea::attention
