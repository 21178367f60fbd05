// Pooling layers, after PyTorch's nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d and
// nn.AdaptiveMaxPool2d. The math and backward: engine/ops/pool.h. An adaptive output size of
// -1 keeps that input dim (PyTorch's None).
#pragma once

#include <array>

#include "engine/ops/pool.h"
#include "layers/module.h"

namespace fovea::nn {

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(const Pool2dOptions& options);
  MaxPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const Pool2dOptions options;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(const Pool2dOptions& options);
  AvgPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const Pool2dOptions options;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(std::array<int64_t, 2> output_size);
  explicit AdaptiveAvgPool2d(int64_t output_size) : AdaptiveAvgPool2d({output_size, output_size}) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const std::array<int64_t, 2> output_size;
};

class AdaptiveMaxPool2d : public Module {
 public:
  explicit AdaptiveMaxPool2d(std::array<int64_t, 2> output_size);
  explicit AdaptiveMaxPool2d(int64_t output_size) : AdaptiveMaxPool2d({output_size, output_size}) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const std::array<int64_t, 2> output_size;
};

}  // namespace fovea::nn
