#include "engine/ops/pool.h"

#include <functional>

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/pool.h"
#include "engine/kernels/pool.h"
#include "engine/ops/mac_count.h"

namespace fovea {

namespace {

// Every pool's backward: one kernel computes dx (allocated here, x's shape) from g and, for
// the max pools, the saved arg-max indices.
class PoolBackward final : public Node {
 public:
  using Kernel = std::function<void(const Tensor& g, const Tensor& indices, const Tensor& dx)>;
  PoolBackward(std::string name, Kernel kernel)
      : name_(std::move(name)), kernel_(std::move(kernel)) {}
  std::string name() const override { return name_; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const TensorMeta& in = input_meta(0);
    Tensor dx = empty(in.shape, in.dtype, in.device);
    kernel_(grads[0], indices_.unpack(*this), dx);
    return {dx};
  }
  void release_saved() override { indices_.reset(); }
  SavedTensor indices_;

 private:
  std::string name_;
  Kernel kernel_;
};

void record(Tensor& out, const Tensor& x, const char* name, const Tensor& indices,
            PoolBackward::Kernel kernel) {
  if (auto node = make_node<PoolBackward>({x}, name, std::move(kernel))) {
    if (indices.defined()) node->indices_ = SavedTensor(indices);
    set_history(out, node);
  }
}

std::string pair_str(const std::array<int64_t, 2>& a) {
  return shape_str({a[0], a[1]});
}

// x as [N, C, H, W] (an unbatched [C, H, W] gains N = 1), after the checks every pool shares.
Tensor batched(const Tensor& x, const char* op) {
  check_float(x, op);
  FOVEA_CHECK(x.dim() == 3 || x.dim() == 4, op,
              ": expected a 3-d [C, H, W] or 4-d [N, C, H, W] input, got ", x.str());
  for (int64_t d = x.dim() - 3; d < x.dim(); ++d)
    FOVEA_CHECK(x.size(d) > 0, op, ": C, H and W must be non-empty, got ", x.str());
  return x.dim() == 3 ? x.unsqueeze(0) : x;
}

// Undoes batched() on an output.
Tensor unbatched(const Tensor& y, const Tensor& x) { return x.dim() == 3 ? y.squeeze(0) : y; }

// The options with the stride filled in, checked as PyTorch checks them.
Pool2dOptions resolve(const Pool2dOptions& in, const char* op, bool avg) {
  Pool2dOptions o = in;
  if (o.stride[0] == 0 && o.stride[1] == 0) o.stride = o.kernel;
  for (int i = 0; i < 2; ++i) {
    FOVEA_CHECK(o.kernel[i] > 0, op, ": kernel sizes must be positive, got kernel ",
                pair_str(o.kernel));
    FOVEA_CHECK(o.stride[i] > 0, op, ": strides must be positive ({0, 0} means the kernel), got ",
                "stride ", pair_str(o.stride));
    FOVEA_CHECK(o.dilation[i] > 0, op, ": dilations must be positive, got dilation ",
                pair_str(o.dilation));
    FOVEA_CHECK(o.padding[i] >= 0 && o.padding[i] <= o.kernel[i] / 2, op,
                ": padding must be between 0 and half the kernel size, got padding ",
                pair_str(o.padding), " for kernel ", pair_str(o.kernel));
  }
  FOVEA_CHECK(!avg || (o.dilation[0] == 1 && o.dilation[1] == 1), op,
              ": dilation is not supported (as in PyTorch), got dilation ", pair_str(o.dilation));
  return o;
}

// The [N, C, oh, ow] output shape; an error when a size is below 1.
Shape pooled_shape(const Tensor& x4, const Pool2dOptions& o, const char* op) {
  const int64_t oh = pool_output_size(x4.size(2), o.kernel[0], o.stride[0], o.padding[0],
                                      o.dilation[0], o.ceil_mode);
  const int64_t ow = pool_output_size(x4.size(3), o.kernel[1], o.stride[1], o.padding[1],
                                      o.dilation[1], o.ceil_mode);
  FOVEA_CHECK(oh >= 1 && ow >= 1, op, ": output size [", oh, ", ", ow, "] is too small for ",
              x4.str(), " with kernel ", pair_str(o.kernel), ", stride ", pair_str(o.stride),
              ", padding ", pair_str(o.padding), ", dilation ", pair_str(o.dilation));
  return {x4.size(0), x4.size(1), oh, ow};
}

// The taps of an adaptive pooling along one axis: the sum of its bins' lengths, the bins the
// kernels read (bins overlap when `out` does not divide `in`; mac_count.h).
int64_t adaptive_taps(int64_t in, int64_t out) {
  const pool::PoolAxis axis = pool::adaptive_axis(in, out);
  int64_t taps = 0;
  for (int64_t o = 0; o < out; ++o) taps += axis.span(o).end - axis.span(o).begin;
  return taps;
}

// Counts the elements a pooling of x4 into `y` reads (mac_count.h).
void count_pool_reads(const Tensor& x4, const Shape& y, bool adaptive, const Pool2dOptions& o) {
  if (adaptive)
    count_reduce_reads(y[0] * y[1] * adaptive_taps(x4.size(2), y[2]) *
                       adaptive_taps(x4.size(3), y[3]));
  else
    count_reduce_reads(y[0] * y[1] * y[2] * y[3] * o.kernel[0] * o.kernel[1]);
}

Shape adaptive_shape(const Tensor& x4, std::array<int64_t, 2> size, const char* op) {
  for (int i = 0; i < 2; ++i) {
    FOVEA_CHECK(size[i] > 0 || size[i] == -1, op,
                ": output_size must be positive or -1 (keep the input size), got ",
                pair_str(size), " for ", x4.str());
    if (size[i] == -1) size[i] = x4.size(2 + i);
  }
  return {x4.size(0), x4.size(1), size[0], size[1]};
}

// max_pool2d and adaptive_max_pool2d (adaptive: `size` is the output size, else `opt` rules).
MaxPoolResult max_pool(const Tensor& x, const char* op, bool adaptive, const Pool2dOptions& opt,
                       std::array<int64_t, 2> size) {
  const Tensor x4 = batched(x, op);
  const Pool2dOptions o = adaptive ? opt : resolve(opt, op, false);
  const Shape shape = adaptive ? adaptive_shape(x4, size, op) : pooled_shape(x4, o, op);
  MaxPoolResult r{empty(shape, x.dtype(), x.device()), empty(shape, DType::Int64, x.device())};
  count_pool_reads(x4, shape, adaptive, o);
  if (adaptive)
    adaptive_max_pool2d_forward_kernel(x.device(), x4, r.values, r.indices);
  else
    max_pool2d_forward_kernel(x.device(), x4, r.values, r.indices, o);
  record(r.values, x4, adaptive ? "AdaptiveMaxPool2dBackward" : "MaxPool2dBackward", r.indices,
         [adaptive, o](const Tensor& g, const Tensor& indices, const Tensor& dx) {
           if (adaptive)
             adaptive_max_pool2d_backward_kernel(dx.device(), g, indices, dx);
           else
             max_pool2d_backward_kernel(dx.device(), g, indices, dx, o);
         });
  return {unbatched(r.values, x), unbatched(r.indices, x)};
}

}  // namespace

int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding,
                         int64_t dilation, bool ceil_mode) {
  const int64_t span = in + 2 * padding - dilation * (kernel - 1) - 1;
  // Floor (or ceil) division that rounds towards -inf for a negative span, like PyTorch's
  // div_rtn, so that a kernel larger than the padded input gives a size below 1.
  const int64_t num = span + (ceil_mode ? stride - 1 : 0);
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + padding) --out;
  return out;
}

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& opt) {
  return max_pool(x, "max_pool2d", false, opt, {}).values;
}

