#include "attention/sagan.h"

#include <sstream>

#include "attention/memory.h"
#include "engine/fovea.h"

namespace fovea::attention {

namespace {

bool biggan(const SAGANOptions& o) { return o.variant == SAGANVariant::BigGAN; }

// Runs before any conv is shaped by C / 8.
int64_t checked_channels(int64_t c) {
  FOVEA_CHECK(c >= 8, "SAGAN: channels ", c,
              " must be >= 8 (the query and key width channels // 8 must be >= 1; spec §21)");
  return c;
}

void check_even(int64_t h, int64_t w) {
  FOVEA_CHECK(h % 2 == 0 && w % 2 == 0, "SAGAN: variant=biggan needs an even H and W (its keys "
              "and values are 2x2 max-pooled), got H x W = ", h, " x ", w);
}

std::shared_ptr<nn::Conv2d> conv1x1(nn::Module& parent, const char* name, int64_t in,
                                    int64_t out, bool bias) {
  return parent.register_module(name, std::make_shared<nn::Conv2d>(in, out, 1, 1, 0, bias));
}

Tensor pool2x2(const Tensor& x) {
  Pool2dOptions o;
  o.kernel = {2, 2};
  return max_pool2d(x, o);
}

// Whether this forward puts the attention matrices on the autograd tape.
bool records_graph(const nn::Module& m, const Tensor& x) {
  if (!GradMode::is_enabled()) return false;
  if (x.requires_grad()) return true;
  for (const auto& p : m.parameters())
    if (p.requires_grad()) return true;
  return false;
}

}  // namespace

SAGAN::SAGAN(int64_t c, const SAGANOptions& o)
    : AttentionModule("SAGAN"),
      channels(checked_channels(c)),
      options(o),
      query(conv1x1(*this, biggan(o) ? "theta" : "query_conv", c, c / 8, !biggan(o))),
      key(conv1x1(*this, biggan(o) ? "phi" : "key_conv", c, c / 8, !biggan(o))),
      value(conv1x1(*this, biggan(o) ? "g" : "value_conv", c, biggan(o) ? c / 2 : c, !biggan(o))),
      out(biggan(o) ? conv1x1(*this, "o", c / 2, c, false) : nullptr),
      gamma(register_parameter("gamma", zeros(biggan(o) ? Shape{} : Shape{1}))) {}

Tensor SAGAN::forward(const Tensor& x) {
  check_input(x, channels);
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3), hw = h * w;
  const bool pooled = biggan(options);
  if (pooled) check_even(h, w);
  // Refuse a matrix that cannot fit before the convs allocate anything.
  bool held_map = false;
  for (const auto& item : maps()) held_map = held_map || item.first == "attention";
  const SAGANMemory need = sagan_attention_memory(
      n, h, w, x.dtype(), options.variant, records_graph(*this, x), held_map);
  check_matrix_fits("SAGAN", "attention matrix", need.shape, x.dtype(), x.device(), need.live,
                    need.why);

  const Tensor q = (*query)(x).reshape({n, -1, hw});  // [N, C/8, HW]
  Tensor k = (*key)(x), v = (*value)(x);
  if (pooled) {
    k = pool2x2(k);
    v = pool2x2(v);
  }
  const int64_t keys = need.shape[2];
  k = k.reshape({n, -1, keys});  // [N, C/8, keys]
  v = v.reshape({n, -1, keys});  // [N, Cv, keys]
  // The scores E are a temporary: freed as soon as the softmax has read them.
  const Tensor a = softmax(matmul(q.transpose(1, 2), k), -1);  // [N, HW, keys]
  record_map("attention", a);
  // O^T = A V^T rather than O = V A^T: the same sums, but the backward's dA = dO^T V comes out
  // in A's own layout, so the softmax backward needs no transposed copy of it.
  Tensor o = matmul(a, v.transpose(1, 2)).transpose(1, 2).reshape({n, -1, h, w});
  if (out) o = (*out)(o);
  return gamma * o + x;
}

std::string SAGAN::extra_repr() const {
  std::ostringstream os;
  os << "channels=" << channels << ", variant=" << (biggan(options) ? "biggan" : "heykeetae");
  return os.str();
}

SAGANMemory sagan_attention_memory(int64_t n, int64_t h, int64_t w, DType dtype,
                                   SAGANVariant variant, bool graph, bool held_map) {
  SAGANMemory m;
  const int64_t hw = h * w;
  m.shape = {n, hw, variant == SAGANVariant::BigGAN ? hw / 4 : hw};
  // Counted from the ops: matmul saves its inputs, not its output, and softmax saves its output.
  // The forward holds E and A while the softmax runs (and a map recorded by the previous forward,
  // replaced only once A exists); the backward's softmax node writes dE while A (saved, and the
  // map) and dA (from A V^T's backward) are alive.
  if (graph) {
    m.live = 3;
    m.why = "the softmax saved for backward, its gradient and the scores' gradient";
  } else if (held_map) {
    m.live = 3;
    m.why = "the scores, their softmax and the previous forward's recorded map";
  } else {
    m.live = 2;
    m.why = "the scores and their softmax";
  }
  m.bytes = matrix_bytes({m.live, n, hw, m.shape[2]}, dtype);  // saturates like one matrix
  return m;
}

nn::AttentionSpec sagan_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "sagan";
  s.help = "SAGAN self-attention: every position attends to every position, added back with a "
           "gain gamma that starts at 0; memory quadratic in H x W (spec §17)";
  s.options = {{"variant", "heykeetae",
                "heykeetae (Self_Attn: query/key/value convs with bias, all HW keys) or biggan "
                "(the official TF / BigGAN form: bias-free theta/phi/g/o, 2x2 max-pooled keys "
                "and values; even H and W)"}};
  s.make = [](const nn::AttentionContext& c) {
    SAGANOptions o;
    o.variant = c.options.choice("variant", {"heykeetae", "biggan"}) == "biggan"
                    ? SAGANVariant::BigGAN
                    : SAGANVariant::Heykeetae;
    if (biggan(o) && c.height > 0 && c.width > 0) check_even(c.height, c.width);
    return std::make_shared<SAGAN>(c.channels, o);
  };
  return s;
}

}  // namespace fovea::attention
