#include "engine/cpu/reduce.h"

#include "engine/cpu/accumulate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/core/parallel.h"
#include "engine/kernels/reduce.h"

namespace fovea {

KernelSlot<void(const Tensor&, const Tensor&, const DimList&)> sum_kernel{"sum", &sum_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const DimList&, ExtremumKind)>
    extremum_forward_kernel{"extremum_forward", &extremum_forward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const DimList&)>
    extremum_backward_kernel{"extremum_backward", &extremum_backward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const DimList&, int64_t, bool)>
    var_forward_kernel{"var_forward", &var_forward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const DimList&,
                int64_t, bool)>
    var_backward_kernel{"var_backward", &var_backward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const DimList&)> logsumexp_forward_kernel{
    "logsumexp_forward", &logsumexp_forward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const DimList&)>
    logsumexp_backward_kernel{"logsumexp_backward", &logsumexp_backward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const DimList&, double)> norm_forward_kernel{
    "norm_forward", &norm_forward_cpu};
KernelSlot<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const DimList&,
                double)>
    norm_backward_kernel{"norm_backward", &norm_backward_cpu};

// ---- layout ----------------------------------------------------------------------------------

Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (size_t d = 0; d < shape.size(); ++d) {
    const bool reduced = std::find(dims.begin(), dims.end(), int64_t(d)) != dims.end();
    if (!reduced)
      out.push_back(shape[d]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

namespace {

// Kept dims first, then the reduced ones: the axis order of the [outer, inner] rows.
std::vector<int64_t> rows_order(int64_t ndim, const std::vector<int64_t>& dims) {
  std::vector<int64_t> order;
  for (int64_t d = 0; d < ndim; ++d)
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) order.push_back(d);
  order.insert(order.end(), dims.begin(), dims.end());
  return order;
}

}  // namespace

ReduceRows reduce_rows(const Tensor& x, const std::vector<int64_t>& dims) {
  NoGradGuard no_grad;  // layout plumbing, never part of the graph
  ReduceRows r;
  for (int64_t d = 0; d < x.dim(); ++d) {
    const bool reduced = std::find(dims.begin(), dims.end(), d) != dims.end();
    (reduced ? r.inner : r.outer) *= x.shape()[d];
  }
  r.rows = x.permute(rows_order(x.dim(), dims)).contiguous().view({r.outer, r.inner});
  return r;
}

Tensor empty_rows(const Shape& shape, const std::vector<int64_t>& dims, DType dtype,
                  Device device) {
  NoGradGuard no_grad;
  const std::vector<int64_t> order = rows_order(int64_t(shape.size()), dims);
  Shape block;
  std::vector<int64_t> inverse(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    block.push_back(shape[order[i]]);
    inverse[order[i]] = int64_t(i);
  }
  return empty(block, dtype, device).permute(inverse);
}

ReduceRows rows_to_write(const Tensor& dx, const std::vector<int64_t>& dims) {
  ReduceRows r = reduce_rows(dx, dims);
  FOVEA_CHECK(r.rows.storage() == dx.storage(), "reduce: gradient buffer ", dx.str(),
              " was not allocated by empty_rows()");
  return r;
}

namespace {

// One element per row, readable as a flat array (upstream gradients may be expanded views).
Tensor flat(const Tensor& t) {
  NoGradGuard no_grad;
  return t.contiguous();
}

// ---- accumulators ----------------------------------------------------------------------------
//
// An accumulator folds the elements of a row: fold(a, row, lo, hi) takes in row[lo, hi) in
// order (by default a.add(x, i) for each element x at position i), and a.merge(b) appends b,
// the fold of a later part of the row.

// sum of term(x) in double.
template <typename Term>
struct SumOf {
  Term term;
  double total = 0;
  void merge(const SumOf& later) { total += later.total; }
};
template <typename Term>
SumOf<Term> sum_of(Term term) {
  return SumOf<Term>{term};
}
const auto kIdentity = [](double v) { return v; };

// The max (kMax) or min of a row, of |x| when kAbs, and the first position holding it. A NaN
// beats every number and the first NaN stays, as in PyTorch's max.
template <typename T, bool kMax, bool kAbs = false>
struct ArgBest {
  T best = T(0);
  int64_t index = -1;  // nothing seen yet
  void add(T v, int64_t i) {
    if (kAbs) v = std::abs(v);
    if (reduce_math::extremum_beats(v, i, best, index, kMax)) best = v, index = i;
  }
  void merge(const ArgBest& later) {
    if (later.index >= 0 && reduce_math::extremum_beats(later.best, later.index, best, index, kMax))
      *this = later;
  }
};

// Folds row[lo, hi) into a.
template <typename T, typename Acc>
void fold(Acc& a, const T* row, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) a.add(row[i], i);
}
template <typename T, typename Term>
void fold(SumOf<Term>& a, const T* row, int64_t lo, int64_t hi) {
  a.total += sum4(hi - lo, [&](int64_t k) { return a.term(row[lo + k]); });
}

// ---- the two loops every kernel is written with -------------------------------------------
//
// reduce_each_row: folds each row of a contiguous [outer, inner] block into an accumulator.
//   Acc a = make(o);  fold the row into a;  finish(o, a)
// Rows are shared out among threads. When there are too few of them to keep every thread busy
// and they are long, each row is instead cut into pieces folded in parallel and merged left to
// right, so ties and NaNs resolve as in one sequential scan whatever the thread count.
template <typename T, typename Make, typename Finish>
void reduce_each_row(const T* x, int64_t outer, int64_t inner, Make&& make, Finish&& finish) {
  using Acc = decltype(make(int64_t(0)));
  const int64_t threads = get_num_threads();
  if (outer >= 2 * threads || inner < parallel_grain()) {
    parallel_for(outer, inner, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        Acc a = make(o);
        fold(a, x + o * inner, 0, inner);
        finish(o, a);
      }
    });
    return;
  }
  for (int64_t o = 0; o < outer; ++o) {
    const T* row = x + o * inner;
    std::vector<std::optional<Acc>> piece(static_cast<size_t>(threads));
    parallel_for(threads, (inner + threads - 1) / threads, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        Acc a = make(o);  // a local, not piece[k]: stays in registers, no false sharing
        fold(a, row, k * inner / threads, (k + 1) * inner / threads);
        piece[k].emplace(a);
      }
    });
    Acc a = *piece[0];
    for (int64_t k = 1; k < threads; ++k) a.merge(*piece[k]);
    finish(o, a);
  }
}

