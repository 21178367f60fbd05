// Convolution layers, after PyTorch's nn.Conv2d and nn.Conv1d. The math, shapes and backward
// are in engine/ops/conv.h.
// Init as PyTorch: weight kaiming_uniform(a = sqrt 5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
// bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels / groups * kernel area.
#pragma once

#include <array>

#include "engine/core/random.h"
#include "engine/ops/conv.h"
#include "layers/module.h"

namespace fovea::nn {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel_size,
         const Conv2dOptions& options = {}, bool bias = true, DType dtype = DType::Float32);
  // Square kernel, stride and padding: Conv2d(16, 32, 3, 1, 1, false).
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1,
         int64_t padding = 0, bool bias = true, DType dtype = DType::Float32);

  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters(Generator* gen = nullptr);

  const int64_t in_channels, out_channels;
  const std::array<int64_t, 2> kernel_size;
  const Conv2dOptions options;
  Tensor& weight;  // [out, in / groups, kH, kW]
  Tensor& bias;    // [out], undefined without bias
};

class Conv1d : public Module {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
         const Conv1dOptions& options = {}, bool bias = true, DType dtype = DType::Float32);

  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters(Generator* gen = nullptr);

  const int64_t in_channels, out_channels, kernel_size;
  const Conv1dOptions options;
  Tensor& weight;  // [out, in / groups, k]
  Tensor& bias;
};

}  // namespace fovea::nn
