#include "engine/ops/unary.h"

#include <cmath>

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/unary.h"

namespace fovea {

const char* unary_name(UnaryKind kind) {
  switch (kind) {
    case UnaryKind::Neg: return "neg";
    case UnaryKind::Exp: return "exp";
    case UnaryKind::Log: return "log";
    case UnaryKind::Sqrt: return "sqrt";
    case UnaryKind::Abs: return "abs";
    case UnaryKind::Sigmoid: return "sigmoid";
    case UnaryKind::Tanh: return "tanh";
    case UnaryKind::Relu: return "relu";
    case UnaryKind::Relu6: return "relu6";
    case UnaryKind::Hardsigmoid: return "hardsigmoid";
    case UnaryKind::Hardswish: return "hardswish";
    case UnaryKind::Silu: return "silu";
    case UnaryKind::Gelu: return "gelu";
    case UnaryKind::Clamp: return "clamp";
    case UnaryKind::PowScalar: return "pow";
  }
  return "unary";
}

namespace {

class UnaryBackward final : public Node {
 public:
  UnaryBackward(const UnaryOp& op) : op_(op) {}
  std::string name() const override {
    std::string n = unary_name(op_.kind);
    n[0] = char(std::toupper(n[0]));
    return n + "Backward";
  }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor x = x_.unpack(*this), y = y_.unpack(*this);
    Tensor dx = empty(x.shape(), x.dtype(), x.device());
    unary_backward_kernel(x.device(), op_, dx, x, y, grads[0]);
    return {dx};
  }
  void release_saved() override {
    x_.reset();
    y_.reset();
  }
  SavedTensor x_, y_;

 private:
  UnaryOp op_;
};

}  // namespace

Tensor unary(const UnaryOp& op, const Tensor& x) {
  check_float(x, unary_name(op.kind));
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  unary_forward_kernel(x.device(), op, y, x);
  if (auto node = make_node<UnaryBackward>({x}, op)) {
    node->x_ = SavedTensor(x);
    node->y_ = SavedTensor(y);
    set_history(y, node);
  }
  return y;
}

Tensor neg(const Tensor& x) { return unary({UnaryKind::Neg}, x); }
Tensor exp(const Tensor& x) { return unary({UnaryKind::Exp}, x); }
Tensor log(const Tensor& x) { return unary({UnaryKind::Log}, x); }
Tensor sqrt(const Tensor& x) { return unary({UnaryKind::Sqrt}, x); }
Tensor abs(const Tensor& x) { return unary({UnaryKind::Abs}, x); }
Tensor sigmoid(const Tensor& x) { return unary({UnaryKind::Sigmoid}, x); }
Tensor tanh(const Tensor& x) { return unary({UnaryKind::Tanh}, x); }
Tensor relu(const Tensor& x) { return unary({UnaryKind::Relu}, x); }
Tensor relu6(const Tensor& x) { return unary({UnaryKind::Relu6}, x); }
Tensor hardsigmoid(const Tensor& x) { return unary({UnaryKind::Hardsigmoid}, x); }
Tensor hardswish(const Tensor& x) { return unary({UnaryKind::Hardswish}, x); }
Tensor silu(const Tensor& x) { return unary({UnaryKind::Silu}, x); }
Tensor gelu(const Tensor& x) { return unary({UnaryKind::Gelu}, x); }

Tensor clamp(const Tensor& x, double min, double max) {
  FOVEA_CHECK(!(min > max) && !std::isnan(min) && !std::isnan(max), "clamp: min ", min,
              " must not exceed max ", max);
  return unary({UnaryKind::Clamp, min, max}, x);
}

Tensor pow(const Tensor& x, double exponent) {
  FOVEA_CHECK(std::isfinite(exponent), "pow: exponent must be finite, got ", exponent);
  return unary({UnaryKind::PowScalar, exponent}, x);
}

}  // namespace fovea
