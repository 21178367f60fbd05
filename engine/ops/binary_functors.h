// The math of every element-wise binary op, forward and both partial derivatives side by side.
//
// A functor has
//   T forward(T a, T b)              y = f(a, b)
//   T grad_a(T a, T b, T y, T g)     g * dy/da
//   T grad_b(T a, T b, T y, T g)     g * dy/db
// Broadcasting is handled outside: the engine sums grad_a over a's broadcast axes.
// maximum/minimum split the gradient evenly on ties, as PyTorch does.
// Comparisons (eq, ne, lt, le, gt, ge) return 1 or 0 in the input dtype and have no gradient.
#pragma once

#include <cstdint>

#include "engine/ops/math.h"

namespace fovea {

enum class BinaryKind : uint8_t { Add, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge };

const char* binary_name(BinaryKind kind);
constexpr bool binary_is_comparison(BinaryKind k) { return k >= BinaryKind::Eq; }

struct AddFn {
  template <class T> FOVEA_HD T forward(T a, T b) const { return a + b; }
  template <class T> FOVEA_HD T grad_a(T, T, T, T g) const { return g; }
  template <class T> FOVEA_HD T grad_b(T, T, T, T g) const { return g; }
};
struct SubFn {
  template <class T> FOVEA_HD T forward(T a, T b) const { return a - b; }
  template <class T> FOVEA_HD T grad_a(T, T, T, T g) const { return g; }
  template <class T> FOVEA_HD T grad_b(T, T, T, T g) const { return -g; }
};
struct MulFn {
  template <class T> FOVEA_HD T forward(T a, T b) const { return a * b; }
  template <class T> FOVEA_HD T grad_a(T, T b, T, T g) const { return g * b; }
  template <class T> FOVEA_HD T grad_b(T a, T, T, T g) const { return g * a; }
};
struct DivFn {
  template <class T> FOVEA_HD T forward(T a, T b) const { return a / b; }
  template <class T> FOVEA_HD T grad_a(T, T b, T, T g) const { return g / b; }
  template <class T> FOVEA_HD T grad_b(T, T b, T y, T g) const { return -g * y / b; }
};
// pow(a, b) = a^b: d/da = b a^(b-1), d/db = a^b log a (only defined for a > 0).
struct PowFn {
  template <class T> FOVEA_HD T forward(T a, T b) const { return fm::pow(a, b); }
  template <class T> FOVEA_HD T grad_a(T a, T b, T, T g) const {
    return b == T(0) ? T(0) : g * b * fm::pow(a, b - T(1));
  }
  template <class T> FOVEA_HD T grad_b(T a, T, T y, T g) const {
    return a == T(0) ? T(0) : g * y * fm::log(a);
  }
};
struct MaximumFn {
  template <class T> FOVEA_HD T forward(T a, T b) const { return a > b || a != a ? a : b; }
  template <class T> FOVEA_HD T grad_a(T a, T b, T, T g) const {
    return a > b ? g : (a == b ? g / T(2) : T(0));
  }
  template <class T> FOVEA_HD T grad_b(T a, T b, T, T g) const {
    return b > a ? g : (a == b ? g / T(2) : T(0));
  }
};
struct MinimumFn {
  template <class T> FOVEA_HD T forward(T a, T b) const { return a < b || a != a ? a : b; }
  template <class T> FOVEA_HD T grad_a(T a, T b, T, T g) const {
    return a < b ? g : (a == b ? g / T(2) : T(0));
  }
  template <class T> FOVEA_HD T grad_b(T a, T b, T, T g) const {
    return b < a ? g : (a == b ? g / T(2) : T(0));
  }
};

// Comparisons share one functor; backward is never called (no gradient).
struct CompareFn {
  BinaryKind kind;
  template <class T> FOVEA_HD T forward(T a, T b) const {
    bool r = false;
    switch (kind) {
      case BinaryKind::Eq: r = a == b; break;
      case BinaryKind::Ne: r = a != b; break;
      case BinaryKind::Lt: r = a < b; break;
      case BinaryKind::Le: r = a <= b; break;
      case BinaryKind::Gt: r = a > b; break;
      default: r = a >= b; break;
    }
    return r ? T(1) : T(0);
  }
  template <class T> FOVEA_HD T grad_a(T, T, T, T) const { return T(0); }
  template <class T> FOVEA_HD T grad_b(T, T, T, T) const { return T(0); }
};

template <typename F>
inline decltype(auto) visit_binary(BinaryKind kind, F&& f) {
  switch (kind) {
    case BinaryKind::Add: return f(AddFn{});
    case BinaryKind::Sub: return f(SubFn{});
    case BinaryKind::Mul: return f(MulFn{});
    case BinaryKind::Div: return f(DivFn{});
    case BinaryKind::Pow: return f(PowFn{});
    case BinaryKind::Maximum: return f(MaximumFn{});
    case BinaryKind::Minimum: return f(MinimumFn{});
    default: break;
  }
  return f(CompareFn{kind});
}

}  // namespace fovea
