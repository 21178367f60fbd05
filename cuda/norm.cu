// CUDA twins of the normalisation slots (engine/cpu/norm.h): batch_norm, group_norm and
// layer_norm, forward and backward, float32 with double statistics like the CPU kernels. The
// formulas are engine/kernels/norm.h's, which the CPU kernels call too.
//
// Shapes: x is made contiguous and seen as [N, C, S] (S = the product of the dims after 1);
// layer_norm's [*, D] is [rows, D, 1] with one group. mean and rstd are [C] (batch_norm),
// [N, G] (group_norm) or [rows] (layer_norm), written in float32 for backward.
//   forward   mean, m2 = sum (x - mean)^2 (two passes, double), rstd = 1 / sqrt(m2 / m + eps),
//             y = (x - mean) * (rstd * w[c]) + b[c]
//   backward  batch_norm: dx = w rstd (g - sum g / m - x^ sum g x^ / m)  (training),
//                         dx = w rstd g (eval);
//             group/layer_norm: dx = rstd (w g - sum w g / m - x^ sum w g x^ / m) per group;
//             dweight[c] = sum g x^, dbias[c] = sum g over every element of channel c
//             (written, not accumulated, as on the CPU).
//
// Kernels, each deterministic (block_reduce_sum's fixed order, no atomics), each block owning
// whole statistics so that no second pass over partial sums is needed:
//   bn_forward_k          one block per channel: statistics over (n, s), the running-stat
//                         update, then y for the channel (eval: the running stats instead)
//   bn_backward_k         one block per channel: sum g and sum g x^, dweight/dbias, then dx
//   grouped_forward_k     one block per row (n, group) of [N * G, C / G * S]: statistics, y
//   grouped_backward_k    one block per row: sum w g and sum w g (x - mean), then dx
//   channel_param_grads_k group_norm's dweight/dbias: one block per channel c over (n, s),
//                         each element scaled by its own row's rstd
//   column_param_grads_k  the same when S = 1 (layer_norm, group_norm on [N, C]): a block per
//                         32 adjacent columns, its warps splitting the rows, so that reads
//                         coalesce
// The block size follows the number of elements a block walks (32, 128 or 512 threads), so
// that short rows (layer_norm over a few features, instance norm of small maps) do not leave
// most threads idle.
//
// Running statistics may be any view (the CPU updates them serially): when two updates might
// touch the same element (a stride-0 view, or running_mean and running_var sharing storage)
// the blocks leave their double moments in a scratch buffer and one thread applies the updates
// in channel order, as the CPU does.
#include <type_traits>

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/cpu/norm.h"
#include "engine/kernels/norm.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"
#include "cuda/block_reduce.cuh"

FOVEA_CUDA_BEGIN

namespace {

namespace nk = ::fovea::norm_kernels;

constexpr unsigned kMaxGrid = 4096;  // blocks beyond it loop (block-uniformly) over more units

// A thread's flat indices j = start, start + step, ..., each split as j = hi * lo_size + lo
// without a 64-bit division per step (hi: n in a channel walk, the channel in a group row;
// lo: s). The caller bounds `flat`; lo_size 0 (an empty tensor) divides by nothing.
struct SplitIndex {
  int64_t flat, hi, lo, dhi, dlo, lo_size;
  __device__ SplitIndex(int64_t start, int64_t step, int64_t lo_size_)
      : flat(start),
        hi(lo_size_ > 0 ? start / lo_size_ : 0),
        lo(lo_size_ > 0 ? start % lo_size_ : 0),
        dhi(lo_size_ > 0 ? step / lo_size_ : 0),
        dlo(lo_size_ > 0 ? step % lo_size_ : 0),
        lo_size(lo_size_) {}
  __device__ void advance(int64_t step) {
    flat += step;
    hi += dhi;
    lo += dlo;
    if (lo >= lo_size) {
      lo -= lo_size;
      ++hi;
    }
  }
};

// Calls f(offset, n) for this thread's share of channel c's N * S elements of a contiguous
// [N, C, S] tensor; offset = (n C + c) S + s.
template <int BLOCK, class F>
__device__ __forceinline__ void for_channel(int64_t c, int64_t n, int64_t channels, int64_t s,
                                            F&& f) {
  for (SplitIndex j(threadIdx.x, BLOCK, s); j.flat < n * s; j.advance(BLOCK))
    f((j.hi * channels + c) * s + j.lo, j.hi);
}

// Calls f(k, c) for this thread's share of the len = per_group * S elements of a group row
// starting at channel c0: k the index in the row, c = c0 + k / S its channel.
template <int BLOCK, class F>
__device__ __forceinline__ void for_row(int64_t len, int64_t c0, int64_t s, F&& f) {
  for (SplitIndex k(threadIdx.x, BLOCK, s); k.flat < len; k.advance(BLOCK)) f(k.flat, c0 + k.hi);
}

// The grid for `units` blocks (at least 1 so that a launch is valid; kernels loop to `units`).
unsigned grid_for(int64_t units) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>(units, kMaxGrid)));
}

