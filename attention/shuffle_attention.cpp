#include "attention/shuffle_attention.h"

#include <cstdint>
#include <sstream>
#include <string>

#include "engine/fovea.h"

namespace fovea::attention {

namespace {

// c' = C / (2G), checked before any parameter of that size exists (spec §21).
int64_t sub_channels(int64_t c, int64_t groups) {
  FOVEA_CHECK(groups >= 1, "ShuffleAttention: groups ", groups, " must be >= 1");
  // groups <= c / 2 first: 2 * groups may not even fit in int64 (found by fuzz_attention).
  FOVEA_CHECK(c >= 1 && groups <= c / 2 && c % (2 * groups) == 0, "ShuffleAttention: channels ",
              c, " not divisible by 2*groups=",
              groups <= INT64_MAX / 2 ? std::to_string(2 * groups) : "2*" + std::to_string(groups),
              " (spec §21; use groups <= channels/2)");
  return c / (2 * groups);
}

}  // namespace

ShuffleAttention::ShuffleAttention(int64_t c, const ShuffleAttentionOptions& o)
    : AttentionModule("ShuffleAttention"),
      channel(c),
      options(o),
      cweight(register_parameter("cweight", zeros({1, sub_channels(c, o.groups), 1, 1}))),
      cbias(register_parameter("cbias", ones({1, c / (2 * o.groups), 1, 1}))),
      sweight(register_parameter("sweight", zeros({1, c / (2 * o.groups), 1, 1}))),
      sbias(register_parameter("sbias", ones({1, c / (2 * o.groups), 1, 1}))) {
  const int64_t sub = c / (2 * o.groups);
  gn = register_module("gn", std::make_shared<nn::GroupNorm>(sub, sub));
}

Tensor ShuffleAttention::forward(const Tensor& x) {
  check_input(x, channel);
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3), g = options.groups;
  const std::vector<Tensor> halves = chunk(x.reshape({n * g, channel / g, h, w}), 2, 1);
  const Tensor& x0 = halves[0];
  const Tensor& x1 = halves[1];

  const Tensor ac = sigmoid(cweight * mean(x0, {2, 3}, true) + cbias);
  record_map("channel", ac);
  const Tensor as = sigmoid(sweight * (*gn)(x1) + sbias);
  record_map("spatial", as);

  const Tensor out = cat({x0 * ac, x1 * as}, 1).reshape({n, channel, h, w});
  // Channel shuffle with 2 groups: the two halves' channels interleave.
  return out.reshape({n, 2, channel / 2, h, w})
      .permute({0, 2, 1, 3, 4})
      .reshape({n, channel, h, w});
}

std::string ShuffleAttention::extra_repr() const {
  std::ostringstream os;
  os << "channel=" << channel << ", groups=" << options.groups;
  return os.str();
}

nn::AttentionSpec sa_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "sa";
  s.help = "Shuffle Attention: per-group channel gate + GroupNorm spatial gate, channel "
           "shuffle (spec §6)";
  s.options = {
      {"groups", "64", "groups G; channels must be divisible by 2*G (CIFAR widths: G <= C/2)"}};
  s.make = [](const nn::AttentionContext& c) {
    ShuffleAttentionOptions o;
    o.groups = c.options.integer("groups");
    return std::make_shared<ShuffleAttention>(c.channels, o);
  };
  return s;
}

}  // namespace fovea::attention
