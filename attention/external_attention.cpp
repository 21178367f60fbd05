#include "attention/external_attention.h"

#include <sstream>
#include <utility>

#include "engine/fovea.h"
#include "layers/norm.h"

namespace fovea::attention {

namespace {

// The official eps of the L1 step (EANet; xmu's token form has none).
constexpr double kOfficialEps = 1e-9;

// The double normalisation: softmax over the token axis, then each token's weights divided by
// their sum over the memory axis (+ eps).
Tensor double_normalised(const Tensor& logits, int64_t token_dim, int64_t memory_dim,
                         double eps) {
  const Tensor p = softmax(logits, token_dim);
  return p / (sum(p, {memory_dim}, true) + eps);
}

// Tokens [N, L, d]: `x` itself, or a map [N, d, H, W] read row-major as HW tokens.
Tensor as_tokens(const nn::Module& m, const Tensor& x, int64_t d) {
  const bool tokens = x.dim() == 3 && x.size(2) == d;
  const bool map = x.dim() == 4 && x.size(1) == d;
  FOVEA_CHECK(tokens || map, m.type_name(), ": expected tokens [N, L, ", d, "] or a map [N, ", d,
              ", H, W], got ", x.str());
  return tokens ? x : x.flatten(2).transpose(1, 2);
}

// Tokens [N, L, d] back in the layout of the input `x`.
Tensor like_input(const Tensor& y, const Tensor& x) {
  return x.dim() == 4 ? y.transpose(1, 2).reshape(x.shape()) : y;
}

// The options of MultiHeadExternalAttention, checked before any member is derived from them.
const MultiHeadExternalAttentionOptions& checked_mh_options(
    int64_t d, const MultiHeadExternalAttentionOptions& o) {
  const char* m = "MultiHeadExternalAttention";
  FOVEA_CHECK(d >= 1 && o.num_heads >= 1, m, ": dim ", d, " and num_heads ", o.num_heads,
              " must be >= 1");
  FOVEA_CHECK(d % o.num_heads == 0, m, ": dim ", d, " must be divisible by num_heads=",
              o.num_heads, " (the coef * num_heads heads split coef * dim; spec §21)");
  FOVEA_CHECK(o.coef >= 1 && o.coef <= 256, m, ": coef ", o.coef,
              " must be in [1, 256] (k = 256 // coef memory units must be >= 1)");
  for (const auto& [name, p] : {std::pair{"attn_drop", o.attn_drop}, {"proj_drop", o.proj_drop}})
    FOVEA_CHECK(p >= 0 && p <= 1, m, ": ", name, " ", p, " must be in [0, 1]");
  return o;
}

}  // namespace

// ---- the vision block (§16b) ----------------------------------------------------------------

ExternalAttentionBlock::ExternalAttentionBlock(int64_t c, int64_t k_)
    : AttentionModule("ExternalAttentionBlock"), channels(c), k(k_) {
  FOVEA_CHECK(c >= 1 && k_ >= 1, "ExternalAttentionBlock: channels ", c, " and k ", k_,
              " (memory units) must be >= 1");
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(c, c, 1));
  linear_0 = register_module("linear_0", std::make_shared<nn::Conv1d>(c, k_, 1, Conv1dOptions{},
                                                                       /*bias=*/false));
  linear_1 = register_module("linear_1", std::make_shared<nn::Conv1d>(k_, c, 1, Conv1dOptions{},
                                                                       /*bias=*/false));
  auto conv = std::make_shared<nn::Conv2d>(c, c, 1, 1, 0, false);
  conv2 = register_module("conv2", std::make_shared<nn::Sequential>(
                                       std::initializer_list<std::shared_ptr<nn::Module>>{
                                           conv, std::make_shared<nn::BatchNorm2d>(c)}));
  // N(0, 2 / fan_out) for every conv (fan_out = kernel elements x out channels); linear_1's
  // draw is the one both memories keep (the reference's shared storage), linear_0 = its
  // transpose.
  NoGradGuard no_grad;
  kaiming_normal_(conv1->weight, 0, FanMode::FanOut, "relu");
  kaiming_normal_(conv->weight, 0, FanMode::FanOut, "relu");
  kaiming_normal_(linear_1->weight, 0, FanMode::FanOut, "relu");
  linear_0->weight.copy_(linear_1->weight.permute({1, 0, 2}));
}

Tensor ExternalAttentionBlock::forward(const Tensor& x) {
  check_input(x, channels);
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const Tensor f = (*conv1)(x).reshape({n, channels, h * w});
  const Tensor a = double_normalised((*linear_0)(f), 2, 1, kOfficialEps);  // [N, k, HW]
  record_map("attention", a);
  return relu((*conv2)((*linear_1)(a).reshape({n, channels, h, w})) + x);
}

std::string ExternalAttentionBlock::extra_repr() const {
  return "c=" + std::to_string(channels) + ", k=" + std::to_string(k);
}

// ---- the token form (§16a) ------------------------------------------------------------------

