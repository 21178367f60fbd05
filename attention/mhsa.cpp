#include "attention/mhsa.h"

#include <cmath>
#include <cstdint>
#include <sstream>

#include "attention/memory.h"
#include "engine/fovea.h"

namespace fovea::attention {

namespace {

constexpr double kLayerNormEps = 1e-6;  // timm's ViT (spec §0.3)
constexpr int64_t kMlpRatio = 4;

// The §21 constraints and the options' ranges, checked before anything is allocated;
// returns head_dim.
int64_t checked_head_dim(int64_t c, int64_t h, int64_t w, const MHSAOptions& o) {
  FOVEA_CHECK(c >= 1 && o.heads >= 1, "MHSA: channels ", c, " and heads ", o.heads,
              " must be >= 1");
  FOVEA_CHECK(c % o.heads == 0, "MHSA: channels ", c, " not divisible by heads=", o.heads,
              " (spec §21: head_dim = channels / heads)");
  FOVEA_CHECK(h >= 0 && w >= 0, "MHSA: height ", h, " and width ", w, " must be >= 0");
  FOVEA_CHECK(!o.pos_embed || (h > 0 && w > 0), "MHSA: pos_embed=true needs the input's H x W ",
              "when the module is built, and it is unknown here (", h, " x ", w,
              "); build the network with its input size");
  FOVEA_CHECK(o.attn_drop >= 0 && o.attn_drop < 1 && o.proj_drop >= 0 && o.proj_drop < 1,
              "MHSA: attn_drop ", o.attn_drop, " and proj_drop ", o.proj_drop,
              " must be in [0, 1)");
  return c / o.heads;
}

// timm's init_weights_vit_timm for a Linear.
void vit_init(nn::Linear& linear) {
  trunc_normal_(linear.weight, 0, 0.02, -2, 2);
  if (linear.bias.defined()) constant_(linear.bias, 0);
}

}  // namespace

// Counted from MHSA::attention and the autograd engine (a node's saved tensors are released
// right after its backward runs; a gradient lives until its consumer has run):
//   forward: S = Q K^T, then P = softmax(S) while S is alive; nothing saves S, so it is freed
//     once P exists. With attention dropout, P, its mask and P' = P * mask. The last forward's
//     recorded map lives until the new P replaces it.
//   backward: O = P V's backward makes dP while P (saved by the softmax) is alive; the
//     softmax's backward then makes dS: P, dP, dS. With dropout, P' V's backward makes dP'
//     while P, the mask and P' are alive; the dropout's backward then makes dP (P' released).
// The peak is the larger of the two.
MHSALive mhsa_live_matrices(bool backward, bool dropout, bool held_map) {
  if (backward && dropout) return {4, "softmax, dropout mask, dropped softmax, its gradient"};
  if (backward) return {3, "softmax kept for backward, its gradient, the scores' gradient"};
  if (dropout) return {3, "softmax, dropout mask, dropped softmax"};
  if (held_map) return {3, "scores, softmax, the last forward's recorded map"};
  return {2, "scores, softmax"};
}

size_t mhsa_attention_bytes(int64_t n, int64_t c, int64_t h, int64_t w, int64_t heads,
                            DType dtype, bool backward) {
  FOVEA_CHECK(n >= 0 && h >= 0 && w >= 0 && heads >= 1 && c >= 1 && c % heads == 0,
              "mhsa_attention_bytes: N ", n, ", C ", c, ", H ", h, ", W ", w, ", heads ", heads,
              " (expected sizes >= 0 and C divisible by heads >= 1)");
  const size_t one = matrix_bytes({n, heads, h * w, h * w}, dtype);
  const size_t live = size_t(mhsa_live_matrices(backward).count);
  return one > SIZE_MAX / live ? SIZE_MAX : one * live;
}

MHSA::MHSA(int64_t c, int64_t h, int64_t w, const MHSAOptions& o)
    : AttentionModule("MHSA"),
      channels(c),
      height(h),
      width(w),
      options(o),
      head_dim(checked_head_dim(c, h, w, o)),
      scale(std::pow(double(head_dim), -0.5)),  // as Python's head_dim ** -0.5
      pos_embed(register_parameter("pos_embed", o.pos_embed ? zeros({1, h * w, c}) : Tensor())) {
  std::shared_ptr<nn::Module> attn;
  if (o.block) {
    norm1 = register_module("norm1", std::make_shared<nn::LayerNorm>(Shape{c}, kLayerNormEps));
    attn = nn::add_group(*this, "attn", "Attention");
  }
  nn::Module& owner = attn ? *attn : *this;  // plain: the Attention itself
  qkv = owner.register_module("qkv", std::make_shared<nn::Linear>(c, 3 * c, o.qkv_bias));
  proj = owner.register_module("proj", std::make_shared<nn::Linear>(c, c));
  if (o.block) {
    norm2 = register_module("norm2", std::make_shared<nn::LayerNorm>(Shape{c}, kLayerNormEps));
    auto mlp_group = nn::add_group(*this, "mlp", "Mlp");
    fc1 = mlp_group->register_module("fc1", std::make_shared<nn::Linear>(c, kMlpRatio * c));
    fc2 = mlp_group->register_module("fc2", std::make_shared<nn::Linear>(kMlpRatio * c, c));
  }

  NoGradGuard no_grad;
  if (pos_embed.defined()) trunc_normal_(pos_embed, 0, 0.02, -2, 2);
  for (const auto& linear : {qkv, proj, fc1, fc2})
    if (linear) vit_init(*linear);
}

Tensor MHSA::attention(const Tensor& t) {
  const int64_t n = t.size(0), l = t.size(1), h = options.heads;
  const Tensor qkv_heads = (*qkv)(t).reshape({n, l, 3, h, head_dim}).permute({2, 0, 3, 1, 4});
  const Tensor q = qkv_heads.select(0, 0) * scale;  // [N, h, L, hd]
  const Tensor k = qkv_heads.select(0, 1), v = qkv_heads.select(0, 2);
  // S is a temporary: freed once P exists (mhsa_live_matrices counts on it).
  Tensor p = softmax(matmul(q, k.transpose(-2, -1)), -1);  // [N, h, L, L]
  record_map("attention", p);
  p = dropout(p, options.attn_drop, is_training());
  const Tensor o = matmul(p, v).transpose(1, 2).reshape({n, l, channels});
  return dropout((*proj)(o), options.proj_drop, is_training());
}

Tensor MHSA::mlp(const Tensor& u) {
  const Tensor hidden = dropout(gelu((*fc1)(u)), options.proj_drop, is_training());
  return dropout((*fc2)(hidden), options.proj_drop, is_training());
}

Tensor MHSA::forward(const Tensor& x) {
  check_input(x, channels);
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3), l = h * w;
  // The same H x W, not only the same L: a 6 x 5 input would read a 5 x 6 embedding's
  // positions on another grid.
  FOVEA_CHECK(!pos_embed.defined() || (h == height && w == width), "MHSA: the input's ", h, " x ",
              w, " = ", l, " tokens do not match the positional embedding's ", height, " x ",
              width, " = ", pos_embed.size(1), " (pos_embed fixes the input size)");
  // Before anything is allocated: refuse attention matrices that cannot fit.
  const MHSALive live = mhsa_live_matrices(GradMode::is_enabled(),
                                           options.attn_drop > 0 && is_training(),
                                           recording() && !maps().empty());
  check_matrix_fits("MHSA", "attention matrix", {n, options.heads, l, l}, x.dtype(), x.device(),
                    live.count, live.why);

