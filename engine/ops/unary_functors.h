// The math of every element-wise unary op, forward and backward side by side.
//
// A functor has
//   T forward(T x)            y = f(x)
//   T backward(T x, T y, T g) dL/dx given x, y = f(x) and g = dL/dy
// CPU kernels (engine/cpu/unary.cpp) and CUDA kernels call the same functors.
// Kinks follow PyTorch: relu'(0) = 0, relu6' = 0 at 0 and 6, abs'(0) = 0, clamp passes the
// gradient where min <= x <= max, hardswish' = (2x+3)/6 on [-3, 3] (so 1.5 at x = 3).
#pragma once

#include <cstdint>

#include "engine/ops/math.h"

namespace fovea {

enum class UnaryKind : uint8_t {
  Neg, Exp, Log, Sqrt, Abs, Sigmoid, Tanh, Relu, Relu6, Hardsigmoid, Hardswish, Silu, Gelu,
  Clamp,      // p0 = min, p1 = max
  PowScalar,  // p0 = exponent
};

// A unary op and its (at most two) scalar parameters.
struct UnaryOp {
  UnaryKind kind;
  double p0 = 0, p1 = 0;
};

const char* unary_name(UnaryKind kind);

struct NegFn {
  template <class T> FOVEA_HD T forward(T x) const { return -x; }
  template <class T> FOVEA_HD T backward(T, T, T g) const { return -g; }
};
struct ExpFn {
  template <class T> FOVEA_HD T forward(T x) const { return fm::exp(x); }
  template <class T> FOVEA_HD T backward(T, T y, T g) const { return g * y; }
};
struct LogFn {
  template <class T> FOVEA_HD T forward(T x) const { return fm::log(x); }
  template <class T> FOVEA_HD T backward(T x, T, T g) const { return g / x; }
};
struct SqrtFn {
  template <class T> FOVEA_HD T forward(T x) const { return fm::sqrt(x); }
  template <class T> FOVEA_HD T backward(T, T y, T g) const { return g / (T(2) * y); }
};
struct AbsFn {
  template <class T> FOVEA_HD T forward(T x) const { return fm::abs(x); }
  template <class T> FOVEA_HD T backward(T x, T, T g) const {
    return x > T(0) ? g : (x < T(0) ? -g : T(0));
  }
};
struct SigmoidFn {
  template <class T> FOVEA_HD T forward(T x) const { return T(1) / (T(1) + fm::exp(-x)); }
  template <class T> FOVEA_HD T backward(T, T y, T g) const { return g * y * (T(1) - y); }
};
struct TanhFn {
  template <class T> FOVEA_HD T forward(T x) const { return fm::tanh(x); }
  template <class T> FOVEA_HD T backward(T, T y, T g) const { return g * (T(1) - y * y); }
};
struct ReluFn {
  // NaN passes through, as in PyTorch (it must not vanish into a 0); -0 becomes 0.
  template <class T> FOVEA_HD T forward(T x) const { return x <= T(0) ? T(0) : x; }
  template <class T> FOVEA_HD T backward(T x, T, T g) const { return x > T(0) ? g : T(0); }
};
struct Relu6Fn {
  template <class T> FOVEA_HD T forward(T x) const {
    return x < T(0) ? T(0) : (x > T(6) ? T(6) : x);
  }
  template <class T> FOVEA_HD T backward(T x, T, T g) const {
    return (x > T(0) && x < T(6)) ? g : T(0);
  }
};
// hardsigmoid(x) = relu6(x + 3) / 6
struct HardsigmoidFn {
  template <class T> FOVEA_HD T forward(T x) const {
    return x <= T(-3) ? T(0) : (x >= T(3) ? T(1) : x / T(6) + T(0.5));
  }
  template <class T> FOVEA_HD T backward(T x, T, T g) const {
    return (x > T(-3) && x < T(3)) ? g / T(6) : T(0);
  }
};
// hardswish(x) = x * relu6(x + 3) / 6
struct HardswishFn {
  template <class T> FOVEA_HD T forward(T x) const {
    return x <= T(-3) ? T(0) : (x >= T(3) ? x : x * (x + T(3)) / T(6));
  }
  template <class T> FOVEA_HD T backward(T x, T, T g) const {
    return x < T(-3) ? T(0) : (x <= T(3) ? g * (x / T(3) + T(0.5)) : g);
  }
};
// silu(x) = x * sigmoid(x);  silu' = s * (1 + x * (1 - s))
struct SiluFn {
  template <class T> FOVEA_HD T forward(T x) const { return x / (T(1) + fm::exp(-x)); }
  template <class T> FOVEA_HD T backward(T x, T, T g) const {
    const T s = T(1) / (T(1) + fm::exp(-x));
    return g * s * (T(1) + x * (T(1) - s));
  }
};
// gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2));  gelu' = Phi(x) + x * phi(x)
struct GeluFn {
  template <class T> FOVEA_HD T forward(T x) const {
    return T(0.5) * x * (T(1) + fm::erf(x * T(0.70710678118654752440)));
  }
  template <class T> FOVEA_HD T backward(T x, T, T g) const {
    const T cdf = T(0.5) * (T(1) + fm::erf(x * T(0.70710678118654752440)));
    const T pdf = T(0.39894228040143267794) * fm::exp(T(-0.5) * x * x);
    return g * (cdf + x * pdf);
  }
};
struct ClampFn {
  double lo, hi;
  template <class T> FOVEA_HD T forward(T x) const {
    return x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x);
  }
  template <class T> FOVEA_HD T backward(T x, T, T g) const {
    return (x >= T(lo) && x <= T(hi)) ? g : T(0);
  }
};
struct PowScalarFn {
  double p;
  template <class T> FOVEA_HD T forward(T x) const { return fm::pow(x, T(p)); }
  template <class T> FOVEA_HD T backward(T x, T, T g) const {
    return p == 0 ? T(0) : g * T(p) * fm::pow(x, T(p - 1));
  }
};

// Calls f(functor) with the functor for `op` (host code: CUDA launchers pick a kernel with it).
template <typename F>
inline decltype(auto) visit_unary(const UnaryOp& op, F&& f) {
  switch (op.kind) {
    case UnaryKind::Neg: return f(NegFn{});
    case UnaryKind::Exp: return f(ExpFn{});
    case UnaryKind::Log: return f(LogFn{});
    case UnaryKind::Sqrt: return f(SqrtFn{});
    case UnaryKind::Abs: return f(AbsFn{});
    case UnaryKind::Sigmoid: return f(SigmoidFn{});
    case UnaryKind::Tanh: return f(TanhFn{});
    case UnaryKind::Relu: return f(ReluFn{});
    case UnaryKind::Relu6: return f(Relu6Fn{});
    case UnaryKind::Hardsigmoid: return f(HardsigmoidFn{});
    case UnaryKind::Hardswish: return f(HardswishFn{});
    case UnaryKind::Silu: return f(SiluFn{});
    case UnaryKind::Gelu: return f(GeluFn{});
    case UnaryKind::Clamp: return f(ClampFn{op.p0, op.p1});
    case UnaryKind::PowScalar: break;
  }
  return f(PowScalarFn{op.p0});
}

}  // namespace fovea