ExternalAttention::ExternalAttention(int64_t d, const ExternalAttentionOptions& o)
    : AttentionModule("ExternalAttention"), d_model(d), options(o) {
  FOVEA_CHECK(d >= 1 && o.S >= 1, "ExternalAttention: d_model ", d, " and S ", o.S,
              " (memory units) must be >= 1");
  FOVEA_CHECK(o.eps >= 0, "ExternalAttention: eps ", o.eps, " must be >= 0");
  mk = register_module("mk", std::make_shared<nn::Linear>(d, o.S, false));
  mv = register_module("mv", std::make_shared<nn::Linear>(o.S, d, false));
  NoGradGuard no_grad;
  normal_(mk->weight, 0.0, 0.001);  // xmu's init_weights
  normal_(mv->weight, 0.0, 0.001);
}

Tensor ExternalAttention::forward(const Tensor& x) {
  const Tensor f = as_tokens(*this, x, d_model);
  const Tensor a = double_normalised((*mk)(f), 1, 2, options.eps);  // [N, L, S]
  record_map("attention", a);
  return like_input((*mv)(a), x);
}

std::string ExternalAttention::extra_repr() const {
  std::ostringstream os;
  os << "d_model=" << d_model << ", S=" << options.S << ", eps=" << options.eps;
  return os.str();
}

// ---- the multi-head form (§16c) -------------------------------------------------------------

MultiHeadExternalAttention::MultiHeadExternalAttention(int64_t d,
                                                       const MultiHeadExternalAttentionOptions& o)
    : AttentionModule("MultiHeadExternalAttention"),
      dim(d),
      options(checked_mh_options(d, o)),
      heads(o.coef * o.num_heads),
      head_dim(d / o.num_heads),
      k(256 / o.coef) {
  trans_dims = register_module("trans_dims", std::make_shared<nn::Linear>(d, d * o.coef));
  linear_0 = register_module("linear_0", std::make_shared<nn::Linear>(head_dim, k));
  linear_1 = register_module("linear_1", std::make_shared<nn::Linear>(k, head_dim));
  attn_drop = register_module("attn_drop", std::make_shared<nn::Dropout>(o.attn_drop));
  proj = register_module("proj", std::make_shared<nn::Linear>(d * o.coef, d));
  proj_drop = register_module("proj_drop", std::make_shared<nn::Dropout>(o.proj_drop));
}

Tensor MultiHeadExternalAttention::forward(const Tensor& x) {
  const Tensor f = as_tokens(*this, x, dim);
  const int64_t n = f.size(0), l = f.size(1);
  const Tensor t = (*trans_dims)(f).reshape({n, l, heads, head_dim}).permute({0, 2, 1, 3});
  const Tensor a = double_normalised((*linear_0)(t), 2, 3, kOfficialEps);  // [N, H', L, k]
  record_map("attention", a);
  const Tensor v =
      (*linear_1)((*attn_drop)(a)).permute({0, 2, 1, 3}).reshape({n, l, heads * head_dim});
  return like_input((*proj_drop)((*proj)(v)), x);
}

std::string MultiHeadExternalAttention::extra_repr() const {
  std::ostringstream os;
  os << "dim=" << dim << ", num_heads=" << options.num_heads << ", coef=" << options.coef
     << " (heads=" << heads << ", head_dim=" << head_dim << ", k=" << k
     << "), attn_drop=" << options.attn_drop << ", proj_drop=" << options.proj_drop;
  return os.str();
}

// ---- the slot -------------------------------------------------------------------------------

nn::AttentionSpec external_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "ea";
  s.help = "External Attention, the official vision block: conv1, memories linear_0 / linear_1, "
           "softmax over HW then L1 over k, conv2 + BN, residual + ReLU (spec §16b)";
  s.options = {{"k", "64", "memory units (1..65536)"}};
  s.make = [](const nn::AttentionContext& c) {
    return std::make_shared<ExternalAttentionBlock>(c.channels, c.options.integer("k", 1, 65536));
  };
  return s;
}

nn::AttentionSpec external_tokens_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "ea";
  s.help = "External Attention, xmu token form: Y = L1norm_S(softmax_L(F mk^T)) mv^T over the "
           "HW tokens (spec §16a)";
  s.options = {{"S", "64", "memory units (1..65536)"},
               {"eps", "0", "added to the L1 sum over S (0 as xmu; 1e-9 as the official code)"}};
  s.make = [](const nn::AttentionContext& c) {
    ExternalAttentionOptions o;
    o.S = c.options.integer("S", 1, 65536);
    o.eps = c.options.number("eps");
    return std::make_shared<ExternalAttention>(c.channels, o);
  };
  return s;
}

nn::AttentionSpec external_mh_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "attn";  // the T2T-ViT / EAMLP block's name
  s.help = "Multi-head External Attention (EAMLP): coef * num_heads heads share linear_0 / "
           "linear_1 with k = 256 // coef units, over the HW tokens (spec §16c)";
  s.options = {{"num_heads", "8", "heads before the coef expansion (channels % num_heads == 0)"},
               {"coef", "4", "width expansion of trans_dims and head factor (1..256)"},
               {"attn_drop", "0", "dropout on the attention map (training)"},
               {"proj_drop", "0", "dropout on the output (training)"}};
  s.make = [](const nn::AttentionContext& c) {
    MultiHeadExternalAttentionOptions o;
    o.num_heads = c.options.integer("num_heads", 1, 65536);
    o.coef = c.options.integer("coef", 1, 256);
    o.attn_drop = c.options.number("attn_drop");
    o.proj_drop = c.options.number("proj_drop");
    return std::make_shared<MultiHeadExternalAttention>(c.channels, o);
  };
  return s;
}

}  // namespace fovea::attention