// Runs body(std::integral_constant<int, BLOCK>) with a block size for `per_block` elements.
template <class Body>
void with_block(int64_t per_block, Body&& body) {
  if (per_block <= 64)
    body(std::integral_constant<int, 32>{});
  else if (per_block <= 2048)
    body(std::integral_constant<int, 128>{});
  else
    body(std::integral_constant<int, 512>{});
}

// ---- batch_norm ----------------------------------------------------------------------------

struct BnForwardArgs {
  const float *x, *w, *b;
  float *running_mean, *running_var;  // null when not tracked
  int64_t rm_stride, rv_stride;
  float *y, *mean, *rstd;
  double* moments;  // [C, 2] (mean, m2) for the serial running update, or null
  int64_t n, c, s;
  bool training, update_in_block;
  double momentum, eps;
};

template <int BLOCK>
__global__ void __launch_bounds__(BLOCK) bn_forward_k(BnForwardArgs a) {
  const double m = double(a.n * a.s);
  for (int64_t c = blockIdx.x; c < a.c; c += gridDim.x) {  // block-uniform
    nk::Stats<float> st;
    if (a.training) {  // a kernel argument: block-uniform
      double acc = 0;
      for_channel<BLOCK>(c, a.n, a.c, a.s, [&](int64_t off, int64_t) { acc += a.x[off]; });
      const double mean = block_reduce_sum<BLOCK>(acc) / m;
      acc = 0;
      for_channel<BLOCK>(c, a.n, a.c, a.s, [&](int64_t off, int64_t) {
        acc += nk::squared_deviation(a.x[off], mean);
      });
      const double m2 = block_reduce_sum<BLOCK>(acc);
      st = nk::batch_stats<float>(mean, m2, m, a.eps);
      if (threadIdx.x == 0) {
        if (a.update_in_block)
          nk::update_running(a.running_mean ? a.running_mean + c * a.rm_stride : nullptr,
                             a.running_var ? a.running_var + c * a.rv_stride : nullptr, mean, m2,
                             m, a.momentum);
        if (a.moments) {
          a.moments[2 * c] = mean;
          a.moments[2 * c + 1] = m2;
        }
      }
    } else {
      st = nk::running_stats(a.running_mean[c * a.rm_stride], a.running_var[c * a.rv_stride],
                             a.eps);
    }
    if (threadIdx.x == 0) {
      a.mean[c] = st.mean;
      a.rstd[c] = st.rstd;
    }
    const float scale = nk::affine_scale(st.rstd, a.w, c), shift = a.b ? a.b[c] : 0.0f;
    for_channel<BLOCK>(c, a.n, a.c, a.s, [&](int64_t off, int64_t) {
      a.y[off] = nk::normalize(a.x[off], st.mean, scale, shift);
    });
  }
}

// The running-stat updates in channel order, for views whose updates may overlap.
__global__ void bn_update_running_serial_k(const double* moments, float* running_mean,
                                           int64_t rm_stride, float* running_var,
                                           int64_t rv_stride, int64_t channels, double m,
                                           double momentum) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;  // no barrier in this kernel
  for (int64_t c = 0; c < channels; ++c)
    nk::update_running(running_mean ? running_mean + c * rm_stride : nullptr,
                       running_var ? running_var + c * rv_stride : nullptr, moments[2 * c],
                       moments[2 * c + 1], m, momentum);
}

struct BnBackwardArgs {
  const float *x, *g, *mean, *rstd, *w;
  float *dx, *dw, *db;  // each may be null
  int64_t n, c, s;
  bool training;
};