// map_each_row: calls fn(o, lo, hi) for the pieces [lo, hi) of rows o that together cover the
// [outer, inner] block, split evenly across threads whatever the row length.
template <typename Fn>
void map_each_row(int64_t outer, int64_t inner, Fn&& fn) {
  if (inner == 0) return;
  parallel_for(outer * inner, 1, [&](int64_t b, int64_t e) {
    for (int64_t o = b / inner; o * inner < e; ++o) {
      const int64_t lo = std::max(b - o * inner, int64_t(0));
      const int64_t hi = std::min(e - o * inner, inner);
      fn(o, lo, hi);
    }
  });
}

using reduce_math::sign;

template <typename T>
std::vector<double> row_means(const ReduceRows& r) {
  std::vector<double> mean(size_t(r.outer));
  reduce_each_row(
      r.rows.data<T>(), r.outer, r.inner, [](int64_t) { return sum_of(kIdentity); },
      [&](int64_t o, const auto& a) { mean[o] = a.total / double(r.inner); });
  return mean;
}

// First positions of the max |x| of every row (norm p = inf).
template <typename T>
std::vector<int64_t> row_abs_argmax(const ReduceRows& r, T* values) {
  std::vector<int64_t> index(size_t(r.outer));
  reduce_each_row(
      r.rows.data<T>(), r.outer, r.inner, [](int64_t) { return ArgBest<T, true, true>{}; },
      [&](int64_t o, const auto& a) {
        index[o] = a.index;
        if (values) values[o] = a.best;
      });
  return index;
}

// Sums over the leading `rows` of a contiguous [rows, cols] block (bias gradients, sum_to
// over the batch): streams through memory once, accumulating each column in double.
template <typename T>
void column_sums(const T* x, T* out, int64_t rows, int64_t cols) {
  parallel_for(cols, rows, [&](int64_t b, int64_t e) {
    std::vector<double> acc(size_t(e - b), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = x + r * cols;
      for (int64_t c = b; c < e; ++c) acc[c - b] += row[c];
    }
    for (int64_t c = b; c < e; ++c) out[c] = static_cast<T>(acc[c - b]);
  });
}

