#include "engine/cpu/norm.h"

#include "engine/cpu/accumulate.h"
#include "engine/kernels/norm.h"

#include <type_traits>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/core/parallel.h"

namespace fovea {

KernelSlot<BatchNormForwardFn> batch_norm_forward_kernel{"batch_norm_forward",
                                                         &batch_norm_forward_cpu};
KernelSlot<BatchNormBackwardFn> batch_norm_backward_kernel{"batch_norm_backward",
                                                           &batch_norm_backward_cpu};
KernelSlot<GroupedNormForwardFn> group_norm_forward_kernel{"group_norm_forward",
                                                           &group_norm_forward_cpu};
KernelSlot<GroupedNormBackwardFn> group_norm_backward_kernel{"group_norm_backward",
                                                             &group_norm_backward_cpu};
KernelSlot<GroupedNormForwardFn> layer_norm_forward_kernel{"layer_norm_forward",
                                                           &layer_norm_forward_cpu};
KernelSlot<GroupedNormBackwardFn> layer_norm_backward_kernel{"layer_norm_backward",
                                                             &layer_norm_backward_cpu};

namespace {

namespace nk = norm_kernels;  // the formulas, shared with cuda/norm.cu

using norm_kernels::Dims;
using norm_kernels::dims_of;

// Which mean/rstd entry element (n, c, s) uses, one functor per op; the kernels below are
// written once over this choice.
struct PerChannel {  // batch_norm
  int64_t operator()(int64_t, int64_t c) const { return c; }
};
struct PerGroup {  // group_norm
  int64_t groups, per_group;
  int64_t operator()(int64_t n, int64_t c) const { return n * groups + c / per_group; }
};
struct PerRow {  // layer_norm: one group per row, so no division per element
  int64_t operator()(int64_t n, int64_t) const { return n; }
};

Tensor contiguous_if_defined(const Tensor& t) { return t.defined() ? t.contiguous() : Tensor(); }

template <typename T>
T* ptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Calls body(len) with len = S, or with the compile-time constant 1 when S == 1 (batch_norm on
// [N, C], layer_norm), so that loops over runs of one element compile to straight-line code.
template <typename Body>
void with_run_length(int64_t s, Body&& body) {
  if (s == 1)
    body(std::integral_constant<int64_t, 1>{});
  else
    body(s);
}

// Calls fn(n, c, offset, len) for the run of len = S elements of every (n, c), split across
// threads.
template <typename Fn>
void for_each_run(const Dims& d, int64_t cost_per_element, Fn&& fn) {
  with_run_length(d.s, [&](auto len) {
    parallel_for(d.n * d.c, d.s * cost_per_element, [&](int64_t b, int64_t e) {
      int64_t n = b / d.c, c = b % d.c;
      for (int64_t p = b; p < e; ++p) {
        fn(n, c, p * len, len);
        if (++c == d.c) c = 0, ++n;
      }
    });
  });
}

// Calls fn(n, c, offset, len) for the runs of channels [c0, c1) in memory order (n outer), so
// that a thread owning those channels reads contiguous stretches even when S is small.
template <typename Fn>
void walk_channels(const Dims& d, int64_t c0, int64_t c1, Fn&& fn) {
  with_run_length(d.s, [&](auto len) {
    for (int64_t n = 0; n < d.n; ++n)
      for (int64_t c = c0; c < c1; ++c) fn(n, c, (n * d.c + c) * len, len);
  });
}

// Mean and sum of squared deviations, two passes in double.
struct Moments {
  double mean = 0, m2 = 0;
};

// Of one contiguous group (group_norm, layer_norm).
template <typename T>
Moments row_moments(const T* p, int64_t len) {
  const double mean = sum4(len, [&](int64_t k) { return double(p[k]); }) / double(len);
  return {mean, sum4(len, [&](int64_t k) { return nk::squared_deviation(double(p[k]), mean); })};
}

// Of every channel over (n, s) (batch_norm); threads split the channels.
template <typename T>
std::vector<Moments> channel_moments(const T* x, const Dims& d) {
  std::vector<Moments> mo(size_t(d.c));
  const double count = double(d.n * d.s);
  parallel_for(d.c, 2 * d.n * d.s, [&](int64_t c0, int64_t c1) {
    walk_channels(d, c0, c1, [&](int64_t, int64_t c, int64_t off, auto len) {
      mo[size_t(c)].mean += sum4(len, [&](int64_t k) { return double(x[off + k]); });
    });
    for (int64_t c = c0; c < c1; ++c) mo[size_t(c)].mean /= count;
    walk_channels(d, c0, c1, [&](int64_t, int64_t c, int64_t off, auto len) {
      const double mu = mo[size_t(c)].mean;
      mo[size_t(c)].m2 +=
          sum4(len, [&](int64_t k) { return nk::squared_deviation(double(x[off + k]), mu); });
    });
  });
  return mo;
}

// y = (x - mean) * rstd * w + b; (x - mean) first, so a large mean does not cancel in T.
template <typename T, typename Stat>
void normalize_affine(const T* x, const T* mean, const T* rstd, const T* w, const T* b, T* y,
                      const Dims& d, Stat stat) {
  for_each_run(d, 2, [&](int64_t n, int64_t c, int64_t off, auto len) {
    const int64_t i = stat(n, c);
    const T mu = mean[i], scale = nk::affine_scale(rstd[i], w, c), shift = b ? b[c] : T(0);
    for (int64_t s = 0; s < len; ++s) y[off + s] = nk::normalize(x[off + s], mu, scale, shift);
  });
}

// Per channel c: g = sum g and gxh = sum g x^ over all (n, s); threads split the channels.
struct ChannelSums {
  std::vector<double> g, gxh;
};
template <typename T, typename Stat>
ChannelSums channel_sums(const T* x, const T* g, const T* mean, const T* rstd, const Dims& d,
                         Stat stat) {
  ChannelSums sums{std::vector<double>(size_t(d.c)), std::vector<double>(size_t(d.c))};
  parallel_for(d.c, 2 * d.n * d.s, [&](int64_t c0, int64_t c1) {
    walk_channels(d, c0, c1, [&](int64_t n, int64_t c, int64_t off, auto len) {
      const int64_t i = stat(n, c);
      const double mu = mean[i];
      const T *xs = x + off, *gs = g + off;
      sums.g[size_t(c)] += sum4(len, [&](int64_t k) { return double(gs[k]); });
      sums.gxh[size_t(c)] +=
          sum4(len, [&](int64_t k) { return double(gs[k]) * (double(xs[k]) - mu); }) *
          double(rstd[i]);
    });
  });
  return sums;
}

template <typename T>
void write_param_grads(const ChannelSums& sums, const Tensor& dweight, const Tensor& dbias) {
  T *dw = ptr<T>(dweight), *db = ptr<T>(dbias);
  for (size_t c = 0; c < sums.g.size(); ++c) {
    if (dw) dw[c] = T(sums.gxh[c]);
    if (db) db[c] = T(sums.g[c]);
  }
}

// ---- batch_norm --------------------------------------------------------------------------

template <typename T>
void bn_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                const Tensor& mean, const Tensor& rstd, bool training, double momentum,
                double eps) {
  const Dims d = dims_of(x.shape());
  const T* px = x.data<T>();
  T *pm = mean.data<T>(), *pr = rstd.data<T>();
  T *rm = ptr<T>(running_mean), *rv = ptr<T>(running_var);
  const int64_t srm = rm ? running_mean.strides()[0] : 0, srv = rv ? running_var.strides()[0] : 0;
  if (training) {
    const int64_t m = d.n * d.s;
    const std::vector<Moments> mo = channel_moments(px, d);
    // Serial: C values only, and the running stats may be any (even overlapping) view.
    for (int64_t c = 0; c < d.c; ++c) {
      const Moments s = mo[size_t(c)];
      const nk::Stats<T> st = nk::batch_stats<T>(s.mean, s.m2, double(m), eps);
      pm[c] = st.mean;
      pr[c] = st.rstd;
      nk::update_running(rm ? rm + c * srm : nullptr, rv ? rv + c * srv : nullptr, s.mean, s.m2,
                         double(m), momentum);
    }
  } else {
    for (int64_t c = 0; c < d.c; ++c) {
      const nk::Stats<T> st = nk::running_stats(rm[c * srm], rv[c * srv], eps);
      pm[c] = st.mean;
      pr[c] = st.rstd;
    }
  }
  normalize_affine(px, pm, pr, ptr<T>(weight), ptr<T>(bias), y.data<T>(), d, PerChannel{});
}

template <typename T>
void bn_backward(const Tensor& x, const Tensor& g, const Tensor& mean, const Tensor& rstd,
                 const Tensor& weight, const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                 bool training) {
  const Dims d = dims_of(x.shape());
  const T *px = x.data<T>(), *pg = g.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>(),
          *pw = ptr<T>(weight);
  ChannelSums sums;
  if (training || dweight.defined() || dbias.defined()) {
    sums = channel_sums(px, pg, pm, pr, d, PerChannel{});
    write_param_grads<T>(sums, dweight, dbias);
  }
  if (!dx.defined()) return;
  // Per channel: dx = a (g - k1 - (x - mean) k2) in training, a g in eval (nk::BatchNormGrad).
  std::vector<nk::BatchNormGrad<T>> grad(size_t(d.c));
  const double m = double(d.n * d.s);
  for (size_t c = 0; c < grad.size(); ++c)
    grad[c] = nk::batch_norm_grad(pr[c], pw ? pw[c] : T(1), training ? sums.g[c] : 0.0,
                                  training ? sums.gxh[c] : 0.0, m, training);
  T* pd = dx.data<T>();
  for_each_run(d, 3, [&](int64_t, int64_t c, int64_t off, auto len) {
    const nk::BatchNormGrad<T> gc = grad[size_t(c)];
    const T mu = pm[c];
    if (!training) {
      for (int64_t s = 0; s < len; ++s) pd[off + s] = gc.dx(pg[off + s], T(0), mu, false);
      return;
    }
    for (int64_t s = 0; s < len; ++s) pd[off + s] = gc.dx(pg[off + s], px[off + s], mu, true);
  });
}

// ---- group_norm and layer_norm: statistics per row r = n * G + group of [N * G, C/G * S] ---

template <typename T, typename Stat>
void grouped_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y,
                     const Tensor& mean, const Tensor& rstd, const Dims& d, int64_t groups,
                     double eps, Stat stat) {
  const T* px = x.data<T>();
  T *pm = mean.data<T>(), *pr = rstd.data<T>();
  const int64_t len = d.c / groups * d.s;
  parallel_for(d.n * groups, 2 * len, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const Moments s = row_moments(px + r * len, len);
      const nk::Stats<T> st = nk::batch_stats<T>(s.mean, s.m2, double(len), eps);
      pm[r] = st.mean;
      pr[r] = st.rstd;
    }
  });
  normalize_affine(px, pm, pr, ptr<T>(weight), ptr<T>(bias), y.data<T>(), d, stat);
}

