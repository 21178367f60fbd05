#include "engine/ops/binary.h"

#include <cmath>

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/binary.h"
#include "engine/ops/reduce.h"
#include "engine/ops/unary.h"

namespace fovea {

const char* binary_name(BinaryKind kind) {
  switch (kind) {
    case BinaryKind::Add: return "add";
    case BinaryKind::Sub: return "sub";
    case BinaryKind::Mul: return "mul";
    case BinaryKind::Div: return "div";
    case BinaryKind::Pow: return "pow";
    case BinaryKind::Maximum: return "maximum";
    case BinaryKind::Minimum: return "minimum";
    case BinaryKind::Eq: return "eq";
    case BinaryKind::Ne: return "ne";
    case BinaryKind::Lt: return "lt";
    case BinaryKind::Le: return "le";
    case BinaryKind::Gt: return "gt";
    case BinaryKind::Ge: return "ge";
  }
  return "binary";
}

namespace {

class BinaryBackward final : public Node {
 public:
  explicit BinaryBackward(BinaryKind kind) : kind_(kind) {}
  std::string name() const override {
    std::string n = binary_name(kind_);
    n[0] = char(std::toupper(n[0]));
    return n + "Backward";
  }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];
    std::vector<Tensor> out(2);
    // add and sub pass the gradient through unchanged (up to sign): no kernel needed.
    if (kind_ == BinaryKind::Add || kind_ == BinaryKind::Sub) {
      if (needs_input_grad(0)) out[0] = sum_to(g, input_meta(0).shape);
      if (needs_input_grad(1))
        out[1] = kind_ == BinaryKind::Add ? sum_to(g, input_meta(1).shape)
                                          : neg(sum_to(g, input_meta(1).shape));
      return out;
    }
    const Tensor a = a_.unpack(*this), b = b_.unpack(*this), y = y_.unpack(*this);
    for (int side = 0; side < 2; ++side) {
      if (!needs_input_grad(side)) continue;
      Tensor elem = empty(g.shape(), g.dtype(), g.device());
      binary_backward_kernel(g.device(), kind_, side, elem, a, b, y, g);
      out[side] = sum_to(elem, input_meta(side).shape);
    }
    return out;
  }
  void release_saved() override {
    a_.reset();
    b_.reset();
    y_.reset();
  }
  SavedTensor a_, b_, y_;

 private:
  BinaryKind kind_;
};

class WhereBackward final : public Node {
 public:
  std::string name() const override { return "WhereBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor cond = cond_.unpack(*this);
    const Tensor& g = grads[0];
    const Tensor zero = scalar_like(0.0, g);
    std::vector<Tensor> out(3);
    if (needs_input_grad(1)) out[1] = sum_to(where(cond, g, zero), input_meta(1).shape);
    if (needs_input_grad(2)) out[2] = sum_to(where(cond, zero, g), input_meta(2).shape);
    return out;
  }
  void release_saved() override { cond_.reset(); }
  SavedTensor cond_;
};

}  // namespace

Tensor binary(BinaryKind kind, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(kind);
  check_defined(a, name);
  check_defined(b, name);
  check_same_dtype(a, b, name);
  check_same_device(a, b, name);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty(shape, a.dtype(), a.device());
  binary_forward_kernel(a.device(), kind, out, a, b);
  if (binary_is_comparison(kind)) return out;
  if (auto node = make_node<BinaryBackward>({a, b}, kind)) {
    if (kind != BinaryKind::Add && kind != BinaryKind::Sub) {
      node->a_ = SavedTensor(a);
      node->b_ = SavedTensor(b);
      if (kind == BinaryKind::Div || kind == BinaryKind::Pow) node->y_ = SavedTensor(out);
    }
    set_history(out, node);
  }
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryKind::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryKind::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryKind::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryKind::Div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary(BinaryKind::Pow, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryKind::Maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary(BinaryKind::Minimum, a, b); }
Tensor eq(const Tensor& a, const Tensor& b) { return binary(BinaryKind::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary(BinaryKind::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary(BinaryKind::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary(BinaryKind::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary(BinaryKind::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary(BinaryKind::Ge, a, b); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  for (const Tensor* t : {&cond, &a, &b}) check_defined(*t, "where");
  check_same_dtype(a, b, "where");
  check_same_device(a, b, "where");
  check_same_device(cond, a, "where");
  const Shape shape =
      broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty(shape, a.dtype(), a.device());
  where_forward_kernel(a.device(), out, cond, a, b);
  if (auto node = make_node<WhereBackward>({cond.detach(), a, b})) {
    node->cond_ = SavedTensor(cond);
    set_history(out, node);
  }
  return out;
}

Tensor scalar_like(double value, const Tensor& like) {
  FOVEA_CHECK(like.dtype() != DType::Int64 || std::trunc(value) == value,
              "scalar: ", value, " is not an integer and cannot combine with ", like.str(),
              " (convert the tensor with .to(DType::Float32) first)");
  return scalar_tensor(value, like.dtype(), like.device());
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(b, a)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(b, a)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(b, a)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(b, a)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(a, b), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(a, b), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(a, b), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(a, b), b); }

}  // namespace fovea
