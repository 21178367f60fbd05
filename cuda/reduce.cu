// CUDA twins of the reduction slots (engine/cpu/reduce.h), with the formulas of
// engine/kernels/reduce.h, which the CPU kernels call too. Every reduction runs on the
// [outer, inner] row view of its input (reduce_rows); sums accumulate in double and round once,
// as on the CPU, so the devices differ only in the order of the double additions.
//   sum                 out[o] = sum_i x[o, i]
//   extremum (max/min)  values[o], indices[o]: the best of row o and its first position; NaN wins
//   var / std           two passes: the row means, then sum (x - mean)^2 / max(n - correction, 0)
//   logsumexp           m = row max; out = log sum exp(x - s) + s, s = m (0 if m is infinite)
//   p-norm              (sum |x|^p)^(1/p), or max |x| for p = inf
// Backward kernels write dx through the row view of an empty_rows() buffer (rows_to_write).
//
// Two shapes of work for a reduction:
//   lines  one thread per row walking it in order: short rows (<= kLineMax), and sums over the
//          leading dims of a contiguous x with many columns (bias gradients), where
//          neighbouring threads read neighbouring columns;
//   rows   one block per row: each thread folds every BLOCK-th element, then the block merges
//          the partial results in a fixed tree (block_merge). Every merge is either a double
//          sum in that fixed order or the symmetric first-index rule of extremum_beats, so the
//          result does not depend on the schedule.
#include <algorithm>

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/cpu/reduce.h"
#include "engine/kernels/reduce.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"

FOVEA_CUDA_BEGIN