template <typename T, typename Stat>
void grouped_backward(const Tensor& x, const Tensor& g, const Tensor& mean, const Tensor& rstd,
                      const Tensor& weight, const Tensor& dx, const Tensor& dweight,
                      const Tensor& dbias, const Dims& d, int64_t groups, Stat stat) {
  const T *px = x.data<T>(), *pg = g.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>(),
          *pw = ptr<T>(weight);
  if (dweight.defined() || dbias.defined())
    write_param_grads<T>(channel_sums(px, pg, pm, pr, d, stat), dweight, dbias);
  if (!dx.defined()) return;
  T* pd = dx.data<T>();
  const int64_t per_group = d.c / groups, len = per_group * d.s;
  with_run_length(d.s, [&](auto run) {
    parallel_for(d.n * groups, 4 * len, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t c0 = (r % groups) * per_group, off = r * len;
        const T *xr = px + off, *gr = pg + off;
        const double mu = pm[r];
        auto wc = [&](int64_t j) { return pw ? double(pw[c0 + j]) : 1.0; };
        const double sum_wg = sum4(per_group, [&](int64_t j) {
          return wc(j) * sum4(run, [&](int64_t s) { return double(gr[j * run + s]); });
        });
        const double sum_wgx = sum4(per_group, [&](int64_t j) {
          return wc(j) * sum4(run, [&](int64_t s) {
                   const int64_t k = j * run + s;
                   return double(gr[k]) * (double(xr[k]) - mu);
                 });
        });
        const nk::GroupedNormGrad<T> gc =
            nk::grouped_norm_grad(pr[r], pm[r], sum_wg, sum_wgx, double(len));
        for (int64_t j = 0; j < per_group; ++j) {
          const T wc = pw ? pw[c0 + j] : T(1);
          for (int64_t s = j * run; s < (j + 1) * run; ++s) pd[off + s] = gc.dx(wc, gr[s], xr[s]);
        }
      }
    });
  });
}