bool is_prefix(const std::vector<int64_t>& dims) {
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] != int64_t(i)) return false;
  return true;
}

}  // namespace

// ---- sum -------------------------------------------------------------------------------------

void sum_cpu(const Tensor& x, const Tensor& out, const DimList& dims) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "sum", [&] {
    using T = scalar_t;
    T* y = out.data<T>();
    // Leading dims of a contiguous tensor: sum whole rows into the columns. Not worth it when
    // few columns remain (a full reduction has one), where the row path splits the work.
    if (x.is_contiguous() && is_prefix(dims) && !dims.empty() && out.numel() >= 64) {
      int64_t rows = 1;
      for (int64_t d : dims) rows *= x.shape()[d];
      column_sums<T>(x.data<T>(), y, rows, out.numel());
      return;
    }
    const ReduceRows r = reduce_rows(x, dims);
    reduce_each_row(
        r.rows.data<T>(), r.outer, r.inner, [](int64_t) { return sum_of(kIdentity); },
        [&](int64_t o, const auto& a) { y[o] = T(a.total); });
  });
}

// ---- max / min -------------------------------------------------------------------------------

void extremum_forward_cpu(const Tensor& x, const Tensor& values, const Tensor& indices,
                          const DimList& dims, ExtremumKind kind) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "extremum_forward", [&] {
    using T = scalar_t;
    const ReduceRows r = reduce_rows(x, dims);
    T* v = values.data<T>();
    int64_t* idx = indices.data<int64_t>();
    auto run = [&](auto first) {
      reduce_each_row(
          r.rows.data<T>(), r.outer, r.inner, [&](int64_t) { return first; },
          [&](int64_t o, const auto& a) {
            v[o] = a.best;
            idx[o] = a.index;
          });
    };
    if (kind == ExtremumKind::Max)
      run(ArgBest<T, true>{});
    else
      run(ArgBest<T, false>{});
  });
}

void extremum_backward_cpu(const Tensor& g, const Tensor& indices, const Tensor& dx,
                           const DimList& dims) {
  FOVEA_DISPATCH_FLOAT(dx.dtype(), "extremum_backward", [&] {
    using T = scalar_t;
    const ReduceRows r = rows_to_write(dx, dims);
    const Tensor gc = flat(g), ic = flat(indices);
    const T* gp = gc.data<T>();
    const int64_t* idx = ic.data<int64_t>();
    T* d = r.rows.data<T>();
    map_each_row(r.outer, r.inner, [&](int64_t o, int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) d[o * r.inner + i] = i == idx[o] ? gp[o] : T(0);
    });
  });
}

// ---- var / stddev ----------------------------------------------------------------------------

void var_forward_cpu(const Tensor& x, const Tensor& out, const DimList& dims,
                     int64_t correction, bool take_sqrt) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "var_forward", [&] {
    using T = scalar_t;
    const ReduceRows r = reduce_rows(x, dims);
    const std::vector<double> mean = row_means<T>(r);
    const double divisor = reduce_math::var_divisor(r.inner, correction);
    T* y = out.data<T>();
    reduce_each_row(
        r.rows.data<T>(), r.outer, r.inner,
        [&](int64_t o) {
          return sum_of([m = mean[o]](double v) { return (v - m) * (v - m); });
        },
        [&](int64_t o, const auto& a) {
          const double var = a.total / divisor;
          y[o] = T(take_sqrt ? std::sqrt(var) : var);
        });
  });
}

