#include "engine/cpu/binary.h"

#include "engine/cpu/loops.h"

namespace fovea {

KernelSlot<void(BinaryKind, const Tensor&, const Tensor&, const Tensor&)> binary_forward_kernel{
    "binary_forward", &binary_forward_cpu};
KernelSlot<void(BinaryKind, int, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                const Tensor&)>
    binary_backward_kernel{"binary_backward", &binary_backward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&)> where_forward_kernel{
    "where_forward", &where_forward_cpu};

namespace {

Shape strides_in(const Tensor& t, const Shape& shape) {
  return broadcast_strides(t.shape(), t.strides(), shape);
}

template <typename T, typename F>
void forward_typed(F f, const Tensor& out, const Tensor& a, const Tensor& b) {
  T* o = out.data<T>();
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  const Shape& s = out.shape();
  for_each_strided<3>(s, {out.strides(), strides_in(a, s), strides_in(b, s)},
                      [&](auto off, int64_t n, auto st) {
    T* po = o + off[0];
    const T* x = pa + off[1];
    const T* y = pb + off[2];
    if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
      for (int64_t i = 0; i < n; ++i) po[i] = f.template forward<T>(x[i], y[i]);
    } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
      const T yv = *y;
      for (int64_t i = 0; i < n; ++i) po[i] = f.template forward<T>(x[i], yv);
    } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
      const T xv = *x;
      for (int64_t i = 0; i < n; ++i) po[i] = f.template forward<T>(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        po[i * st[0]] = f.template forward<T>(x[i * st[1]], y[i * st[2]]);
    }
  });
}

template <typename T, typename F>
void backward_typed(F f, int side, const Tensor& ge, const Tensor& a, const Tensor& b,
                    const Tensor& y, const Tensor& g) {
  const Shape& s = ge.shape();
  const Tensor& yy = y.defined() ? y : g;  // placeholder read when f ignores y
  T* o = ge.data<T>();
  const T *pa = a.data<T>(), *pb = b.data<T>(), *py = yy.data<T>(), *pg = g.data<T>();
  for_each_strided<5>(s, {ge.strides(), strides_in(a, s), strides_in(b, s), strides_in(yy, s),
                          strides_in(g, s)},
                      [&](auto off, int64_t n, auto st) {
    for (int64_t i = 0; i < n; ++i) {
      const T av = pa[off[1] + i * st[1]], bv = pb[off[2] + i * st[2]];
      const T yv = py[off[3] + i * st[3]], gv = pg[off[4] + i * st[4]];
      o[off[0] + i * st[0]] =
          side == 0 ? f.template grad_a<T>(av, bv, yv, gv) : f.template grad_b<T>(av, bv, yv, gv);
    }
  });
}

}  // namespace

void binary_forward_cpu(BinaryKind kind, const Tensor& out, const Tensor& a, const Tensor& b) {
  if (out.dtype() == DType::Int64) {
    switch (kind) {
      case BinaryKind::Add: return forward_typed<int64_t>(AddFn{}, out, a, b);
      case BinaryKind::Sub: return forward_typed<int64_t>(SubFn{}, out, a, b);
      case BinaryKind::Mul: return forward_typed<int64_t>(MulFn{}, out, a, b);
      case BinaryKind::Maximum: return forward_typed<int64_t>(MaximumFn{}, out, a, b);
      case BinaryKind::Minimum: return forward_typed<int64_t>(MinimumFn{}, out, a, b);
      default:
        FOVEA_CHECK(binary_is_comparison(kind), binary_name(kind),
                    ": not defined for int64 tensors (convert to float first)");
        return forward_typed<int64_t>(CompareFn{kind}, out, a, b);
    }
  }
  FOVEA_DISPATCH_FLOAT(out.dtype(), binary_name(kind), [&] {
    visit_binary(kind, [&](auto f) { forward_typed<scalar_t>(f, out, a, b); });
  });
}

void binary_backward_cpu(BinaryKind kind, int side, const Tensor& grad_elem, const Tensor& a,
                         const Tensor& b, const Tensor& y, const Tensor& g) {
  FOVEA_DISPATCH_FLOAT(grad_elem.dtype(), binary_name(kind), [&] {
    visit_binary(kind, [&](auto f) { backward_typed<scalar_t>(f, side, grad_elem, a, b, y, g); });
  });
}

void where_forward_cpu(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  FOVEA_DISPATCH_ALL(out.dtype(), "where", [&] {
    using T = scalar_t;
    FOVEA_DISPATCH_ALL(cond.dtype(), "where", [&] {
      using C = scalar_t;
      const Shape& s = out.shape();
      T* o = out.data<T>();
      const C* pc = cond.data<C>();
      const T *pa = a.data<T>(), *pb = b.data<T>();
      for_each_strided<4>(s, {out.strides(), strides_in(cond, s), strides_in(a, s),
                              strides_in(b, s)},
                          [&](auto off, int64_t n, auto st) {
        for (int64_t i = 0; i < n; ++i)
          o[off[0] + i * st[0]] = pc[off[1] + i * st[1]] != C(0) ? pa[off[2] + i * st[2]]
                                                                  : pb[off[3] + i * st[3]];
      });
    });
  });
}

}  // namespace fovea
