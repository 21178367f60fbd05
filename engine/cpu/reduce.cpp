#include "engine/cpu/reduce.h"

#include <algorithm>
#include <omp.h>

#include "engine/autograd/grad_mode.h"
#include "engine/core/parallel.h"

namespace fovea {

KernelSlot<void(const Tensor&, const Tensor&, const std::vector<int64_t>&)> sum_kernel{
    "sum", &sum_cpu};

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

ReduceRows reduce_rows(const Tensor& x, const std::vector<int64_t>& dims) {
  NoGradGuard no_grad;  // layout plumbing, never part of the graph
  std::vector<int64_t> order;
  ReduceRows r;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) {
      order.push_back(d);
      r.outer *= x.shape()[d];
    }
  for (int64_t d : dims) {
    order.push_back(d);
    r.inner *= x.shape()[d];
  }
  r.rows = x.permute(order).contiguous().view({r.outer, r.inner});
  return r;
}

namespace {

// Sums each row of a contiguous [outer, inner] block, accumulating in double.
template <typename T>
void row_sums(const T* x, T* out, int64_t outer, int64_t inner) {
  if (outer >= 2 * get_num_threads() || outer * inner < kParallelGrain) {
    parallel_for(outer, inner, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* row = x + o * inner;
        double acc = 0;
        for (int64_t i = 0; i < inner; ++i) acc += row[i];
        out[o] = static_cast<T>(acc);
      }
    });
    return;
  }
  // Few long rows: split each row across threads and add the partial sums.
  for (int64_t o = 0; o < outer; ++o) {
    const T* row = x + o * inner;
    std::vector<double> partial(get_num_threads(), 0.0);
    parallel_for(inner, 1, [&](int64_t b, int64_t e) {
      double acc = 0;
      for (int64_t i = b; i < e; ++i) acc += row[i];
      partial[omp_get_thread_num()] = acc;
    });
    double total = 0;
    for (double p : partial) total += p;
    out[o] = static_cast<T>(total);
  }
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

void sum_cpu(const Tensor& x, const Tensor& out, const std::vector<int64_t>& dims) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "sum", [&] {
    using T = scalar_t;
    if (x.is_contiguous() && is_prefix(dims) && !dims.empty()) {
      int64_t rows = 1;
      for (int64_t d : dims) rows *= x.shape()[d];
      column_sums<T>(x.data<T>(), out.data<T>(), rows, out.numel());
      return;
    }
    const ReduceRows r = reduce_rows(x, dims);
    row_sums<T>(r.rows.data<T>(), out.data<T>(), r.outer, r.inner);
  });
}

}  // namespace fovea