// layer_norm's [*, D] as group_norm's [N, C, S] with C = D, S = 1 and one group.
Dims layer_norm_dims(const Tensor& x, int64_t normalized) {
  return {normalized == 0 ? 0 : x.numel() / normalized, normalized, 1};
}

}  // namespace

void batch_norm_forward_cpu(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in,
                            const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                            const Tensor& mean, const Tensor& rstd, bool training, double momentum,
                            double eps) {
  NoGradGuard no_grad;  // layout plumbing, never part of the graph
  const Tensor x = x_in.contiguous(), w = contiguous_if_defined(weight_in),
               b = contiguous_if_defined(bias_in);
  FOVEA_DISPATCH_FLOAT(x.dtype(), "batch_norm", [&] {
    bn_forward<scalar_t>(x, w, b, running_mean, running_var, y, mean, rstd, training, momentum,
                         eps);
  });
}

void batch_norm_backward_cpu(const Tensor& x_in, const Tensor& g_in, const Tensor& mean,
                             const Tensor& rstd, const Tensor& weight_in, const Tensor& dx,
                             const Tensor& dweight, const Tensor& dbias, bool training) {
  NoGradGuard no_grad;
  const Tensor x = x_in.contiguous(), g = g_in.contiguous(), w = contiguous_if_defined(weight_in);
  FOVEA_DISPATCH_FLOAT(x.dtype(), "batch_norm", [&] {
    bn_backward<scalar_t>(x, g, mean, rstd, w, dx, dweight, dbias, training);
  });
}