template <int BLOCK>
__global__ void __launch_bounds__(BLOCK) bn_backward_k(BnBackwardArgs a) {
  const double m = double(a.n * a.s);
  const bool sums = a.training || a.dw || a.db;  // block-uniform
  for (int64_t c = blockIdx.x; c < a.c; c += gridDim.x) {
    const float mu = a.mean[c], rs = a.rstd[c];
    double sum_g = 0, sum_gxh = 0;
    if (sums) {
      double acc_g = 0, acc_gx = 0;
      for_channel<BLOCK>(c, a.n, a.c, a.s, [&](int64_t off, int64_t) {
        const double g = a.g[off];
        acc_g += g;
        acc_gx += g * (double(a.x[off]) - double(mu));
      });
      sum_g = block_reduce_sum<BLOCK>(acc_g);
      // rstd is the same for the whole channel: applied once to the sum of g (x - mean).
      sum_gxh = block_reduce_sum<BLOCK>(acc_gx) * double(rs);
      if (threadIdx.x == 0) {
        if (a.dw) a.dw[c] = float(sum_gxh);
        if (a.db) a.db[c] = float(sum_g);
      }
    }
    if (a.dx) {
      const nk::BatchNormGrad<float> gc =
          nk::batch_norm_grad(rs, a.w ? a.w[c] : 1.0f, sum_g, sum_gxh, m, a.training);
      for_channel<BLOCK>(c, a.n, a.c, a.s, [&](int64_t off, int64_t) {
        a.dx[off] = gc.dx(a.g[off], a.x[off], mu, a.training);
      });
    }
  }
}

// ---- group_norm and layer_norm: rows r = n * G + group of [N * G, len = C / G * S] --------

struct GroupedArgs {
  const float *x, *g, *w, *b;  // g: backward only; b: forward only
  float *y, *mean, *rstd;      // y: forward's output, backward's dx (may be null there)
  int64_t rows, groups, per_group, s, len;
  double eps;
};

template <int BLOCK>
__global__ void __launch_bounds__(BLOCK) grouped_forward_k(GroupedArgs a) {
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {  // block-uniform
    const float* xr = a.x + r * a.len;
    double acc = 0;
    for (int64_t k = threadIdx.x; k < a.len; k += BLOCK) acc += xr[k];
    const double mean = block_reduce_sum<BLOCK>(acc) / double(a.len);
    acc = 0;
    for (int64_t k = threadIdx.x; k < a.len; k += BLOCK)
      acc += nk::squared_deviation(xr[k], mean);
    const nk::Stats<float> st =
        nk::batch_stats<float>(mean, block_reduce_sum<BLOCK>(acc), double(a.len), a.eps);
    if (threadIdx.x == 0) {
      a.mean[r] = st.mean;
      a.rstd[r] = st.rstd;
    }
    float* yr = a.y + r * a.len;
    for_row<BLOCK>(a.len, (r % a.groups) * a.per_group, a.s, [&](int64_t k, int64_t c) {
      yr[k] = nk::normalize(xr[k], st.mean, nk::affine_scale(st.rstd, a.w, c),
                            a.b ? a.b[c] : 0.0f);
    });
  }
}

template <int BLOCK>
__global__ void __launch_bounds__(BLOCK) grouped_backward_k(GroupedArgs a) {
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {  // block-uniform
    const float *xr = a.x + r * a.len, *gr = a.g + r * a.len;
    const float mu = a.mean[r];
    const int64_t c0 = (r % a.groups) * a.per_group;
    double acc_wg = 0, acc_wgx = 0;
    for_row<BLOCK>(a.len, c0, a.s, [&](int64_t k, int64_t c) {
      const double wg = double(a.w ? a.w[c] : 1.0f) * double(gr[k]);
      acc_wg += wg;
      acc_wgx += wg * (double(xr[k]) - double(mu));
    });
    const double sum_wg = block_reduce_sum<BLOCK>(acc_wg);
    const double sum_wgx = block_reduce_sum<BLOCK>(acc_wgx);
    const nk::GroupedNormGrad<float> gc =
        nk::grouped_norm_grad(a.rstd[r], mu, sum_wg, sum_wgx, double(a.len));
    float* dxr = a.y + r * a.len;
    for_row<BLOCK>(a.len, c0, a.s, [&](int64_t k, int64_t c) {
      dxr[k] = gc.dx(a.w ? a.w[c] : 1.0f, gr[k], xr[k]);
    });
  }
}

