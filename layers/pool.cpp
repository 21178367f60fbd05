#include "layers/pool.h"

#include <sstream>

namespace fovea::nn {

namespace {

Pool2dOptions square(int64_t kernel, int64_t stride, int64_t padding) {
  Pool2dOptions o;
  o.kernel = {kernel, kernel};
  o.stride = {stride, stride};
  o.padding = {padding, padding};
  return o;
}

// Pooling modules print a square window as one number, as PyTorch does (kernel_size=2).
std::string window_repr(const std::array<int64_t, 2>& v) {
  return v[0] == v[1] ? std::to_string(v[0]) : pair_repr(v);
}

std::string size_str(const std::array<int64_t, 2>& v) {
  auto one = [](int64_t d) { return d == -1 ? std::string("None") : std::to_string(d); };
  if (v[0] == v[1]) return one(v[0]);
  std::ostringstream os;
  os << '(' << one(v[0]) << ", " << one(v[1]) << ')';
  return os.str();
}

std::string pool_repr(const Pool2dOptions& o, bool max) {
  std::ostringstream os;
  const auto stride = o.stride == std::array<int64_t, 2>{0, 0} ? o.kernel : o.stride;
  os << "kernel_size=" << window_repr(o.kernel) << ", stride=" << window_repr(stride)
     << ", padding=" << window_repr(o.padding);
  if (max) os << ", dilation=" << window_repr(o.dilation);
  os << ", ceil_mode=" << py_bool(o.ceil_mode);
  if (!max) os << ", count_include_pad=" << py_bool(o.count_include_pad);
  return os.str();
}

}  // namespace

MaxPool2d::MaxPool2d(const Pool2dOptions& o) : Module("MaxPool2d"), options(o) {}
MaxPool2d::MaxPool2d(int64_t k, int64_t s, int64_t p) : MaxPool2d(square(k, s, p)) {}
Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, options); }
std::string MaxPool2d::extra_repr() const { return pool_repr(options, true); }

AvgPool2d::AvgPool2d(const Pool2dOptions& o) : Module("AvgPool2d"), options(o) {}
AvgPool2d::AvgPool2d(int64_t k, int64_t s, int64_t p) : AvgPool2d(square(k, s, p)) {}
Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, options); }
std::string AvgPool2d::extra_repr() const { return pool_repr(options, false); }

AdaptiveAvgPool2d::AdaptiveAvgPool2d(std::array<int64_t, 2> s)
    : Module("AdaptiveAvgPool2d"), output_size(s) {}
Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return adaptive_avg_pool2d(x, output_size); }
std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + size_str(output_size); }

AdaptiveMaxPool2d::AdaptiveMaxPool2d(std::array<int64_t, 2> s)
    : Module("AdaptiveMaxPool2d"), output_size(s) {}
Tensor AdaptiveMaxPool2d::forward(const Tensor& x) { return adaptive_max_pool2d(x, output_size); }
std::string AdaptiveMaxPool2d::extra_repr() const { return "output_size=" + size_str(output_size); }

}  // namespace fovea::nn
