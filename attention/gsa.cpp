#include "attention/gsa.h"

#include <algorithm>
#include <sstream>

#include "attention/memory.h"
#include "engine/fovea.h"

namespace fovea::attention {

namespace {

// Bounds on what a user may ask for in the slot: the parameters (3 h d x dim, (2L - 1) x d) are
// allocated at construction, before any forward could refuse them.
constexpr int64_t kMaxHeads = 1024, kMaxDimKey = 4096, kMaxRelPosLength = 65536;

// Runs before any parameter is shaped by the options.
GSAOptions checked(int64_t dim, int64_t dim_out, int64_t stride, const GSAOptions& o) {
  FOVEA_CHECK(dim >= 1 && dim_out >= 1 && stride >= 1, "GSA: dim ", dim, ", dim_out ", dim_out,
              " and stride ", stride, " must be >= 1");
  FOVEA_CHECK(o.heads >= 1 && o.dim_key >= 1, "GSA: heads ", o.heads, " and dim_key ", o.dim_key,
              " must be >= 1");
  FOVEA_CHECK(o.rel_pos_length >= 0, "GSA: rel_pos_length ", o.rel_pos_length,
              " must be >= 0 (0: no positional branch)");
  return o;
}

Tensor embedding_table(const GSAOptions& o) {
  if (o.rel_pos_length == 0) return Tensor();  // an absent parameter: no name in the state
  return randn({2 * o.rel_pos_length - 1, o.dim_key});
}

// "global" or -1: max(H, W) of the tensor the module sees; else a length in 0..kMaxRelPosLength.
int64_t rel_pos_length_of(const nn::AttentionContext& c) {
  const std::string text = c.options.text("rel_pos_length");
  const bool global = text == "global" || text == "-1";
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  FOVEA_CHECK(global || digits, "attention gsa: option rel_pos_length=", text,
              " is not global, -1 or a length in 0..", kMaxRelPosLength);
  if (!global) return c.options.integer("rel_pos_length", 0, kMaxRelPosLength);
  FOVEA_CHECK(c.height > 0 && c.width > 0, "GSA: rel_pos_length=global takes L = max(H, W) of "
              "the input, which this network does not know (give it an input size, or give "
              "rel_pos_length a number)");
  return std::max(c.height, c.width);
}

}  // namespace

GSA::GSA(int64_t in, int64_t out, int64_t s, const GSAOptions& o)
    : AttentionModule("GSA"),
      dim(in),
      dim_out(out == 0 ? in : out),
      stride(s),
      options(checked(dim, dim_out, s, o)),
      rel_rows(register_parameter("rel_rows", embedding_table(o))),
      rel_columns(register_parameter("rel_columns", embedding_table(o))) {
  const int64_t hidden = o.heads * o.dim_key;
  to_qkv = register_module("to_qkv", std::make_shared<nn::Conv2d>(in, 3 * hidden, 1, 1, 0, false));
  to_out = register_module("to_out", std::make_shared<nn::Conv2d>(hidden, dim_out, 1, 1, 0, true));
  if (o.rel_pos_length > 0 && o.batch_norm)
    norm = register_module("norm", std::make_shared<nn::BatchNorm2d>(o.dim_key));
}

std::vector<GSAMatrix> GSA::attention_matrices(int64_t batch, int64_t height, int64_t width,
                                               DType dtype) const {
  const int64_t n = batch * options.heads, d = options.dim_key;
  std::vector<GSAMatrix> out{{"content context K V^T", {n, d, d}, 0}};
  if (options.rel_pos_length > 0) {
    out.push_back({"row scores Sx", {n, height, height, width}, 0});
    out.push_back({"column scores Sy", {n, width, height, width}, 0});
  }
  for (auto& m : out) m.bytes = matrix_bytes(m.shape, dtype);
  return out;
}

void GSA::check_memory(const Tensor& x) const {
  // The context and both score tensors are alive together (sx is kept for its map while sy is
  // built); with autograd on each is also kept for the backward, which makes its gradient; the
  // maps recorded by the last forward are still held while this one runs.
  const bool backward = GradMode::is_enabled(), held = recording() && !maps().empty();
  const int live = (backward ? 2 : 1) + (held ? 1 : 0);
  size_t total = 0;
  std::string parts;
  for (const auto& m : attention_matrices(x.size(0), x.size(2), x.size(3), x.dtype())) {
    total = total > SIZE_MAX - m.bytes ? SIZE_MAX : total + m.bytes;
    parts += (parts.empty() ? "" : ", ") + m.what + " " + dtype_name(x.dtype()) +
             shape_str(m.shape);
  }
  const size_t need = total > SIZE_MAX / size_t(live) ? SIZE_MAX : total * size_t(live);
  check_bytes_fit("GSA",
                  "the attention matrices (" + parts + "; x" + std::to_string(live) + " live" +
                      (backward ? ": kept for the backward, and their gradients" : "") +
                      (held ? (backward ? ", " : ": ") + std::string("the last forward's maps")
                            : "") +
                      ")",
                  need, x.device());
}

Tensor GSA::relative_embeddings(const Tensor& rel, int64_t l) const {
  const int64_t L = options.rel_pos_length, zero_row = 2 * L - 1;
  std::vector<int64_t> index(size_t(l * l));
  for (int64_t x = 0; x < l; ++x)
    for (int64_t i = 0; i < l; ++i) {
      const int64_t offset = i - x;
      index[size_t(x * l + i)] = std::abs(offset) <= L - 1 ? offset + L - 1 : zero_row;
    }
  // The masked offsets read a zero row appended to the table: 0 forward, no gradient back.
  const Tensor padded = cat({rel, zeros({1, options.dim_key}, rel.dtype(), rel.device())}, 0);
  return index_select(padded, 0, from_vector<int64_t>(index, {l * l}, rel.device()))
      .view({l, l, options.dim_key});
}

Tensor GSA::forward(const Tensor& x) {
  check_input(x, dim);
  check_memory(x);
  const int64_t n = x.size(0), h = options.heads, d = options.dim_key, H = x.size(2),
                W = x.size(3);
  // [N, h d, H, W] -> [N, h, d, H, W], views: channel head * d + c. Heads stay a batch axis.
  const std::vector<Tensor> qkv = chunk((*to_qkv)(x), 3, 1);
  const Tensor q = qkv[0].view({n, h, d, H, W}), k = qkv[1].view({n, h, d, H, W}),
               v = qkv[2].view({n, h, d, H, W});

  // Content attention: keys normalised over HW, a d x d context, queries raw (norm_queries:
  // softmaxed over d).
  const Tensor keys = softmax(k.reshape({n, h, d, H * W}), -1);
  const Tensor context = matmul(keys, v.reshape({n, h, d, H * W}).transpose(-1, -2));
  Tensor queries = q.reshape({n, h, d, H * W});
  if (options.norm_queries) queries = softmax(queries, 2);
  Tensor out = matmul(context.transpose(-1, -2), queries).view({n, h, d, H, W});
  record_map("keys", keys.view({n, h, d, H, W}));
  record_map("context", context);

  if (options.rel_pos_length > 0) {
    const Tensor prows = relative_embeddings(rel_rows, H);     // [x, i, d]
    const Tensor pcols = relative_embeddings(rel_columns, W);  // [y, i, d]
    // Height pass, batched over (N, h, x): [W (y), d] @ [d, H (i)] -> Sx [N, h, x, y, i].
    const Tensor sx = matmul(q.permute({0, 1, 3, 4, 2}), prows.transpose(1, 2));
    // Yh[e, x, y] = sum_i Sx[x, y, i] v[e, i, y], batched over (N, h, y): [x, i] @ [i, e].
    Tensor yh = matmul(sx.permute({0, 1, 3, 2, 4}), v.permute({0, 1, 4, 3, 2}))
                    .permute({0, 1, 4, 3, 2});  // [N, h, e, x, y]
    if (norm) yh = (*norm)(yh.reshape({n * h, d, H, W})).view({n, h, d, H, W});
    // Width pass, batched over (N, h, y): [H (x), d] @ [d, W (i)] -> Sy [N, h, y, x, i].
    const Tensor sy = matmul(q.permute({0, 1, 4, 3, 2}), pcols.transpose(1, 2));
    // Op[e, x, y] = sum_i Sy[y, x, i] Yh[e, x, i], batched over (N, h, x): [y, i] @ [i, e].
    const Tensor op = matmul(sy.permute({0, 1, 3, 2, 4}), yh.permute({0, 1, 3, 4, 2}));
    out = out + op.permute({0, 1, 4, 2, 3});
    record_map("row_scores", sx.permute({0, 1, 4, 2, 3}));     // [N, h, i, x, y]
    record_map("column_scores", sy.permute({0, 1, 4, 3, 2}));  // [N, h, i, x, y]
  }

  Tensor y = (*to_out)(out.reshape({n, h * d, H, W}));
  if (stride > 1) {  // the downsampling block's stride: average pooling after the module
    Pool2dOptions pool;
    pool.kernel = pool.stride = {stride, stride};
    pool.ceil_mode = true;  // ceil(H / stride), the partial edge windows over their real taps
    pool.count_include_pad = false;
    y = avg_pool2d(y, pool);
  }
  return y;
}

std::string GSA::extra_repr() const {
  std::ostringstream os;
  os << dim << ", " << dim_out << ", stride=" << stride << ", heads=" << options.heads
     << ", dim_key=" << options.dim_key << ", rel_pos_length=" << options.rel_pos_length
     << ", norm_queries=" << nn::py_bool(options.norm_queries)
     << ", batch_norm=" << nn::py_bool(options.batch_norm);
  return os.str();
}

nn::AttentionSpec gsa_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::ReplaceSecondConv;
  s.child_name = "conv2";
  s.help = "Global Self-Attention: replaces the 3x3 conv; linear content attention (keys "
           "softmaxed over HW) plus axial relative positional attention (spec §14)";
  s.options = {{"heads", "8", "attention heads h"},
               {"dim_key", "64", "key / query / value width d per head (to_qkv: 3 h d channels)"},
               {"rel_pos_length", "0",
                "relative length L of the positional branch: 0 none, global (or -1) = max(H, W) "
                "of the input (the paper's), smaller masks offsets beyond L - 1"},
               {"norm_queries", "false", "softmax the content branch's queries over d"},
               {"batch_norm", "true", "BatchNorm2d(dim_key) after the positional height pass"}};
  s.make = [](const nn::AttentionContext& c) {
    GSAOptions o;
    o.heads = c.options.integer("heads", 1, kMaxHeads);
    o.dim_key = c.options.integer("dim_key", 1, kMaxDimKey);
    o.rel_pos_length = rel_pos_length_of(c);
    o.norm_queries = c.options.flag("norm_queries");
    o.batch_norm = c.options.flag("batch_norm");
    return std::make_shared<GSA>(c.in_channels, c.out_channels, c.stride, o);
  };
  return s;
}

}  // namespace fovea::attention
