#include "layers/conv.h"

#include <cmath>
#include <sstream>

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/core/init.h"

namespace fovea::nn {

namespace {

void check_channels(const char* type, int64_t in, int64_t out, int64_t groups) {
  FOVEA_CHECK(in > 0 && out > 0 && groups > 0 && in % groups == 0 && out % groups == 0, type,
              ": in_channels ", in, " and out_channels ", out,
              " must be positive multiples of groups ", groups);
}

// PyTorch's Conv reset_parameters: kaiming_uniform(a = sqrt 5) and a bias bound of 1/sqrt(fan_in).
void default_init(Tensor& weight, Tensor& bias, Generator* gen) {
  NoGradGuard no_grad;
  kaiming_uniform_(weight, std::sqrt(5.0), FanMode::FanIn, "leaky_relu", gen);
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(double(compute_fans(weight.shape()).first));
    uniform_(bias, -bound, bound, gen);
  }
}

}  // namespace

Conv2d::Conv2d(int64_t in, int64_t out, std::array<int64_t, 2> k, const Conv2dOptions& o,
               bool with_bias, DType dtype)
    : Module("Conv2d"),
      in_channels(in),
      out_channels(out),
      kernel_size(k),
      options(o),
      weight(register_parameter(
          "weight", (check_channels("Conv2d", in, out, o.groups),
                     empty({out, in / o.groups, k[0], k[1]}, dtype)))),
      bias(register_parameter("bias", with_bias ? empty({out}, dtype) : Tensor())) {
  reset_parameters();
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding,
               bool with_bias, DType dtype)
    : Conv2d(in, out, {k, k}, Conv2dOptions{{stride, stride}, {padding, padding}, {1, 1}, 1},
             with_bias, dtype) {}

void Conv2d::reset_parameters(Generator* gen) { default_init(weight, bias, gen); }

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, options); }

std::string Conv2d::extra_repr() const {
  std::ostringstream os;
  os << in_channels << ", " << out_channels << ", kernel_size=" << pair_repr(kernel_size)
     << ", stride=" << pair_repr(options.stride);
  if (options.padding != std::array<int64_t, 2>{0, 0}) os << ", padding=" << pair_repr(options.padding);
  if (options.dilation != std::array<int64_t, 2>{1, 1})
    os << ", dilation=" << pair_repr(options.dilation);
  if (options.groups != 1) os << ", groups=" << options.groups;
  if (!bias.defined()) os << ", bias=False";
  return os.str();
}

Conv1d::Conv1d(int64_t in, int64_t out, int64_t k, const Conv1dOptions& o, bool with_bias,
               DType dtype)
    : Module("Conv1d"),
      in_channels(in),
      out_channels(out),
      kernel_size(k),
      options(o),
      weight(register_parameter("weight", (check_channels("Conv1d", in, out, o.groups),
                                           empty({out, in / o.groups, k}, dtype)))),
      bias(register_parameter("bias", with_bias ? empty({out}, dtype) : Tensor())) {
  reset_parameters();
}

void Conv1d::reset_parameters(Generator* gen) { default_init(weight, bias, gen); }

Tensor Conv1d::forward(const Tensor& x) { return conv1d(x, weight, bias, options); }

std::string Conv1d::extra_repr() const {
  std::ostringstream os;
  os << in_channels << ", " << out_channels << ", kernel_size=(" << kernel_size
     << ",), stride=(" << options.stride << ",)";
  if (options.padding != 0) os << ", padding=(" << options.padding << ",)";
  if (options.dilation != 1) os << ", dilation=(" << options.dilation << ",)";
  if (options.groups != 1) os << ", groups=" << options.groups;
  if (!bias.defined()) os << ", bias=False";
  return os.str();
}

}  // namespace fovea::nn