  Tensor t = x.flatten(2).transpose(1, 2);  // [N, L, C], row-major H then W
  if (pos_embed.defined()) t = t + pos_embed;
  if (options.block) {
    t = t + attention((*norm1)(t));
    t = t + mlp((*norm2)(t));
  } else {
    t = attention(t);
  }
  return t.transpose(1, 2).reshape({n, channels, h, w});
}

std::string MHSA::extra_repr() const {
  std::ostringstream os;
  os << "channels=" << channels << ", heads=" << options.heads << ", head_dim=" << head_dim
     << ", qkv_bias=" << nn::py_bool(options.qkv_bias)
     << ", form=" << (options.block ? "block" : "plain")
     << ", pos_embed=" << nn::py_bool(options.pos_embed);
  if (options.pos_embed) os << " (" << height << " x " << width << ")";
  os << ", attn_drop=" << options.attn_drop << ", proj_drop=" << options.proj_drop;
  return os.str();
}

nn::AttentionSpec mhsa_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "mhsa";
  s.help = "multi-head self-attention over the H*W positions, ViT style (spec §18)";
  s.options = {
      {"heads", "8", "attention heads; channels must be divisible by heads"},
      {"qkv_bias", "false", "bias in the qkv projection (true: the ViT models' default)"},
      {"form", "plain",
       "plain: Y = proj(attention(tokens)); block: a pre-norm ViT block (LayerNorm, attention, "
       "LayerNorm, MLP 4x, residuals)"},
      {"pos_embed", "false",
       "a learned [1, H*W, C] positional embedding added to the tokens first (needs the input "
       "size when built)"},
      {"attn_drop", "0", "dropout on the attention probabilities in training"},
      {"proj_drop", "0",
       "dropout after the output projection (block: and in the MLP) in training"}};
  s.make = [](const nn::AttentionContext& c) {
    MHSAOptions o;
    o.heads = c.options.integer("heads");
    o.qkv_bias = c.options.flag("qkv_bias");
    o.block = c.options.choice("form", {"plain", "block"}) == "block";
    o.pos_embed = c.options.flag("pos_embed");
    o.attn_drop = c.options.number("attn_drop");
    o.proj_drop = c.options.number("proj_drop");
    return std::make_shared<MHSA>(c.channels, c.height, c.width, o);
  };
  return s;
}

}  // namespace fovea::attention