void var_backward_cpu(const Tensor& x, const Tensor& out, const Tensor& g, const Tensor& dx,
                      const DimList& dims, int64_t correction, bool take_sqrt) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "var_backward", [&] {
    using T = scalar_t;
    const ReduceRows r = reduce_rows(x, dims), w = rows_to_write(dx, dims);
    const std::vector<double> mean = row_means<T>(r);
    const double divisor = reduce_math::var_divisor(r.inner, correction);
    const Tensor gc = flat(g), yc = flat(out);
    const T *gp = gc.data<T>(), *y = yc.data<T>(), *xp = r.rows.data<T>();
    T* d = w.rows.data<T>();
    map_each_row(r.outer, r.inner, [&](int64_t o, int64_t lo, int64_t hi) {
      const double scale = reduce_math::var_grad_scale(gp[o], y[o], divisor, take_sqrt);
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t k = o * r.inner + i;
        d[k] = T(scale * (double(xp[k]) - mean[o]));
      }
    });
  });
}

// ---- logsumexp -------------------------------------------------------------------------------

void logsumexp_forward_cpu(const Tensor& x, const Tensor& out, const DimList& dims) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "logsumexp_forward", [&] {
    using T = scalar_t;
    const ReduceRows r = reduce_rows(x, dims);
    const T* xp = r.rows.data<T>();
    std::vector<double> shift(size_t(r.outer));
    reduce_each_row(
        xp, r.outer, r.inner, [](int64_t) { return ArgBest<T, true>{}; },
        [&](int64_t o, const auto& a) {
          shift[o] = reduce_math::lse_shift(double(a.best), a.index < 0);
        });
    T* y = out.data<T>();
    reduce_each_row(
        xp, r.outer, r.inner,
        [&](int64_t o) { return sum_of([s = shift[o]](double v) { return std::exp(v - s); }); },
        [&](int64_t o, const auto& a) { y[o] = T(std::log(a.total) + shift[o]); });
  });
}

void logsumexp_backward_cpu(const Tensor& x, const Tensor& out, const Tensor& g,
                            const Tensor& dx, const DimList& dims) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "logsumexp_backward", [&] {
    using T = scalar_t;
    const ReduceRows r = reduce_rows(x, dims), w = rows_to_write(dx, dims);
    const Tensor gc = flat(g), yc = flat(out);
    const T *gp = gc.data<T>(), *y = yc.data<T>(), *xp = r.rows.data<T>();
    T* d = w.rows.data<T>();
    map_each_row(r.outer, r.inner, [&](int64_t o, int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t k = o * r.inner + i;
        d[k] = T(double(gp[o]) * std::exp(double(xp[k]) - double(y[o])));
      }
    });
  });
}

// ---- norm ------------------------------------------------------------------------------------

void norm_forward_cpu(const Tensor& x, const Tensor& out, const DimList& dims, double p) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "norm_forward", [&] {
    using T = scalar_t;
    const ReduceRows r = reduce_rows(x, dims);
    T* y = out.data<T>();
    if (std::isinf(p)) {
      row_abs_argmax<T>(r, y);
      return;
    }
    auto run = [&](auto term, auto root) {
      reduce_each_row(
          r.rows.data<T>(), r.outer, r.inner, [&](int64_t) { return sum_of(term); },
          [&](int64_t o, const auto& a) { y[o] = T(root(a.total)); });
    };
    run([p](double v) { return reduce_math::norm_term(v, p); },
        [p](double s) { return reduce_math::norm_root(s, p); });
  });
}

void norm_backward_cpu(const Tensor& x, const Tensor& out, const Tensor& g, const Tensor& dx,
                       const DimList& dims, double p) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "norm_backward", [&] {
    using T = scalar_t;
    const ReduceRows r = reduce_rows(x, dims), w = rows_to_write(dx, dims);
    const Tensor gc = flat(g), yc = flat(out);
    const T *gp = gc.data<T>(), *y = yc.data<T>(), *xp = r.rows.data<T>();
    T* d = w.rows.data<T>();
    // p = inf: the same first arg-max the forward pass chose (same data, same scan order).
    const std::vector<int64_t> arg =
        std::isinf(p) ? row_abs_argmax<T>(r, nullptr) : std::vector<int64_t>();
    map_each_row(r.outer, r.inner, [&](int64_t o, int64_t lo, int64_t hi) {
      const double go = gp[o], n = y[o];
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t k = o * r.inner + i;
        const double v = xp[k];
        d[k] = T(std::isinf(p) ? (i == arg[o] ? go * sign(v) : 0.0)
                               : reduce_math::norm_grad(go, v, n, p));
      }
    });
  });
}

}  // namespace fovea
