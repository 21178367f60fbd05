#include "attention/gam.h"

#include <sstream>

#include "engine/fovea.h"
#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/norm.h"

namespace fovea::attention {

namespace {

std::shared_ptr<nn::Conv2d> conv7x7(int64_t in, int64_t out, int64_t groups) {
  Conv2dOptions o;
  o.padding = {3, 3};
  o.groups = groups;
  return std::make_shared<nn::Conv2d>(in, out, std::array<int64_t, 2>{7, 7}, o, true);
}

}  // namespace

GAM::GAM(int64_t c, const GAMOptions& o)
    : AttentionModule("GAM"),
      in_channels(c),
      options(o),
      shuffle_mid_(o.spatial_groups > 1 && o.shuffle == "mid"),
      shuffle_out_(o.spatial_groups > 1 && o.shuffle == "out") {
  check_reduction(c, o.rate, "rate");
  const int64_t hidden = c / o.rate;
  const int64_t g = o.spatial_groups;
  FOVEA_CHECK(g >= 1, "GAM: spatial_groups ", g, " must be >= 1");
  FOVEA_CHECK(c % g == 0 && hidden % g == 0, "GAM: channels ", c, " and channels // rate = ",
              hidden, " must both be divisible by spatial_groups=", g);
  FOVEA_CHECK(o.shuffle == "mid" || o.shuffle == "out" || o.shuffle == "none",
              "GAM: unknown shuffle \"", o.shuffle, "\" (mid, out, none)");
  channel_attention = register_module(
      "channel_attention", std::make_shared<nn::Sequential>(
                               std::initializer_list<std::shared_ptr<nn::Module>>{
                                   std::make_shared<nn::Linear>(c, hidden),
                                   std::make_shared<nn::ReLU>(),
                                   std::make_shared<nn::Linear>(hidden, c)}));
  spatial_attention = register_module(
      "spatial_attention", std::make_shared<nn::Sequential>(
                               std::initializer_list<std::shared_ptr<nn::Module>>{
                                   conv7x7(c, hidden, g), std::make_shared<nn::BatchNorm2d>(hidden),
                                   std::make_shared<nn::ReLU>(), conv7x7(hidden, c, g),
                                   std::make_shared<nn::BatchNorm2d>(c)}));
}

Tensor GAM::channel_shuffle(const Tensor& x, int64_t groups) {
  const Shape s = x.shape();
  return x.reshape({s[0], groups, s[1] / groups, s[2], s[3]})
      .transpose(1, 2)
      .reshape({s[0], s[1], s[2], s[3]});
}

Tensor GAM::forward(const Tensor& x) {
  check_input(x, in_channels);
  // The MLP mixes channels at each pixel separately: Linear acts on the last dim of [N, H, W, C].
  Tensor mc = (*channel_attention)(x.permute({0, 2, 3, 1})).permute({0, 3, 1, 2});
  if (options.channel_sigmoid) mc = sigmoid(mc);
  record_map("channel", mc);
  const Tensor x1 = x * mc;

  const auto& sa = *spatial_attention;
  const int64_t g = options.spatial_groups;
  Tensor s = (*sa[2])((*sa[1])((*sa[0])(x1)));
  if (shuffle_mid_) s = channel_shuffle(s, g);
  Tensor ms = sigmoid((*sa[4])((*sa[3])(s)));
  if (shuffle_out_) ms = channel_shuffle(ms, g);
  record_map("spatial", ms);
  return x1 * ms;
}

std::string GAM::extra_repr() const {
  std::ostringstream os;
  os << "in_channels=" << in_channels << ", rate=" << options.rate
     << ", channel_sigmoid=" << nn::py_bool(options.channel_sigmoid)
     << ", spatial_groups=" << options.spatial_groups << ", shuffle=" << options.shuffle;
  return os.str();
}

nn::AttentionSpec gam_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "gam";
  s.help = "GAM: per-pixel channel MLP, then two 7x7 convs with BN as the spatial gate (spec §10)";
  s.options = {
      {"rate", "4", "reduction of the channel MLP and the spatial convs: channels // rate"},
      {"channel_sigmoid", "true", "sigmoid on the channel branch (false: the seed's)"},
      {"spatial_groups", "1", "groups of both 7x7 convs (the paper's ResNet-50 uses > 1)"},
      {"shuffle", "out",
       "channel shuffle when spatial_groups > 1: out (of the spatial map, as the "
       "copied reference code), mid (between the convs, ShuffleNet's), none"}};
  s.make = [](const nn::AttentionContext& c) {
    GAMOptions o;
    o.rate = c.options.integer("rate");
    o.channel_sigmoid = c.options.flag("channel_sigmoid");
    o.spatial_groups = c.options.integer("spatial_groups");
    o.shuffle = c.options.choice("shuffle", {"mid", "out", "none"});
    return std::make_shared<GAM>(c.channels, o);
  };
  return s;
}

}  // namespace fovea::attention