namespace {

namespace rm = ::fovea::reduce_math;

constexpr int kRowBlock = 256;
constexpr int64_t kLineMax = 64;
constexpr int64_t kColumnsMin = 256;  // fewer columns take the row path (a block per row)

// ---- accumulators: add(v, i) for the elements a thread folds, in increasing i; merge(other) --
// Aggregates without initialisers: CUDA shared memory cannot hold types with constructors.

// sum of term(v) in double; Term may carry the row's parameters (its mean, its shift).
template <class Term>
struct TermSum {
  Term term;
  double total;
  __device__ void add(float v, int64_t) { total += term(double(v)); }
  __device__ void merge(const TermSum& o) { total += o.total; }
};

template <bool kMax, bool kAbs>
struct Best {
  float best;
  int64_t index;  // -1: nothing seen
  __device__ void add(float v, int64_t i) {
    if (kAbs) v = fabsf(v);
    if (rm::extremum_beats(v, i, best, index, kMax)) best = v, index = i;
  }
  __device__ void merge(const Best& o) {
    if (o.index >= 0 && rm::extremum_beats(o.best, o.index, best, index, kMax)) *this = o;
  }
};

struct Identity {
  __device__ double operator()(double v) const { return v; }
};
struct SquaredDeviation {
  double mean;
  __device__ double operator()(double v) const { return (v - mean) * (v - mean); }
};
struct ShiftedExp {
  double shift;
  __device__ double operator()(double v) const { return fm::exp(v - shift); }
};
struct NormTerm {
  double p;
  __device__ double operator()(double v) const { return rm::norm_term(v, p); }
};

// ---- the row loops --------------------------------------------------------------------------

template <int BLOCK, class Acc>
__device__ Acc block_merge(Acc a) {
  BLOCK_SHARED(parts, Acc[BLOCK]);
  const int t = int(threadIdx.x);
  parts[t] = a;
  __syncthreads();
  for (int s = BLOCK / 2; s > 0; s >>= 1) {
    if (t < s) parts[t].merge(parts[t + s]);
    __syncthreads();
  }
  const Acc r = parts[0];
  __syncthreads();  // parts is reused for the block's next row
  return r;
}

template <int BLOCK, class Make, class Finish>
__global__ void __launch_bounds__(BLOCK)
    reduce_rows_k(const float* x, int64_t outer, int64_t inner, Make make, Finish finish) {
  for (int64_t row = blockIdx.x; row < outer; row += gridDim.x) {  // uniform in the block
    auto a = make(row);
    const float* p = x + row * inner;
    for (int64_t j = threadIdx.x; j < inner; j += BLOCK) a.add(p[j], j);
    a = block_merge<BLOCK>(a);
    if (threadIdx.x == 0) finish(row, a);
  }
}

template <class Make, class Finish>
__global__ void reduce_lines_k(const float* x, int64_t outer, int64_t inner, Make make,
                               Finish finish) {
  GRID_STRIDE_LOOP(row, outer) {
    auto a = make(row);
    const float* p = x + row * inner;
    for (int64_t j = 0; j < inner; ++j) a.add(p[j], j);
    finish(row, a);
  }
}

// Folds each row of the contiguous [outer, inner] block `rows`: a = make(o), fold, finish(o, a).
template <class Make, class Finish>
void reduce_each_row(const char* name, const Tensor& rows, int64_t outer, int64_t inner,
                     Make make, Finish finish) {
  if (outer == 0) return;
  const float* x = rows.device_data<float>();
  if (inner <= kLineMax) {
    KLAUNCH(elementwise_grid(outer), kElementwiseBlock, 0, stream(),
            reduce_lines_k<Make, Finish>)(x, outer, inner, make, finish);
  } else {
    const unsigned grid = unsigned(std::min<int64_t>(outer, 4096));
    KLAUNCH(grid, kRowBlock, 0, stream(), reduce_rows_k<kRowBlock, Make, Finish>)(
        x, outer, inner, make, finish);
  }
  FOVEA_CUDA_LAUNCH_CHECK(name);
}

// body(o, i, k) for every element k = o * inner + i of an [outer, inner] block.
template <class Body>
__global__ void map_rows_k(int64_t n, int64_t inner, Body body) {
  GRID_STRIDE_LOOP(k, n) { body(k / inner, k % inner, k); }
}

template <class Body>
void map_each_row(const char* name, int64_t outer, int64_t inner, Body body) {
  const int64_t n = outer * inner;
  if (n == 0) return;
  KLAUNCH(elementwise_grid(n), kElementwiseBlock, 0, stream(), map_rows_k<Body>)(n, inner, body);
  FOVEA_CUDA_LAUNCH_CHECK(name);
}

// ---- makers and finishers -------------------------------------------------------------------

template <class Term>
struct MakeSum {
  __device__ TermSum<Term> operator()(int64_t) const { return {Term{}, 0.0}; }
};
struct MakeSquaredDeviation {
  const double* mean;
  __device__ TermSum<SquaredDeviation> operator()(int64_t o) const {
    return {SquaredDeviation{mean[o]}, 0.0};
  }
};
struct MakeShiftedExp {
  const double* shift;
  __device__ TermSum<ShiftedExp> operator()(int64_t o) const {
    return {ShiftedExp{shift[o]}, 0.0};
  }
};
struct MakeNormTerm {
  double p;
  __device__ TermSum<NormTerm> operator()(int64_t) const { return {NormTerm{p}, 0.0}; }
};
template <bool kMax, bool kAbs>
struct MakeBest {
  __device__ Best<kMax, kAbs> operator()(int64_t) const { return {0.f, -1}; }
};

struct WriteSum {
  float* out;
  template <class Acc>
  __device__ void operator()(int64_t o, const Acc& a) const { out[o] = float(a.total); }
};
struct WriteMean {
  double* mean;
  int64_t n;
  template <class Acc>
  __device__ void operator()(int64_t o, const Acc& a) const { mean[o] = a.total / double(n); }
};
struct WriteVar {
  float* out;
  double divisor;
  bool take_sqrt;
  template <class Acc>
  __device__ void operator()(int64_t o, const Acc& a) const {
    const double var = a.total / divisor;
    out[o] = float(take_sqrt ? fm::sqrt(var) : var);
  }
};
struct WriteBest {
  float* values;    // may be null
  int64_t* index;   // may be null
  template <class Acc>
  __device__ void operator()(int64_t o, const Acc& a) const {
    if (values) values[o] = a.best;
    if (index) index[o] = a.index;
  }
};
struct WriteShift {
  double* shift;
  template <class Acc>
  __device__ void operator()(int64_t o, const Acc& a) const {
    shift[o] = rm::lse_shift(double(a.best), a.index < 0);
  }
};
struct WriteLogSumExp {
  float* out;
  const double* shift;
  template <class Acc>
  __device__ void operator()(int64_t o, const Acc& a) const {
    out[o] = float(fm::log(a.total) + shift[o]);
  }
};
struct WriteNorm {
  float* out;
  double p;
  template <class Acc>
  __device__ void operator()(int64_t o, const Acc& a) const {
    out[o] = float(rm::norm_root(a.total, p));
  }
};

// ---- backward bodies ------------------------------------------------------------------------

struct ExtremumGrad {
  float* dx;
  const float* g;
  const int64_t* index;
  __device__ void operator()(int64_t o, int64_t i, int64_t k) const {
    dx[k] = i == index[o] ? g[o] : 0.f;
  }
};
struct VarGrad {
  float* dx;
  const float *x, *g, *out;
  const double* mean;
  double divisor;
  bool take_sqrt;
  __device__ void operator()(int64_t o, int64_t, int64_t k) const {
    const double scale = rm::var_grad_scale(g[o], out[o], divisor, take_sqrt);
    dx[k] = float(scale * (double(x[k]) - mean[o]));
  }
};
struct LogSumExpGrad {
  float* dx;
  const float *x, *g, *out;
  __device__ void operator()(int64_t o, int64_t, int64_t k) const {
    dx[k] = float(double(g[o]) * fm::exp(double(x[k]) - double(out[o])));
  }
};
struct NormGrad {
  float* dx;
  const float *x, *g, *out;
  const int64_t* arg;  // p = inf: the first arg-max of |x| per row
  double p;
  __device__ void operator()(int64_t o, int64_t i, int64_t k) const {
    const double v = x[k];
    dx[k] = float(arg ? (i == arg[o] ? double(g[o]) * rm::sign(v) : 0.0)
                      : rm::norm_grad(g[o], v, out[o], p));
  }
};

// ---- helpers --------------------------------------------------------------------------------

bool leading_dims(const DimList& dims) {
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] != int64_t(i)) return false;
  return !dims.empty();
}