// dweight[c] = sum g x^ and dbias[c] = sum g over channel c's (n, s) of a contiguous [N, C, S]
// x, where x^ uses the statistics of row n * groups + c / per_group.
struct ParamGradArgs {
  const float *x, *g, *mean, *rstd;
  float *dw, *db;  // either may be null
  int64_t n, c, s, groups, per_group;
};

template <int BLOCK>
__global__ void __launch_bounds__(BLOCK) channel_param_grads_k(ParamGradArgs a) {
  for (int64_t c = blockIdx.x; c < a.c; c += gridDim.x) {  // block-uniform
    const int64_t group = c / a.per_group;
    double acc_g = 0, acc_gxh = 0;
    for_channel<BLOCK>(c, a.n, a.c, a.s, [&](int64_t off, int64_t n) {
      const int64_t i = n * a.groups + group;
      const double g = a.g[off];
      acc_g += g;
      acc_gxh += g * (double(a.x[off]) - double(a.mean[i])) * double(a.rstd[i]);
    });
    const double sum_g = block_reduce_sum<BLOCK>(acc_g);
    const double sum_gxh = block_reduce_sum<BLOCK>(acc_gxh);
    if (threadIdx.x == 0) {
      if (a.dw) a.dw[c] = float(sum_gxh);
      if (a.db) a.db[c] = float(sum_g);
    }
  }
}

// The same sums when S = 1 (layer_norm, group_norm on [N, C]): channel c is column c of an
// [N, C] matrix, so a block takes 32 adjacent columns, one per lane (a warp reads 32 adjacent
// floats), and its kColumnLanes warps split the rows; the warps' partial sums then meet in
// shared memory and are added in warp order (a fixed order: deterministic).
constexpr int kColumnLanes = 8;
constexpr int kColumnBlock = 32 * kColumnLanes;

__global__ void column_param_grads_k(ParamGradArgs a) {
  BLOCK_SHARED(part_g, double[kColumnLanes][32]);
  BLOCK_SHARED(part_gxh, double[kColumnLanes][32]);
  const int col = int(threadIdx.x) % 32, lane = int(threadIdx.x) / 32;
  const int64_t tiles = (a.c + 31) / 32;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {  // block-uniform
    const int64_t c = tile * 32 + col;
    double acc_g = 0, acc_gxh = 0;
    if (c < a.c) {
      const int64_t group = c / a.per_group;
      for (int64_t n = lane; n < a.n; n += kColumnLanes) {
        const int64_t off = n * a.c + c, i = n * a.groups + group;
        const double g = a.g[off];
        acc_g += g;
        acc_gxh += g * (double(a.x[off]) - double(a.mean[i])) * double(a.rstd[i]);
      }
    }
    part_g[lane][col] = acc_g;
    part_gxh[lane][col] = acc_gxh;
    __syncthreads();
    if (lane == 0 && c < a.c) {
      double sum_g = part_g[0][col], sum_gxh = part_gxh[0][col];
      for (int l = 1; l < kColumnLanes; ++l) {
        sum_g += part_g[l][col];
        sum_gxh += part_gxh[l][col];
      }
      if (a.dw) a.dw[c] = float(sum_gxh);
      if (a.db) a.db[c] = float(sum_g);
    }
    __syncthreads();  // the next tile overwrites part_g and part_gxh
  }
}

// ---- host side ------------------------------------------------------------------------------

Tensor contiguous_if_defined(const Tensor& t) { return t.defined() ? t.contiguous() : Tensor(); }

float* dptr(const Tensor& t) { return t.defined() ? t.device_data<float>() : nullptr; }

using norm_kernels::Dims;
using norm_kernels::dims_of;

// Whether two running-stat updates may write one element: a stride-0 view over several
// channels, or both statistics in one storage (they might overlap).
bool running_updates_may_overlap(const Tensor& rm, const Tensor& rv, int64_t channels) {
  if (channels <= 1) return rm.defined() && rv.defined() && rm.storage() == rv.storage();
  for (const Tensor* t : {&rm, &rv})
    if (t->defined() && t->strides()[0] == 0) return true;
  return rm.defined() && rv.defined() && rm.storage() == rv.storage();
}

