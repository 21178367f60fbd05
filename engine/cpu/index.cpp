#include "engine/cpu/index.h"

#include <atomic>
#include <cstdlib>
#include <type_traits>

#include "engine/autograd/grad_mode.h"
#include "engine/cpu/loops.h"

namespace fovea {

KernelSlot<void(const Tensor&, int64_t, int64_t, const char*)> index_bounds_kernel{
    "index_bounds", &index_bounds_cpu};
KernelSlot<void(const Tensor&, const Tensor&, int64_t, const Tensor&)> gather_kernel{
    "gather", &gather_cpu};
KernelSlot<void(const Tensor&, int64_t, const Tensor&, const Tensor&)> scatter_add_kernel{
    "scatter_add", &scatter_add_cpu};

namespace {

// Walks every position p of index's shape and calls fn(dense_offset, indexed_offset): the
// element offset of p in the `dense` operand, and of p with coordinate `dim` replaced by
// index[p] in the `indexed` operand. Each thread owns whole lines along `dim` (the positions
// that differ only in their `dim` coordinate), so a scatter through it has no write races and
// a summation order that does not depend on the thread count.
template <typename Fn>
void for_each_indexed(const Tensor& index, int64_t dim, const Shape& dense_strides,
                      const Shape& indexed_strides, Fn fn) {
  const int64_t* idx = index.data<int64_t>();
  const int64_t k = index.shape()[dim];
  const int64_t si = index.strides()[dim], sd = dense_strides[dim], sx = indexed_strides[dim];
  const LoopPlan<3> plan = make_loop_plan<3>(
      without_dim(index.shape(), dim),
      {without_dim(index.strides(), dim), without_dim(dense_strides, dim),
       without_dim(indexed_strides, dim)});
  parallel_for(plan.numel, k, [&](int64_t begin, int64_t end) {
    auto run = [&](std::array<int64_t, 3> off, int64_t n, std::array<int64_t, 3> st) {
      auto visit = [&](int64_t c, int64_t i) {
        const int64_t v = idx[off[0] + c * st[0] + i * si];
        fn(off[1] + c * st[1] + i * sd, off[2] + c * st[2] + v * sx);
      };
      // Walk the dense operand in its memory order: along `dim` innermost when that is the
      // shorter stride (gathers along the last dim), across the run otherwise (row lookups).
      if (std::abs(sd) < std::abs(st[1])) {
        for (int64_t c = 0; c < n; ++c)
          for (int64_t i = 0; i < k; ++i) visit(c, i);
      } else {
        for (int64_t i = 0; i < k; ++i)
          for (int64_t c = 0; c < n; ++c) visit(c, i);
      }
    };
    run_loop_range<3>(plan, begin, end, run);
  });
}

// Runs fn(acc, acc_strides) on an accumulator holding out's values, then stores it back into
// out: out itself, or a double copy when out is float32 so sums of many terms keep precision.
template <typename T, typename Fn>
void with_accumulator(const Tensor& out, Fn fn) {
  using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;
  T* o = out.data<T>();
  if constexpr (std::is_same_v<Acc, T>) {
    fn(o, out.strides());
  } else {
    FOVEA_CHECK(out.is_contiguous(), "scatter_add: the output buffer must be contiguous, got ",
                out.str());
    const int64_t n = out.numel();
    std::vector<Acc> acc(static_cast<size_t>(n));
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) acc[size_t(i)] = Acc(o[i]);
    });
    fn(acc.data(), contiguous_strides(out.shape()));
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = static_cast<T>(acc[size_t(i)]);
    });
  }
}

}  // namespace

void index_bounds_cpu(const Tensor& index, int64_t size, int64_t dim, const char* op) {
  Tensor c;
  {
    NoGradGuard no_grad;
    c = index.contiguous();
  }
  const int64_t* p = c.data<int64_t>();
  const int64_t n = c.numel();
  // The first bad position (row-major); exceptions must not leave the parallel region.
  std::atomic<int64_t> first_bad{n};
  parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e && i < first_bad.load(std::memory_order_relaxed); ++i) {
      if (p[i] >= 0 && p[i] < size) continue;
      int64_t seen = first_bad.load();
      while (i < seen && !first_bad.compare_exchange_weak(seen, i)) {}
      break;
    }
  });
  if (first_bad == n) return;
  fail_index_bounds(op, p[first_bad.load()], unravel_index(first_bad, c.shape()), dim, size);
}

void fail_index_bounds(const char* op, int64_t value, const Shape& position, int64_t dim,
                       int64_t size) {
  FOVEA_FAIL(op, ": index ", value, " at position ", shape_str(position),
             " of the index is out of range for dim ", dim, " of size ", size);
}

void gather_cpu(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  FOVEA_DISPATCH_ALL(x.dtype(), "gather", [&] {
    using T = scalar_t;
    T* o = out.data<T>();
    const T* px = x.data<T>();
    for_each_indexed(index, dim, out.strides(), x.strides(),
                     [&](int64_t od, int64_t ox) { o[od] = px[ox]; });
  });
}

void scatter_add_cpu(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  FOVEA_DISPATCH_ALL(out.dtype(), "scatter_add", [&] {
    using T = scalar_t;
    const T* ps = src.data<T>();
    with_accumulator<T>(out, [&](auto* acc, const Shape& acc_strides) {
      using Acc = std::remove_pointer_t<decltype(acc)>;
      for_each_indexed(index, dim, src.strides(), acc_strides,
                       [&](int64_t os, int64_t oa) { acc[oa] += Acc(ps[os]); });
    });
  });
}

}  // namespace fovea
