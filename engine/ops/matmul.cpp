#include "engine/ops/matmul.h"

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/gemm.h"
#include "engine/ops/binary.h"
#include "engine/ops/mac_count.h"
#include "engine/ops/reduce.h"

namespace fovea {

namespace {

// c = a @ b for operands already broadcast to the same batch dims.
Tensor gemm(const Tensor& a, const Tensor& b) {
  Shape out = a.shape();
  out.back() = b.shape().back();
  Tensor c = empty(out, a.dtype(), a.device());
  gemm_kernel(a.device(), a, b, c, 0.0);
  return c;
}

Tensor swap_last(const Tensor& t) { return t.transpose(-1, -2); }

// a [..., M, K] @ b [..., K, N] with broadcast batch dims, no recording.
Tensor batched_product(const Tensor& a, const Tensor& b) {
  NoGradGuard no_grad;
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  const Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  Shape sa = batch, sb = batch;
  sa.insert(sa.end(), a.shape().end() - 2, a.shape().end());
  sb.insert(sb.end(), b.shape().end() - 2, b.shape().end());
  return gemm(a.expand(sa), b.expand(sb));
}

class MatmulBackward final : public Node {
 public:
  std::string name() const override { return "MatmulBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor a = a_.unpack(*this), b = b_.unpack(*this);
    const Tensor& g = grads[0];
    std::vector<Tensor> out(2);
    if (needs_input_grad(0)) out[0] = sum_to(batched_product(g, swap_last(b)), a.shape());
    if (needs_input_grad(1)) out[1] = sum_to(batched_product(swap_last(a), g), b.shape());
    return out;
  }
  void release_saved() override {
    a_.reset();
    b_.reset();
  }
  SavedTensor a_, b_;
};

class LinearBackward final : public Node {
 public:
  std::string name() const override { return "LinearBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor x = x_.unpack(*this), w = w_.unpack(*this);
    const int64_t out_features = w.shape()[0], in_features = w.shape()[1];
    const Tensor g2 = grads[0].reshape({-1, out_features});
    std::vector<Tensor> out(3);
    if (needs_input_grad(0)) out[0] = gemm(g2, w).reshape(x.shape());
    if (needs_input_grad(1)) out[1] = gemm(swap_last(g2), x.reshape({-1, in_features}));
    if (needs_input_grad(2)) out[2] = sum(g2, {0});
    return out;
  }
  void release_saved() override {
    x_.reset();
    w_.reset();
  }
  SavedTensor x_, w_;
};

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  check_float(a_in, "matmul");
  check_float(b_in, "matmul");
  check_same_dtype(a_in, b_in, "matmul");
  check_same_device(a_in, b_in, "matmul");
  FOVEA_CHECK(a_in.dim() >= 1 && b_in.dim() >= 1, "matmul: both operands need at least one "
              "dim, got ", a_in.str(), " and ", b_in.str());
  // Promote vectors to matrices with (recorded) views; their backward removes the dim again.
  const bool a_vec = a_in.dim() == 1, b_vec = b_in.dim() == 1;
  const Tensor a = a_vec ? a_in.unsqueeze(0) : a_in;
  const Tensor b = b_vec ? b_in.unsqueeze(1) : b_in;
  const int64_t K = a.shape().back();
  FOVEA_CHECK(b.shape()[b.dim() - 2] == K, "matmul: shapes ", shape_str(a_in.shape()), " and ",
              shape_str(b_in.shape()), " cannot be multiplied (", K, " columns vs ",
              b.shape()[b.dim() - 2], " rows)");
  Tensor out = batched_product(a, b);
  count_macs(out.numel() * K);
  if (auto node = make_node<MatmulBackward>({a, b})) {
    node->a_ = SavedTensor(a);
    node->b_ = SavedTensor(b);
    set_history(out, node);
  }
  if (a_vec) out = out.squeeze(-2);
  if (b_vec) out = out.squeeze(-1);
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_float(x, "linear");
  check_float(weight, "linear");
  check_same_dtype(x, weight, "linear");
  check_same_device(x, weight, "linear");
  FOVEA_CHECK(weight.dim() == 2, "linear: weight must be [out, in], got ", weight.str());
  FOVEA_CHECK(x.dim() >= 1 && x.shape().back() == weight.shape()[1], "linear: input ",
              x.str(), " does not end in in_features = ", weight.shape()[1], " of weight ",
              weight.str());
  const int64_t out_features = weight.shape()[0];
  if (bias.defined()) {
    check_same_dtype(x, bias, "linear");
    check_same_device(x, bias, "linear");
    FOVEA_CHECK(bias.dim() == 1 && bias.shape()[0] == out_features, "linear: bias ",
                bias.str(), " does not match out_features = ", out_features);
  }
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = gemm(x.reshape({-1, x.shape().back()}), swap_last(weight));
    count_macs(out.numel() * weight.shape()[1]);
    if (bias.defined()) out.add_(bias);
    out = out.view(out_shape);
  }
  if (auto node = make_node<LinearBackward>({x, weight, bias})) {
    node->x_ = SavedTensor(x);
    node->w_ = SavedTensor(weight);
    set_history(out, node);
  }
  return out;
}

}  // namespace fovea