void grouped_forward(const char* name, const Tensor& x_in, const Tensor& weight,
                     const Tensor& bias, const Tensor& y, const Tensor& mean, const Tensor& rstd,
                     const Dims& d, int64_t groups, double eps) {
  require_float32(x_in, name);
  NoGradGuard no_grad;  // layout plumbing, never part of the graph
  const Tensor x = x_in.contiguous(), w = contiguous_if_defined(weight),
               b = contiguous_if_defined(bias);
  const int64_t rows = d.n * groups, per_group = d.c / groups;
  if (rows == 0) return;
  const GroupedArgs a{x.device_data<float>(), nullptr, dptr(w), dptr(b), y.device_data<float>(),
                      mean.device_data<float>(), rstd.device_data<float>(), rows, groups,
                      per_group, d.s, per_group * d.s, eps};
  with_block(a.len, [&](auto block) {
    constexpr int B = decltype(block)::value;
    KLAUNCH(grid_for(rows), B, 0, stream(), grouped_forward_k<B>)(a);
    FOVEA_CUDA_LAUNCH_CHECK(name);
  });
}

void grouped_backward(const char* name, const Tensor& x_in, const Tensor& g_in,
                      const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                      const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Dims& d,
                      int64_t groups) {
  require_float32(x_in, name);
  NoGradGuard no_grad;
  const Tensor x = x_in.contiguous(), g = g_in.contiguous(), w = contiguous_if_defined(weight);
  const int64_t rows = d.n * groups, per_group = d.c / groups;
  if ((dweight.defined() || dbias.defined()) && d.c > 0) {
    const ParamGradArgs a{x.device_data<float>(), g.device_data<float>(),
                          mean.device_data<float>(), rstd.device_data<float>(), dptr(dweight),
                          dptr(dbias), d.n, d.c, d.s, groups, per_group};
    if (d.s == 1) {
      KLAUNCH(grid_for((d.c + 31) / 32), kColumnBlock, 0, stream(), column_param_grads_k)(a);
      FOVEA_CUDA_LAUNCH_CHECK(name);
    } else {
      with_block(d.n * d.s, [&](auto block) {
        constexpr int B = decltype(block)::value;
        KLAUNCH(grid_for(d.c), B, 0, stream(), channel_param_grads_k<B>)(a);
        FOVEA_CUDA_LAUNCH_CHECK(name);
      });
    }
  }
  if (!dx.defined() || rows == 0) return;
  const GroupedArgs a{x.device_data<float>(), g.device_data<float>(), dptr(w), nullptr,
                      dx.device_data<float>(), mean.device_data<float>(),
                      rstd.device_data<float>(), rows, groups, per_group, d.s, per_group * d.s,
                      0.0};
  with_block(a.len, [&](auto block) {
    constexpr int B = decltype(block)::value;
    KLAUNCH(grid_for(rows), B, 0, stream(), grouped_backward_k<B>)(a);
    FOVEA_CUDA_LAUNCH_CHECK(name);
  });
}

// layer_norm's [*, D] as group_norm's [N, C, S] with C = D, S = 1 and one group.
Dims layer_norm_dims(const Tensor& x, int64_t normalized) {
  return {normalized == 0 ? 0 : x.numel() / normalized, normalized, 1};
}

}  // namespace