// out[c] = sum over r of x[r, c] for a contiguous [rows, cols] x: one thread per column, so
// neighbouring threads read neighbouring addresses.
__global__ void sum_columns_k(const float* x, float* out, int64_t rows, int64_t cols) {
  GRID_STRIDE_LOOP(c, cols) {
    double acc = 0;
    for (int64_t r = 0; r < rows; ++r) acc += x[r * cols + c];
    out[c] = float(acc);
  }
}

// The row means of a [outer, inner] block, in double on the device.
Tensor row_means(const char* name, const ReduceRows& r, Device device) {
  Tensor mean = empty({r.outer}, DType::Float64, device);
  reduce_each_row(name, r.rows, r.outer, r.inner, MakeSum<Identity>{},
                  WriteMean{mean.device_data<double>(), r.inner});
  return mean;
}

// The first arg-max of |x| per row (norm with p = inf).
Tensor row_abs_argmax(const char* name, const ReduceRows& r, Device device, float* values) {
  Tensor index = empty({r.outer}, DType::Int64, device);
  reduce_each_row(name, r.rows, r.outer, r.inner, MakeBest<true, true>{},
                  WriteBest{values, index.device_data<int64_t>()});
  return index;
}

}  // namespace

// ---- the slots ------------------------------------------------------------------------------

void sum_cuda(const Tensor& x, const Tensor& out, const DimList& dims) {
  require_float32(x, "sum");
  if (out.numel() == 0) return;
  float* y = out.device_data<float>();
  // Columns: when there are enough of them to keep a grid busy (a full reduction has one).
  if (x.is_contiguous() && leading_dims(dims) && out.numel() >= kColumnsMin) {
    int64_t rows = 1;
    for (int64_t d : dims) rows *= x.shape()[d];
    const int64_t cols = out.numel();
    KLAUNCH(elementwise_grid(cols), kElementwiseBlock, 0, stream(), sum_columns_k)(
        x.device_data<float>(), y, rows, cols);
    FOVEA_CUDA_LAUNCH_CHECK("sum");
    return;
  }
  const ReduceRows r = reduce_rows(x, dims);
  reduce_each_row("sum", r.rows, r.outer, r.inner, MakeSum<Identity>{}, WriteSum{y});
}

void extremum_forward_cuda(const Tensor& x, const Tensor& values, const Tensor& indices,
                           const DimList& dims, ExtremumKind kind) {
  require_float32(x, "extremum_forward");
  const ReduceRows r = reduce_rows(x, dims);
  const WriteBest write{values.device_data<float>(), indices.device_data<int64_t>()};
  if (kind == ExtremumKind::Max)
    reduce_each_row("extremum_forward", r.rows, r.outer, r.inner, MakeBest<true, false>{}, write);
  else
    reduce_each_row("extremum_forward", r.rows, r.outer, r.inner, MakeBest<false, false>{}, write);
}

void extremum_backward_cuda(const Tensor& g, const Tensor& indices, const Tensor& dx,
                            const DimList& dims) {
  require_float32(dx, "extremum_backward");
  const ReduceRows w = rows_to_write(dx, dims);
  const Tensor gc = contiguous(g), ic = contiguous(indices);
  map_each_row("extremum_backward", w.outer, w.inner,
               ExtremumGrad{w.rows.device_data<float>(), gc.device_data<float>(),
                            ic.device_data<int64_t>()});
}

