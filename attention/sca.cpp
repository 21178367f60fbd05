#include "attention/sca.h"

#include <sstream>

#include "engine/fovea.h"

namespace fovea::attention {

namespace {

// Bounds on the widths a user may ask for: the context weights are [context_dim, k], so 10^5
// would allocate gigabytes before any forward could refuse it.
constexpr int64_t kMaxWidth = 4096;

// Runs before the parameters are shaped by k and context_dim.
const SCAOptions& checked(int64_t c, const SCAOptions& o) {
  FOVEA_CHECK(c >= 1, "SCA: channels ", c, " must be >= 1");
  FOVEA_CHECK(o.k >= 1 && o.k <= kMaxWidth, "SCA: k=", o.k, " must be in [1, ", kMaxWidth, "]");
  FOVEA_CHECK(o.context_dim >= 1 && o.context_dim <= kMaxWidth, "SCA: context_dim=",
              o.context_dim, " must be in [1, ", kMaxWidth, "]");
  FOVEA_CHECK(o.order == "cs" || o.order == "sc", "SCA: unknown order \"", o.order,
              "\" (cs: channel then spatial, sc: spatial then channel)");
  FOVEA_CHECK(o.query == "learned" || o.query == "pooled" || o.query == "given",
              "SCA: unknown query \"", o.query, "\" (learned, pooled, given)");
  return o;
}

// The official utils/util.py norm_weight(rows, cols): a random orthogonal matrix (gain 1) when
// square, else N(0, 0.01^2).
Tensor norm_weight(int64_t rows, int64_t cols) {
  Tensor w = zeros({rows, cols});
  if (rows == cols) return orthogonal_(w);
  return normal_(w, 0.0, 0.01);
}

}  // namespace

SCA::SCA(int64_t c, const SCAOptions& o)
    : ContextModule("SCA"),
      channels(c),
      options(checked(c, o)),
      w_c(register_parameter("w_c", norm_weight(1, o.k))),
      b_c(register_parameter("b_c", zeros({o.k}))),
      W_hc(register_parameter("W_hc", norm_weight(o.context_dim, o.k))),
      u_c(register_parameter("u_c", norm_weight(o.k, 1))),
      c_c(register_parameter("c_c", zeros({1}))),
      W_s(register_parameter("W_s", norm_weight(c, o.k))),
      b_s(register_parameter("b_s", zeros({o.k}))),
      W_hs(register_parameter("W_hs", norm_weight(o.context_dim, o.k))),
      u_s(register_parameter("u_s", norm_weight(o.k, 1))),
      c_s(register_parameter("c_s", zeros({1}))),
      query(register_parameter("query",
                               o.query == "learned" ? randn({1, o.context_dim}) : Tensor())) {
  if (o.query == "pooled")
    query_proj = register_module("query_proj", std::make_shared<nn::Linear>(c, o.context_dim));
}

Tensor SCA::channel_weights(const Tensor& v, const Tensor& h) const {
  const int64_t n = v.size(0), k = options.k;
  const Tensor vbar = mean(v, {2, 3}).reshape({n, channels, 1});
  const Tensor b = tanh(vbar * w_c + b_c + matmul(h, W_hc).reshape({n, 1, k}));  // [N, C, k]
  return softmax(matmul(b, u_c).reshape({n, channels}) + c_c, 1);
}

Tensor SCA::spatial_weights(const Tensor& v, const Tensor& h) const {
  const int64_t n = v.size(0), k = options.k, hw = v.size(2) * v.size(3);
  // [k, C] @ [N, C, HW]: the positions stay the last axis, no transposed copy of V.
  const Tensor a = tanh(matmul(W_s.transpose(0, 1), v.reshape({n, channels, hw})) +
                        b_s.reshape({k, 1}) + matmul(h, W_hs).reshape({n, k, 1}));  // [N, k, HW]
  return softmax(matmul(u_s.transpose(0, 1), a).reshape({n, hw}) + c_s, 1);
}

Tensor SCA::forward(const Tensor& x) {
  check_input(x, channels);
  FOVEA_CHECK(options.query != "given",
              "SCA: query=given takes its context from attend(x, context) and forward(x) has "
              "none; a network needs query=learned or query=pooled");
  const Tensor h = query_proj ? (*query_proj)(mean(x, {2, 3}))
                              : query.expand({x.size(0), options.context_dim});
  return attend(x, h);
}

Tensor SCA::attend(const Tensor& x, const Tensor& h) {
  check_input(x, channels);
  const int64_t n = x.size(0), ht = x.size(2), wd = x.size(3);
  FOVEA_CHECK(h.dim() == 2 && h.size(0) == n && h.size(1) == options.context_dim,
              "SCA: expected context [N, context_dim] = [", n, ", ", options.context_dim,
              "] for input ", x.str(), ", got ", h.str());
  const double s_c = options.rescale ? double(channels) : 1.0;
  const double s_s = options.rescale ? double(ht * wd) : 1.0;
  Tensor beta, alpha;  // [N, C, 1, 1], [N, 1, H, W]
  if (options.order == "cs") {
    beta = channel_weights(x, h).reshape({n, channels, 1, 1});
    alpha = spatial_weights(x * (beta * s_c), h).reshape({n, 1, ht, wd});
  } else {
    alpha = spatial_weights(x, h).reshape({n, 1, ht, wd});
    beta = channel_weights(x * (alpha * s_s), h).reshape({n, channels, 1, 1});
  }
  record_map("channel", beta.reshape({n, channels}));
  record_map("spatial", alpha);
  return x * (beta * alpha * (s_c * s_s));
}

std::string SCA::extra_repr() const {
  std::ostringstream os;
  os << "channels=" << channels << ", k=" << options.k << ", context_dim=" << options.context_dim
     << ", order=" << options.order << ", query=" << options.query
     << ", rescale=" << nn::py_bool(options.rescale);
  return os.str();
}

nn::AttentionSpec sca_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "sca";
  s.help = "SCA-CNN: channel-wise and spatial softmax attention conditioned on a context vector "
           "(spec §19)";
  s.options = {
      {"order", "cs", "cs: channel then spatial (the paper's), sc: spatial then channel"},
      {"k", "512", "hidden width of both attentions (the official 512)"},
      {"context_dim", "1000", "width of the context h (the official LSTM's 1000 units)"},
      {"query", "learned",
       "the context forward(x) uses: learned (a parameter), pooled (Linear of GAP(x)), given "
       "(none: the context comes from outside, attention_probe's \"context\")"},
      {"rescale", "true", "multiply by C and HW after the softmaxes, as the official code"}};
  s.make = [](const nn::AttentionContext& c) {
    SCAOptions o;
    o.order = c.options.choice("order", {"cs", "sc"});
    o.k = c.options.integer("k", 1, kMaxWidth);
    o.context_dim = c.options.integer("context_dim", 1, kMaxWidth);
    o.query = c.options.choice("query", {"learned", "pooled", "given"});
    o.rescale = c.options.flag("rescale");
    return std::make_shared<SCA>(c.channels, o);
  };
  return s;
}

}  // namespace fovea::attention
