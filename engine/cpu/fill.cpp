#include "engine/cpu/fill.h"

#include "engine/cpu/loops.h"

namespace fovea {

KernelSlot<void(const Tensor&, double)> fill_kernel{"fill", &fill_cpu};
KernelSlot<void(const Tensor&, const Tensor&)> copy_kernel{"copy", &copy_cpu};

void fill_cpu(const Tensor& t, double value) {
  FOVEA_DISPATCH_ALL(t.dtype(), "fill", [&] {
    scalar_t* base = t.data<scalar_t>();
    const scalar_t v = static_cast<scalar_t>(value);
    for_each_strided<1>(t.shape(), {t.strides()}, [&](auto off, int64_t n, auto st) {
      scalar_t* p = base + off[0];
      if (st[0] == 1)
        for (int64_t i = 0; i < n; ++i) p[i] = v;
      else
        for (int64_t i = 0; i < n; ++i) p[i * st[0]] = v;
    });
  });
}

template <typename D, typename S>
static void copy_typed(const Tensor& dst, const Tensor& src) {
  D* d = dst.data<D>();
  const S* s = src.data<S>();
  const Shape sst = broadcast_strides(src.shape(), src.strides(), dst.shape());
  for_each_strided<2>(dst.shape(), {dst.strides(), sst}, [&](auto off, int64_t n, auto st) {
    D* pd = d + off[0];
    const S* ps = s + off[1];
    if (st[0] == 1 && st[1] == 1)
      for (int64_t i = 0; i < n; ++i) pd[i] = static_cast<D>(ps[i]);
    else
      for (int64_t i = 0; i < n; ++i) pd[i * st[0]] = static_cast<D>(ps[i * st[1]]);
  });
}

void copy_cpu(const Tensor& dst, const Tensor& src) {
  FOVEA_DISPATCH_ALL(dst.dtype(), "copy", [&] {
    using D = scalar_t;
    FOVEA_DISPATCH_ALL(src.dtype(), "copy", [&] { copy_typed<D, scalar_t>(dst, src); });
  });
}

}  // namespace fovea