MaxPoolResult max_pool2d_with_indices(const Tensor& x, const Pool2dOptions& opt) {
  return max_pool(x, "max_pool2d_with_indices", false, opt, {});
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& opt) {
  const char* op = "avg_pool2d";
  const Tensor x4 = batched(x, op);
  const Pool2dOptions o = resolve(opt, op, true);
  Tensor y = empty(pooled_shape(x4, o, op), x.dtype(), x.device());
  count_pool_reads(x4, y.shape(), false, o);
  avg_pool2d_forward_kernel(x.device(), x4, y, o);
  record(y, x4, "AvgPool2dBackward", Tensor(),
         [o](const Tensor& g, const Tensor&, const Tensor& dx) {
           avg_pool2d_backward_kernel(dx.device(), g, dx, o);
         });
  return unbatched(y, x);
}

Tensor adaptive_avg_pool2d(const Tensor& x, std::array<int64_t, 2> output_size) {
  const char* op = "adaptive_avg_pool2d";
  const Tensor x4 = batched(x, op);
  Tensor y = empty(adaptive_shape(x4, output_size, op), x.dtype(), x.device());
  count_pool_reads(x4, y.shape(), true, {});
  adaptive_avg_pool2d_forward_kernel(x.device(), x4, y);
  record(y, x4, "AdaptiveAvgPool2dBackward", Tensor(),
         [](const Tensor& g, const Tensor&, const Tensor& dx) {
           adaptive_avg_pool2d_backward_kernel(dx.device(), g, dx);
         });
  return unbatched(y, x);
}

Tensor adaptive_max_pool2d(const Tensor& x, std::array<int64_t, 2> output_size) {
  return max_pool(x, "adaptive_max_pool2d", true, {}, output_size).values;
}

MaxPoolResult adaptive_max_pool2d_with_indices(const Tensor& x,
                                               std::array<int64_t, 2> output_size) {
  return max_pool(x, "adaptive_max_pool2d_with_indices", true, {}, output_size);
}

}  // namespace fovea
