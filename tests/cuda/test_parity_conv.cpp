// CUDA parity of the convolution slots: im2col and col2im on their own (the slots no op calls
// directly), and conv2d / conv1d forward and backward (input, weight and bias gradients) with
// stride, padding, dilation, groups (depthwise included), 1x1 kernels, odd sizes and ECA's
// channel conv1d. Depthwise convolutions (groups == C_in, ECA's conv1d too) take the direct
// kernels of cuda/conv_depthwise.cu, the others im2col + GEMM.
//
// Tolerances: im2col is exact; col2im abs 1e-6 + rel 1e-6 (sums in double vs the CPU's float
// adds in another order); conv abs 1e-5 + rel 1e-5 (GEMMs over K = C kH kW <= 27 products in
// different orders, and cuBLAS's float accumulation on a GPU).
#include <doctest/doctest.h>

#include "engine/fovea.h"
#include "engine/cpu/conv.h"
#include "support/cuda_parity.h"

using namespace fovea;
using test::random_index;
using test::random_values;

namespace {

constexpr test::Tolerance kExact{0, 0};
constexpr test::Tolerance kCol2im{1e-6, 1e-6};
constexpr test::Tolerance kConv{1e-5, 1e-5};

Conv2dOptions options(int64_t stride, int64_t pad, int64_t dilation, int64_t groups) {
  Conv2dOptions o;
  o.stride = {stride, stride};
  o.padding = {pad, pad};
  o.dilation = {dilation, dilation};
  o.groups = groups;
  return o;
}

}  // namespace

TEST_CASE("cuda parity: im2col and col2im on their own") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  const Tensor x = random_values({2, 3, 7, 6}, 1);
  for (const Conv2dOptions& o : {options(1, 1, 1, 1), options(2, 0, 1, 1), options(2, 2, 2, 1)}) {
    const int64_t kh = 3, kw = 2;
    const int64_t ho = (7 + 2 * o.padding[0] - o.dilation[0] * (kh - 1) - 1) / o.stride[0] + 1;
    const int64_t wo = (6 + 2 * o.padding[1] - o.dilation[1] * (kw - 1) - 1) / o.stride[1] + 1;
    const Shape col_shape = {3 * kh * kw, 2 * ho * wo};
    const std::string what = "stride " + std::to_string(o.stride[0]) + " padding " +
                             std::to_string(o.padding[0]) + " dilation " + std::to_string(o.dilation[0]);
    Tensor col_host = empty(col_shape), col_dev = empty(col_shape, DType::Float32, cuda.device());
    im2col_kernel(Device::cpu(), x, col_host, kh, kw, o);
    im2col_kernel(cuda.device(), x.to(cuda.device()), col_dev, kh, kw, o);
    test::check_parity(col_dev, col_host, kExact, "im2col, " + what);
    const Tensor cols = random_values(col_shape, 2);
    Tensor x_host = empty(x.shape()), x_dev = empty(x.shape(), DType::Float32, cuda.device());
    col2im_kernel(Device::cpu(), cols, x_host, kh, kw, o);
    col2im_kernel(cuda.device(), cols.to(cuda.device()), x_dev, kh, kw, o);
    test::check_parity(x_dev, x_host, kCol2im, "col2im, " + what);
  }
}

TEST_CASE("cuda parity: conv2d forward and backward with stride padding dilation and groups") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  struct ConvCase {
    Shape x, w;
    Conv2dOptions opt;
    bool bias;
  };
  const std::vector<ConvCase> cases = {
      {{2, 3, 7, 9}, {4, 3, 3, 3}, options(1, 1, 1, 1), true},
      {{2, 3, 8, 7}, {5, 3, 3, 3}, options(2, 1, 1, 1), false},
      {{1, 4, 9, 9}, {4, 2, 3, 3}, options(1, 2, 2, 2), true},   // groups 2, dilation 2
      {{2, 4, 6, 5}, {8, 1, 3, 3}, options(1, 1, 1, 4), true},   // depthwise, multiplier 2
      {{2, 3, 9, 8}, {3, 1, 3, 3}, options(2, 1, 2, 3), false},  // depthwise, stride, dilation
      {{3, 5, 4, 6}, {7, 5, 1, 1}, options(1, 0, 1, 1), true},   // 1x1
      {{2, 2, 5, 5}, {3, 2, 5, 5}, options(3, 2, 1, 1), false}};  // kernel as large as x
  for (const ConvCase& c : cases) {
    const std::string what = "conv2d x" + shape_str(c.x) + " w" + shape_str(c.w) + " groups " +
                             std::to_string(c.opt.groups) + " stride " + std::to_string(c.opt.stride[0]);
    std::vector<Tensor> inputs = {random_values(c.x, c.x[1]), random_values(c.w, c.w[0])};
    if (c.bias) inputs.push_back(random_values({c.w[0]}, 3));
    const Conv2dOptions opt = c.opt;
    test::check_op_parity({what,
                           [opt](const std::vector<Tensor>& v) {
                             return conv2d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), opt);
                           },
                           inputs, kConv},
                          cuda);
  }
}

TEST_CASE("cuda parity: conv1d as ECA uses it") {
  test::CudaDevice cuda;
  if (!cuda.ok()) return;
  Conv1dOptions opt;
  opt.padding = 1;
  test::check_op_parity({"conv1d eca k3",
                         [opt](const std::vector<Tensor>& v) { return conv1d(v[0], v[1], Tensor(), opt); },
                         {random_values({4, 1, 37}, 5), random_values({1, 1, 3}, 6)}, kConv},
                        cuda);
}
