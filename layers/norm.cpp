#include "layers/norm.h"

#include <algorithm>
#include <sstream>

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/ops/norm.h"

namespace fovea::nn {

namespace {
Tensor maybe(bool present, Tensor t) { return present ? t : Tensor(); }
}  // namespace

BatchNorm::BatchNorm(std::string type, std::vector<int64_t> input_dims,
                     int64_t num_features_, const BatchNormOptions& options_)
    : Module(std::move(type)),
      num_features(num_features_),
      options(options_),
      weight(register_parameter("weight", maybe(options_.affine, ones({num_features_}, options_.dtype)))),
      bias(register_parameter("bias", maybe(options_.affine, zeros({num_features_}, options_.dtype)))),
      running_mean(register_buffer(
          "running_mean", maybe(options_.track_running_stats, zeros({num_features_}, options_.dtype)))),
      running_var(register_buffer(
          "running_var", maybe(options_.track_running_stats, ones({num_features_}, options_.dtype)))),
      num_batches_tracked(register_buffer(
          "num_batches_tracked",
          maybe(options_.track_running_stats, zeros({}, DType::Int64)))),
      input_dims_(std::move(input_dims)) {
  FOVEA_CHECK(num_features_ > 0, type_name(), ": num_features must be positive, got ",
              num_features_);
  FOVEA_CHECK(options_.eps > 0, type_name(), ": eps must be positive, got ", options_.eps);
  FOVEA_CHECK(!options_.momentum || (*options_.momentum >= 0 && *options_.momentum <= 1),
              type_name(), ": momentum must be in [0, 1], got ", *options_.momentum);
}

Tensor BatchNorm::forward(const Tensor& x) {
  check_defined(x, type_name().c_str());
  FOVEA_CHECK(std::find(input_dims_.begin(), input_dims_.end(), x.dim()) != input_dims_.end(),
              type_name(), ": expected a ", input_dims_.front(), "-d",
              input_dims_.size() > 1 ? " or " + std::to_string(input_dims_.back()) + "-d" : "",
              " input, got ", x.str());
  double momentum = options.momentum.value_or(0.0);
  const bool use_batch_stats = is_training() || !options.track_running_stats;
  if (is_training() && options.track_running_stats) {
    {
      NoGradGuard no_grad;
      num_batches_tracked.add_(scalar_tensor(1, DType::Int64, num_batches_tracked.device()));
    }
    // item() reads host memory: a module on a device copies the counter back first.
    if (!options.momentum)
      momentum = 1.0 / double(num_batches_tracked.to(Device::cpu()).item<int64_t>());
  }
  // Outside training without tracked statistics, batch statistics are used and nothing is
  // updated (PyTorch passes no running tensors then).
  const bool update = is_training() && options.track_running_stats;
  return batch_norm(x, update || !use_batch_stats ? running_mean : Tensor(),
                    update || !use_batch_stats ? running_var : Tensor(), weight, bias,
                    use_batch_stats, momentum, options.eps);
}

std::string BatchNorm::extra_repr() const {
  std::ostringstream os;
  os << num_features << ", eps=" << options.eps << ", momentum=";
  if (options.momentum) os << *options.momentum; else os << "None";
  os << ", affine=" << py_bool(options.affine)
     << ", track_running_stats=" << py_bool(options.track_running_stats);
  return os.str();
}

BatchNorm1d::BatchNorm1d(int64_t n, const BatchNormOptions& o)
    : BatchNorm("BatchNorm1d", {2, 3}, n, o) {}
BatchNorm2d::BatchNorm2d(int64_t n, const BatchNormOptions& o)
    : BatchNorm("BatchNorm2d", {4}, n, o) {}

GroupNorm::GroupNorm(int64_t num_groups_, int64_t num_channels_, double eps_, bool affine,
                     DType dtype)
    : Module("GroupNorm"),
      num_groups(num_groups_),
      num_channels(num_channels_),
      eps(eps_),
      weight(register_parameter("weight", maybe(affine, ones({num_channels_}, dtype)))),
      bias(register_parameter("bias", maybe(affine, zeros({num_channels_}, dtype)))) {
  FOVEA_CHECK(num_groups_ > 0 && num_channels_ > 0 && num_channels_ % num_groups_ == 0,
              "GroupNorm: num_channels ", num_channels_, " must be a positive multiple of ",
              "num_groups ", num_groups_);
}

Tensor GroupNorm::forward(const Tensor& x) { return group_norm(x, num_groups, weight, bias, eps); }

std::string GroupNorm::extra_repr() const {
  std::ostringstream os;
  os << num_groups << ", " << num_channels << ", eps=" << eps
     << ", affine=" << py_bool(weight.defined());
  return os.str();
}

LayerNorm::LayerNorm(Shape normalized_shape_, double eps_, bool affine, DType dtype)
    : Module("LayerNorm"),
      normalized_shape(std::move(normalized_shape_)),
      eps(eps_),
      weight(register_parameter("weight", maybe(affine, ones(normalized_shape, dtype)))),
      bias(register_parameter("bias", maybe(affine, zeros(normalized_shape, dtype)))) {
  FOVEA_CHECK(!normalized_shape.empty(), "LayerNorm: normalized_shape must not be empty");
}

Tensor LayerNorm::forward(const Tensor& x) {
  return layer_norm(x, normalized_shape, weight, bias, eps);
}

std::string LayerNorm::extra_repr() const {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < normalized_shape.size(); ++i)
    os << (i ? ", " : "") << normalized_shape[i];
  os << (normalized_shape.size() == 1 ? ",)" : ")") << ", eps=" << eps
     << ", elementwise_affine=" << py_bool(weight.defined());
  return os.str();
}

}  // namespace fovea::nn
