#include "engine/cpu/unary.h"

#include "engine/cpu/loops.h"

namespace fovea {

KernelSlot<void(const UnaryOp&, const Tensor&, const Tensor&)> unary_forward_kernel{
    "unary_forward", &unary_forward_cpu};
KernelSlot<void(const UnaryOp&, const Tensor&, const Tensor&, const Tensor&, const Tensor&)>
    unary_backward_kernel{"unary_backward", &unary_backward_cpu};

void unary_forward_cpu(const UnaryOp& op, const Tensor& y, const Tensor& x) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), unary_name(op.kind), [&] {
    using T = scalar_t;
    T* py = y.data<T>();
    const T* px = x.data<T>();
    visit_unary(op, [&](auto f) {
      for_each_strided<2>(y.shape(), {y.strides(), x.strides()}, [&](auto off, int64_t n, auto st) {
        T* o = py + off[0];
        const T* i = px + off[1];
        if (st[0] == 1 && st[1] == 1)
          for (int64_t k = 0; k < n; ++k) o[k] = f.template forward<T>(i[k]);
        else
          for (int64_t k = 0; k < n; ++k) o[k * st[0]] = f.template forward<T>(i[k * st[1]]);
      });
    });
  });
}

void unary_backward_cpu(const UnaryOp& op, const Tensor& dx, const Tensor& x, const Tensor& y,
                        const Tensor& g) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), unary_name(op.kind), [&] {
    using T = scalar_t;
    T* pd = dx.data<T>();
    const T *px = x.data<T>(), *py = y.data<T>(), *pg = g.data<T>();
    visit_unary(op, [&](auto f) {
      for_each_strided<4>(dx.shape(), {dx.strides(), x.strides(), y.strides(), g.strides()},
                          [&](auto off, int64_t n, auto st) {
        for (int64_t k = 0; k < n; ++k)
          pd[off[0] + k * st[0]] = f.template backward<T>(
              px[off[1] + k * st[1]], py[off[2] + k * st[2]], pg[off[3] + k * st[3]]);
      });
    });
  });
}

}  // namespace fovea
