#include "attention/ba2m.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

#include "engine/fovea.h"
#include "layers/activation.h"
#include "layers/linear.h"
#include "layers/norm.h"

namespace fovea::attention {

namespace {

const std::vector<std::string> kParts{"channel", "local", "global"};

bool has(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

std::string joined(const std::vector<std::string>& items, const char* sep) {
  std::string s;
  for (const auto& item : items) s += (s.empty() ? "" : sep) + item;
  return s;
}

// `value` must be one of `allowed`: an error naming the option otherwise.
void one_of(const std::string& option, const std::string& value,
            const std::vector<std::string>& allowed) {
  FOVEA_CHECK(has(allowed, value), "BA2M: ", option, " \"", value, "\" is not one of ",
              joined(allowed, ", "));
}

// Everything but C // r >= 1 (check_reduction, first); runs before any layer is built.
void check_options(int64_t c, const BA2MOptions& o) {
  FOVEA_CHECK(!o.parts.empty(), "BA2M: parts is empty; give one or more of ",
              joined(kParts, "+"));
  for (const auto& part : o.parts) {
    one_of("part", part, kParts);
    FOVEA_CHECK(std::count(o.parts.begin(), o.parts.end(), part) == 1, "BA2M: part \"", part,
                "\" given twice");
  }
  FOVEA_CHECK(o.dilation >= 1 && o.dilated_convs >= 0, "BA2M: dilation ", o.dilation,
              " must be >= 1 and dilated_convs ", o.dilated_convs, " >= 0");
  FOVEA_CHECK(std::isfinite(o.temperature) && o.temperature > 0, "BA2M: temperature ",
              o.temperature, " must be > 0 (the batch softmax divides the scores by it)");
  one_of("global_transform", o.global_transform, {"mlp", "gc"});
  one_of("activation", o.activation, {"sigmoid", "none"});
  one_of("reweight", o.reweight, {"n_times_w", "one_plus_w"});
  one_of("eval_policy", o.eval_policy, {"identity", "batch"});
  FOVEA_CHECK(o.global_transform != "gc" || !has(o.parts, "global") || c / o.r >= 2,
              "BA2M: global_transform=gc needs channels ", c, " // r ", o.r,
              " >= 2 (its LayerNorm over a single value is a constant)");
}

std::shared_ptr<nn::Conv2d> conv(int64_t in, int64_t out, int64_t kernel, int64_t dilation = 1,
                                 bool bias = true) {
  Conv2dOptions o;
  o.padding = {dilation * (kernel / 2), dilation * (kernel / 2)};  // keeps H x W
  o.dilation = {dilation, dilation};
  return std::make_shared<nn::Conv2d>(in, out, std::array<int64_t, 2>{kernel, kernel}, o, bias);
}

}  // namespace

BA2M::BA2M(int64_t c, const BA2MOptions& o)
    : AttentionModule("BA2M"),
      channels(c),
      options(o),
      sigmoid_(o.activation == "sigmoid"),
      n_times_w_(o.reweight == "n_times_w"),
      batch_eval_(o.eval_policy == "batch") {
  check_reduction(c, o.r, "r");
  check_options(c, o);
  const int64_t h = c / o.r;
  // Registered in the fixed order channel, local, global whatever the order of `parts`.
  if (has(o.parts, "channel"))
    channel = register_module("channel", std::make_shared<nn::Sequential>(
                                             std::initializer_list<std::shared_ptr<nn::Module>>{
                                                 std::make_shared<nn::Linear>(c, h),
                                                 std::make_shared<nn::ReLU>(),
                                                 std::make_shared<nn::Linear>(h, c)}));
  if (has(o.parts, "local")) {
    local = register_module("local", std::make_shared<nn::Sequential>());
    local->push_back(conv(c, h, 1));
    local->push_back(std::make_shared<nn::BatchNorm2d>(h));
    local->push_back(std::make_shared<nn::ReLU>());
    for (int64_t i = 0; i < o.dilated_convs; ++i) {
      local->push_back(conv(h, h, 3, o.dilation));
      local->push_back(std::make_shared<nn::BatchNorm2d>(h));
      local->push_back(std::make_shared<nn::ReLU>());
    }
    local->push_back(conv(h, 1, 1));
  }
  if (has(o.parts, "global")) {
    auto global = nn::add_group(*this, "global", "GlobalContext");
    // No bias: the softmax over H x W cancels it (GCNet's conv_mask has one, always 0-gradient).
    conv_mask = global->register_module("conv_mask", conv(c, 1, 1, 1, false));
    global_transform = global->register_module("transform", std::make_shared<nn::Sequential>());
    global_transform->push_back(std::make_shared<nn::Linear>(c, h));
    if (o.global_transform == "gc")
      global_transform->push_back(std::make_shared<nn::LayerNorm>(Shape{h}));
    global_transform->push_back(std::make_shared<nn::ReLU>());
    global_transform->push_back(std::make_shared<nn::Linear>(h, c));
  }
}

Tensor BA2M::score(const Tensor& x) {
  const int64_t n = x.size(0), hw = x.size(2) * x.size(3);
  auto act = [this](const Tensor& t) { return sigmoid_ ? sigmoid(t) : t; };
  Tensor s;
  // mean_chw of the broadcast sum = the sum of each map's own mean: SAR is never materialised.
  auto add = [&](const std::string& name, const Tensor& map) {
    record_map(name, map);
    const Tensor part = mean(map, {1, 2, 3});
    s = s.defined() ? s + part : part;
  };
  if (channel) add("channel", act((*channel)(mean(x, {2, 3}))).reshape({n, channels, 1, 1}));
  if (local) add("local", act((*local)(x)));
  if (conv_mask) {
    const Tensor p = softmax((*conv_mask)(x).reshape({n, hw}), 1);
    record_map("global_mask", p.reshape({n, 1, x.size(2), x.size(3)}));
    const Tensor z = matmul(x.reshape({n, channels, hw}), p.reshape({n, hw, 1}));  // [N, C, 1]
    add("global", act((*global_transform)(z.reshape({n, channels}))).reshape({n, channels, 1, 1}));
  }
  return s;
}

Tensor BA2M::forward(const Tensor& x) {
  check_input(x, channels);
  const int64_t n = x.size(0);
  const bool batch = is_training() || batch_eval_;
  if (!batch && !recording()) return x;  // identity eval: nothing to compute
  FOVEA_CHECK(!is_training() || !local || n * x.size(2) * x.size(3) > 1,
              "BA2M: training with the local part needs N x H x W > 1 (its BatchNorms normalise "
              "over them), got ", x.str(), "; use eval mode or a larger batch or map");
  std::optional<NoGradGuard> maps_only;  // identity eval while recording: the maps, no graph
  if (!batch) maps_only.emplace();
  const Tensor s = score(x);
  record_map("score", s);
  if (!batch) {
    record_map("weight", full({n}, 1.0 / static_cast<double>(n), x.dtype(), x.device()));
    record_map("factor", ones({n}, x.dtype(), x.device()));
    return x;
  }
  const Tensor w = softmax(s / options.temperature, 0);
  const Tensor f = n_times_w_ ? w * static_cast<double>(n) : w + 1.0;
  record_map("weight", w);
  record_map("factor", f);
  return x * f.reshape({n, 1, 1, 1});
}

std::string BA2M::extra_repr() const {
  std::vector<std::string> parts;
  for (const auto& p : kParts)
    if (has(options.parts, p)) parts.push_back(p);
  std::ostringstream os;
  os << "channels=" << channels << ", parts=" << joined(parts, "+") << ", r=" << options.r;
  if (local) os << ", dilation=" << options.dilation << ", dilated_convs=" << options.dilated_convs;
  if (conv_mask) os << ", global_transform=" << options.global_transform;
  os << ", activation=" << options.activation << ", temperature=" << options.temperature
     << ", reweight=" << options.reweight << ", eval_policy=" << options.eval_policy;
  return os.str();
}

nn::AttentionSpec ba2m_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "ba2m";
  s.help =
      "EXPERIMENTAL, unverified reconstruction (spec §15; no public code): Batch Aware "
      "Attention, Y_i = X_i N softmax_batch(mean of channel + local + global maps)_i";
  s.options = {
      {"parts", "channel+local+global", "the maps summed into each sample's score ('+'-list)"},
      {"r", "16", "hidden width channels // r of all three parts"},
      {"dilation", "4", "dilation (= padding) of the local part's 3x3 convs (1..64)"},
      {"dilated_convs", "2", "number of those dilated 3x3 convs, each + BN + ReLU (0..8)"},
      {"global_transform", "mlp",
       "global part's transform of the pooled vector: mlp (Linear ReLU Linear) or gc (GCNet's, "
       "LayerNorm after the first Linear)"},
      {"activation", "sigmoid", "applied to each map before the sum: sigmoid or none"},
      {"temperature", "1.0", "the batch softmax is softmax(s / temperature), > 0"},
      {"reweight", "n_times_w", "Y_i = X_i N w_i (n_times_w) or X_i (1 + w_i) (one_plus_w)"},
      {"eval_policy", "identity",
       "eval mode: identity (Y = X, no batch dependence) or batch (the training formula on the "
       "eval batch)"}};
  s.make = [](const nn::AttentionContext& c) {
    BA2MOptions o;
    o.parts = c.options.list("parts", kParts);
    o.r = c.options.integer("r");
    o.dilation = c.options.integer("dilation", 1, 64);
    o.dilated_convs = c.options.integer("dilated_convs", 0, 8);
    o.global_transform = c.options.choice("global_transform", {"mlp", "gc"});
    o.activation = c.options.choice("activation", {"sigmoid", "none"});
    o.temperature = c.options.number("temperature");
    o.reweight = c.options.choice("reweight", {"n_times_w", "one_plus_w"});
    o.eval_policy = c.options.choice("eval_policy", {"identity", "batch"});
    return std::make_shared<BA2M>(c.channels, o);
  };
  return s;
}

}  // namespace fovea::attention