void group_norm_forward_cpu(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in,
                            const Tensor& y, const Tensor& mean, const Tensor& rstd, int64_t groups,
                            double eps) {
  NoGradGuard no_grad;
  const Tensor x = x_in.contiguous(), w = contiguous_if_defined(weight_in),
               b = contiguous_if_defined(bias_in);
  const Dims d = dims_of(x.shape());
  FOVEA_DISPATCH_FLOAT(x.dtype(), "group_norm", [&] {
    grouped_forward<scalar_t>(x, w, b, y, mean, rstd, d, groups, eps,
                              PerGroup{groups, d.c / groups});
  });
}

void group_norm_backward_cpu(const Tensor& x_in, const Tensor& g_in, const Tensor& mean,
                             const Tensor& rstd, const Tensor& weight_in, const Tensor& dx,
                             const Tensor& dweight, const Tensor& dbias, int64_t groups) {
  NoGradGuard no_grad;
  const Tensor x = x_in.contiguous(), g = g_in.contiguous(), w = contiguous_if_defined(weight_in);
  const Dims d = dims_of(x.shape());
  FOVEA_DISPATCH_FLOAT(x.dtype(), "group_norm", [&] {
    grouped_backward<scalar_t>(x, g, mean, rstd, w, dx, dweight, dbias, d, groups,
                               PerGroup{groups, d.c / groups});
  });
}

void layer_norm_forward_cpu(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in,
                            const Tensor& y, const Tensor& mean, const Tensor& rstd,
                            int64_t normalized, double eps) {
  NoGradGuard no_grad;
  const Tensor x = x_in.contiguous(), w = contiguous_if_defined(weight_in),
               b = contiguous_if_defined(bias_in);
  FOVEA_DISPATCH_FLOAT(x.dtype(), "layer_norm", [&] {
    grouped_forward<scalar_t>(x, w, b, y, mean, rstd, layer_norm_dims(x, normalized), 1, eps,
                              PerRow{});
  });
}

void layer_norm_backward_cpu(const Tensor& x_in, const Tensor& g_in, const Tensor& mean,
                             const Tensor& rstd, const Tensor& weight_in, const Tensor& dx,
                             const Tensor& dweight, const Tensor& dbias, int64_t normalized) {
  NoGradGuard no_grad;
  const Tensor x = x_in.contiguous(), g = g_in.contiguous(), w = contiguous_if_defined(weight_in);
  FOVEA_DISPATCH_FLOAT(x.dtype(), "layer_norm", [&] {
    grouped_backward<scalar_t>(x, g, mean, rstd, w, dx, dweight, dbias,
                               layer_norm_dims(x, normalized), 1, PerRow{});
  });
}

}  // namespace fovea