void var_forward_cuda(const Tensor& x, const Tensor& out, const DimList& dims,
                      int64_t correction, bool take_sqrt) {
  require_float32(x, "var_forward");
  const ReduceRows r = reduce_rows(x, dims);
  const Tensor mean = row_means("var_forward", r, x.device());
  reduce_each_row("var_forward", r.rows, r.outer, r.inner,
                  MakeSquaredDeviation{mean.device_data<double>()},
                  WriteVar{out.device_data<float>(), rm::var_divisor(r.inner, correction),
                           take_sqrt});
}

void var_backward_cuda(const Tensor& x, const Tensor& out, const Tensor& g, const Tensor& dx,
                       const DimList& dims, int64_t correction, bool take_sqrt) {
  require_float32(x, "var_backward");
  const ReduceRows r = reduce_rows(x, dims), w = rows_to_write(dx, dims);
  const Tensor mean = row_means("var_backward", r, x.device());
  const Tensor gc = contiguous(g), yc = contiguous(out);
  map_each_row("var_backward", r.outer, r.inner,
               VarGrad{w.rows.device_data<float>(), r.rows.device_data<float>(),
                       gc.device_data<float>(), yc.device_data<float>(),
                       mean.device_data<double>(), rm::var_divisor(r.inner, correction),
                       take_sqrt});
}

void logsumexp_forward_cuda(const Tensor& x, const Tensor& out, const DimList& dims) {
  require_float32(x, "logsumexp_forward");
  const ReduceRows r = reduce_rows(x, dims);
  Tensor shift = empty({r.outer}, DType::Float64, x.device());
  double* s = shift.device_data<double>();
  reduce_each_row("logsumexp_forward", r.rows, r.outer, r.inner, MakeBest<true, false>{},
                  WriteShift{s});
  reduce_each_row("logsumexp_forward", r.rows, r.outer, r.inner, MakeShiftedExp{s},
                  WriteLogSumExp{out.device_data<float>(), s});
}

void logsumexp_backward_cuda(const Tensor& x, const Tensor& out, const Tensor& g,
                             const Tensor& dx, const DimList& dims) {
  require_float32(x, "logsumexp_backward");
  const ReduceRows r = reduce_rows(x, dims), w = rows_to_write(dx, dims);
  const Tensor gc = contiguous(g), yc = contiguous(out);
  map_each_row("logsumexp_backward", r.outer, r.inner,
               LogSumExpGrad{w.rows.device_data<float>(), r.rows.device_data<float>(),
                             gc.device_data<float>(), yc.device_data<float>()});
}

void norm_forward_cuda(const Tensor& x, const Tensor& out, const DimList& dims, double p) {
  require_float32(x, "norm_forward");
  const ReduceRows r = reduce_rows(x, dims);
  if (std::isinf(p)) {
    row_abs_argmax("norm_forward", r, x.device(), out.device_data<float>());
    return;
  }
  reduce_each_row("norm_forward", r.rows, r.outer, r.inner, MakeNormTerm{p},
                  WriteNorm{out.device_data<float>(), p});
}

void norm_backward_cuda(const Tensor& x, const Tensor& out, const Tensor& g, const Tensor& dx,
                        const DimList& dims, double p) {
  require_float32(x, "norm_backward");
  const ReduceRows r = reduce_rows(x, dims), w = rows_to_write(dx, dims);
  const Tensor gc = contiguous(g), yc = contiguous(out);
  // p = inf: the same first arg-max the forward pass chose (same data, same rule).
  const Tensor arg = std::isinf(p) ? row_abs_argmax("norm_backward", r, x.device(), nullptr)
                                   : Tensor();
  map_each_row("norm_backward", r.outer, r.inner,
               NormGrad{w.rows.device_data<float>(), r.rows.device_data<float>(),
                        gc.device_data<float>(), yc.device_data<float>(),
                        arg.defined() ? arg.device_data<int64_t>() : nullptr, p});
}

void register_reduce() {
  sum_kernel.set_cuda(&sum_cuda);
  extremum_forward_kernel.set_cuda(&extremum_forward_cuda);
  extremum_backward_kernel.set_cuda(&extremum_backward_cuda);
  var_forward_kernel.set_cuda(&var_forward_cuda);
  var_backward_kernel.set_cuda(&var_backward_cuda);
  logsumexp_forward_kernel.set_cuda(&logsumexp_forward_cuda);
  logsumexp_backward_kernel.set_cuda(&logsumexp_backward_cuda);
  norm_forward_kernel.set_cuda(&norm_forward_cuda);
  norm_backward_kernel.set_cuda(&norm_backward_cuda);
}

FOVEA_CUDA_END
