// CUDA twins of the reduction slots (engine/cpu/reduce.h). Sums accumulate in double and round
// once, as on the CPU, so the two differ only in the order of the double additions.
//   sum: out[o] = sum of x over dims.
// Two shapes of work:
//   lines  one thread per output, walking its elements: few elements per output, or the
//          reduced dims lead a contiguous x (bias gradients: out[c] = sum over n of x[n, c]),
//          where neighbouring threads read neighbouring columns;
//   rows   one block per output row of the [outer, inner] row view (reduce_rows), its threads
//          striding the row and meeting in block_reduce_sum.
#include "engine/cpu/reduce.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"
#include "cuda/block_reduce.cuh"

FOVEA_CUDA_BEGIN

namespace {

constexpr int kRowBlock = 256;
constexpr int64_t kLineMax = 64;  // longest row a single thread sums

// out[o] = sum_j x[o * line_stride + j * elem_stride], j < n, for o < lines.
__global__ void sum_lines_k(const float* x, float* out, int64_t lines, int64_t n,
                            int64_t line_stride, int64_t elem_stride) {
  GRID_STRIDE_LOOP(o, lines) {
    const float* p = x + o * line_stride;
    double acc = 0;
    for (int64_t j = 0; j < n; ++j) acc += p[j * elem_stride];
    out[o] = float(acc);
  }
}

template <int BLOCK>
__global__ void sum_rows_k(const float* x, float* out, int64_t outer, int64_t inner) {
  for (int64_t row = blockIdx.x; row < outer; row += gridDim.x) {  // uniform per block
    const float* p = x + row * inner;
    double acc = 0;
    for (int64_t j = threadIdx.x; j < inner; j += BLOCK) acc += p[j];
    const double total = block_reduce_sum<BLOCK>(acc);
    if (threadIdx.x == 0) out[row] = float(total);
  }
}

bool leading_dims(const DimList& dims) {
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] != int64_t(i)) return false;
  return !dims.empty();
}

void launch_sum_lines(const float* x, float* out, int64_t lines, int64_t n, int64_t line_stride,
                      int64_t elem_stride) {
  KLAUNCH(elementwise_grid(lines), kElementwiseBlock, 0, stream(), sum_lines_k)(
      x, out, lines, n, line_stride, elem_stride);
  FOVEA_CUDA_LAUNCH_CHECK("sum");
}

}  // namespace

void sum_cuda(const Tensor& x, const Tensor& out, const DimList& dims) {
  require_float32(x, "sum");
  float* y = out.device_data<float>();
  if (out.numel() == 0) return;
  if (x.is_contiguous() && leading_dims(dims)) {
    int64_t rows = 1;
    for (int64_t d : dims) rows *= x.shape()[d];
    const int64_t cols = out.numel();
    return launch_sum_lines(x.device_data<float>(), y, cols, rows, 1, cols);
  }
  const ReduceRows r = reduce_rows(x, dims);
  const float* rows = r.rows.device_data<float>();
  if (r.inner <= kLineMax) return launch_sum_lines(rows, y, r.outer, r.inner, r.inner, 1);
  const unsigned grid = unsigned(std::min<int64_t>(r.outer, 4096));
  KLAUNCH(grid, kRowBlock, 0, stream(), sum_rows_k<kRowBlock>)(rows, y, r.outer, r.inner);
  FOVEA_CUDA_LAUNCH_CHECK("sum");
}

void register_reduce() { sum_kernel.set_cuda(&sum_cuda); }

FOVEA_CUDA_END