void batch_norm_forward_cuda(const Tensor& x_in, const Tensor& weight, const Tensor& bias,
                             const Tensor& running_mean, const Tensor& running_var,
                             const Tensor& y, const Tensor& mean, const Tensor& rstd,
                             bool training, double momentum, double eps) {
  require_float32(x_in, "batch_norm");
  NoGradGuard no_grad;  // layout plumbing, never part of the graph
  const Tensor x = x_in.contiguous(), w = contiguous_if_defined(weight),
               b = contiguous_if_defined(bias);
  const Dims d = dims_of(x.shape());
  if (d.c == 0) return;
  const bool serial = training && running_updates_may_overlap(running_mean, running_var, d.c);
  const Tensor moments = serial ? empty({d.c, 2}, DType::Float64, x.device()) : Tensor();
  const BnForwardArgs a{x.device_data<float>(),
                        dptr(w),
                        dptr(b),
                        dptr(running_mean),
                        dptr(running_var),
                        running_mean.defined() ? running_mean.strides()[0] : 0,
                        running_var.defined() ? running_var.strides()[0] : 0,
                        y.device_data<float>(),
                        mean.device_data<float>(),
                        rstd.device_data<float>(),
                        serial ? moments.device_data<double>() : nullptr,
                        d.n,
                        d.c,
                        d.s,
                        training,
                        !serial,
                        momentum,
                        eps};
  with_block(d.n * d.s, [&](auto block) {
    constexpr int B = decltype(block)::value;
    KLAUNCH(grid_for(d.c), B, 0, stream(), bn_forward_k<B>)(a);
    FOVEA_CUDA_LAUNCH_CHECK("batch_norm_forward");
  });
  if (serial) {
    KLAUNCH(1, 1, 0, stream(), bn_update_running_serial_k)(
        a.moments, a.running_mean, a.rm_stride, a.running_var, a.rv_stride, d.c,
        double(d.n * d.s), momentum);
    FOVEA_CUDA_LAUNCH_CHECK("batch_norm_forward");
  }
}

void batch_norm_backward_cuda(const Tensor& x_in, const Tensor& g_in, const Tensor& mean,
                              const Tensor& rstd, const Tensor& weight, const Tensor& dx,
                              const Tensor& dweight, const Tensor& dbias, bool training) {
  require_float32(x_in, "batch_norm");
  NoGradGuard no_grad;
  const Tensor x = x_in.contiguous(), g = g_in.contiguous(), w = contiguous_if_defined(weight);
  const Dims d = dims_of(x.shape());
  if (d.c == 0 || !(dx.defined() || dweight.defined() || dbias.defined())) return;
  const BnBackwardArgs a{x.device_data<float>(), g.device_data<float>(),
                         mean.device_data<float>(), rstd.device_data<float>(), dptr(w),
                         dptr(dx), dptr(dweight), dptr(dbias), d.n, d.c, d.s, training};
  with_block(d.n * d.s, [&](auto block) {
    constexpr int B = decltype(block)::value;
    KLAUNCH(grid_for(d.c), B, 0, stream(), bn_backward_k<B>)(a);
    FOVEA_CUDA_LAUNCH_CHECK("batch_norm_backward");
  });
}

void group_norm_forward_cuda(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             const Tensor& y, const Tensor& mean, const Tensor& rstd,
                             int64_t groups, double eps) {
  grouped_forward("group_norm_forward", x, weight, bias, y, mean, rstd, dims_of(x.shape()),
                  groups, eps);
}

void group_norm_backward_cuda(const Tensor& x, const Tensor& g, const Tensor& mean,
                              const Tensor& rstd, const Tensor& weight, const Tensor& dx,
                              const Tensor& dweight, const Tensor& dbias, int64_t groups) {
  grouped_backward("group_norm_backward", x, g, mean, rstd, weight, dx, dweight, dbias,
                   dims_of(x.shape()), groups);
}

void layer_norm_forward_cuda(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             const Tensor& y, const Tensor& mean, const Tensor& rstd,
                             int64_t normalized, double eps) {
  grouped_forward("layer_norm_forward", x, weight, bias, y, mean, rstd,
                  layer_norm_dims(x, normalized), 1, eps);
}

void layer_norm_backward_cuda(const Tensor& x, const Tensor& g, const Tensor& mean,
                              const Tensor& rstd, const Tensor& weight, const Tensor& dx,
                              const Tensor& dweight, const Tensor& dbias, int64_t normalized) {
  grouped_backward("layer_norm_backward", x, g, mean, rstd, weight, dx, dweight, dbias,
                   layer_norm_dims(x, normalized), 1);
}

void register_norm() {
  batch_norm_forward_kernel.set_cuda(&batch_norm_forward_cuda);
  batch_norm_backward_kernel.set_cuda(&batch_norm_backward_cuda);
  group_norm_forward_kernel.set_cuda(&group_norm_forward_cuda);
  group_norm_backward_kernel.set_cuda(&group_norm_backward_cuda);
  layer_norm_forward_kernel.set_cuda(&layer_norm_forward_cuda);
  layer_norm_backward_kernel.set_cuda(&layer_norm_backward_cuda);
}

FOVEA_CUDA_END
