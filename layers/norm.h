// Normalisation layers, after PyTorch's nn.BatchNorm1d/2d, nn.GroupNorm and nn.LayerNorm.
// The math and its backward live in engine/ops/norm.h; these modules own the parameters and
// the running statistics.
//
// BatchNorm (spec §0.1): in training, normalise with the batch statistics over every dim but
// the channel dim (biased variance) and update the running ones,
//   running = (1 - momentum) * running + momentum * batch      (variance: unbiased batch value)
// momentum empty means PyTorch's momentum=None: a cumulative average, momentum = 1/batches seen.
// In eval mode (or without running statistics) see engine/ops/norm.h.
//   weight (gamma) = 1, bias (beta) = 0; buffers running_mean = 0, running_var = 1,
//   num_batches_tracked = 0 (int64), as PyTorch names them.
#pragma once

#include <optional>

#include "layers/module.h"

namespace fovea::nn {

struct BatchNormOptions {
  double eps = 1e-5;
  std::optional<double> momentum = 0.1;
  bool affine = true;
  bool track_running_stats = true;
  DType dtype = DType::Float32;
};

class BatchNorm : public Module {
 public:
  // `input_dims`: the ranks the layer accepts ({2, 3} for BatchNorm1d, {4} for BatchNorm2d).
  BatchNorm(std::string type_name, std::vector<int64_t> input_dims, int64_t num_features,
            const BatchNormOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t num_features;
  const BatchNormOptions options;
  Tensor& weight;
  Tensor& bias;
  Tensor& running_mean;
  Tensor& running_var;
  Tensor& num_batches_tracked;

 private:
  std::vector<int64_t> input_dims_;
};

// [N, C] or [N, C, L]
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, const BatchNormOptions& options = {});
};

// [N, C, H, W]
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, const BatchNormOptions& options = {});
};

// Per sample and group of num_channels / num_groups channels; per-channel affine.
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true,
            DType dtype = DType::Float32);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t num_groups, num_channels;
  const double eps;
  Tensor& weight;
  Tensor& bias;
};

// Over the trailing `normalized_shape` dims; affine of that shape.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true,
                     DType dtype = DType::Float32);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const Shape normalized_shape;
  const double eps;
  Tensor& weight;
  Tensor& bias;
};

}  // namespace fovea::nn
