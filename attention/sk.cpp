#include "attention/sk.h"

#include <sstream>

#include "engine/fovea.h"

namespace fovea::attention {

namespace {

// Bounds on what a user may ask for: a 101x101 kernel or 1000 paths would allocate gigabytes
// before any forward could refuse them.
constexpr int64_t kMaxKernel = 31, kMaxDilation = 32, kMaxPaths = 16;

std::shared_ptr<nn::Conv2d> path_conv(int64_t in, int64_t out, int64_t k, int64_t dilation,
                                      int64_t stride, int64_t groups, bool bias) {
  Conv2dOptions o;
  const int64_t pad = dilation * (k - 1) / 2;  // odd k: keeps H x W at stride 1
  o.padding = {pad, pad};
  o.dilation = {dilation, dilation};
  o.stride = {stride, stride};
  o.groups = groups;
  return std::make_shared<nn::Conv2d>(in, out, std::array<int64_t, 2>{k, k}, o, bias);
}

int64_t parse_int(const std::string& item, const std::string& text) {
  FOVEA_CHECK(!item.empty() && item.size() <= 4 &&
                  item.find_first_not_of("0123456789") == std::string::npos,
              "SK: kernels=\"", text, "\": \"", item,
              "\" is not a number (expected e.g. 3d1+3d2: kernel, 'd', dilation, joined by '+')");
  return std::stoll(item);
}

// softmax over the path axis of [N, M, C] logits, then V = sum_i a_i * U_i.
Tensor select(const std::vector<Tensor>& paths, const Tensor& logits, Tensor* weights) {
  const Tensor a = softmax(logits, 1);  // [N, M, C]
  *weights = a;
  const Shape s = a.shape();
  const Tensor feats = stack(paths, 1);  // [N, M, C, H', W']
  return sum(feats * a.reshape({s[0], s[1], s[2], 1, 1}), {1});
}

}  // namespace

std::vector<std::pair<int64_t, int64_t>> default_sk_kernels() { return {{3, 1}, {3, 2}}; }

std::vector<std::pair<int64_t, int64_t>> parse_sk_kernels(const std::string& text) {
  std::vector<std::pair<int64_t, int64_t>> out;
  size_t start = 0;
  while (true) {
    const size_t plus = text.find('+', start);
    const std::string item = text.substr(start, plus == std::string::npos ? plus : plus - start);
    const size_t dpos = item.find('d');
    const int64_t k = parse_int(item.substr(0, dpos), text);
    const int64_t d = dpos == std::string::npos ? 1 : parse_int(item.substr(dpos + 1), text);
    out.emplace_back(k, d);
    if (plus == std::string::npos) break;
    start = plus + 1;
  }
  return out;
}

// ---- SKConv ---------------------------------------------------------------------------------

SKConv::SKConv(int64_t in, int64_t out, int64_t s, const SKConvOptions& o)
    : AttentionModule("SKConv"),
      in_channels(in),
      out_channels(out),
      stride(s),
      d(o.r >= 1 ? std::max(out / o.r, o.L) : 0),
      options(o) {
  const int64_t m = int64_t(o.kernels.size());
  FOVEA_CHECK(m >= 2 && m <= kMaxPaths, "SKConv: ", m, " paths given; expected 2 to ", kMaxPaths);
  for (const auto& kd : o.kernels) {
    const int64_t k = kd.first, dil = kd.second;
    FOVEA_CHECK(k >= 1 && k <= kMaxKernel && k % 2 == 1 && dil >= 1 && dil <= kMaxDilation,
                "SKConv: path kernel ", k, " dilation ", dil, " (expected an odd kernel in [1, ",
                kMaxKernel, "] and a dilation in [1, ", kMaxDilation, "])");
  }
  FOVEA_CHECK(in >= 1 && out >= 1 && s >= 1, "SKConv: in_channels ", in, ", out_channels ", out,
              ", stride ", s, " must be >= 1");
  FOVEA_CHECK(o.groups >= 1 && in % o.groups == 0 && out % o.groups == 0, "SKConv: in_channels ",
              in, " and out_channels ", out, " must be divisible by groups=", o.groups,
              " (spec §21; CIFAR widths 16/32/64 need groups <= 16)");
  FOVEA_CHECK(o.r >= 1 && o.L >= 1, "SKConv: r ", o.r, " and L ", o.L, " must be >= 1");
  FOVEA_CHECK(o.bn_momentum >= 0 && o.bn_momentum <= 1, "SKConv: bn_momentum ", o.bn_momentum,
              " must be in [0, 1] (PyTorch's convention: the weight of the new batch)");

  nn::BatchNormOptions bn;
  bn.momentum = o.bn_momentum;
  auto paths = nn::add_group(*this, "paths");
  for (int64_t i = 0; i < m; ++i) {
    auto p = nn::add_group(*paths, std::to_string(i));
    const auto& kd = o.kernels[size_t(i)];
    convs.push_back(
        p->register_module("conv", path_conv(in, out, kd.first, kd.second, s, o.groups, false)));
    bns.push_back(p->register_module("bn", std::make_shared<nn::BatchNorm2d>(out, bn)));
  }
  auto attn = nn::add_group(*this, "attn");
  fc_reduce =
      attn->register_module("fc_reduce", std::make_shared<nn::Conv2d>(out, d, 1, 1, 0, false));
  if (o.fuse_bn) fuse_bn = attn->register_module("bn", std::make_shared<nn::BatchNorm2d>(d, bn));
  fc_select =
      attn->register_module("fc_select", std::make_shared<nn::Conv2d>(d, m * out, 1, 1, 0, false));

  NoGradGuard no_grad;
  for (auto& c : convs) kaiming_normal_(c->weight, 0, FanMode::FanIn, "relu");  // msra
  normal_(fc_reduce->weight, 0.0, 0.01);
  normal_(fc_select->weight, 0.0, 0.01);
}

Tensor SKConv::forward(const Tensor& x) {
  check_input(x, in_channels);
  std::vector<Tensor> u;
  for (size_t i = 0; i < convs.size(); ++i) u.push_back(relu((*bns[i])((*convs[i])(x))));
  Tensor total = u[0];
  for (size_t i = 1; i < u.size(); ++i) total = total + u[i];
  Tensor z = (*fc_reduce)(mean(total, {2, 3}, true));  // [N, d, 1, 1]
  if (fuse_bn) z = (*fuse_bn)(z);
  const int64_t n = x.size(0), m = int64_t(u.size());
  const Tensor logits = (*fc_select)(relu(z)).reshape({n, m, out_channels});
  Tensor a;
  Tensor v = select(u, logits, &a);
  record_map("branch", a);
  return v;
}

std::string SKConv::extra_repr() const {
  std::ostringstream os;
  os << in_channels << ", " << out_channels << ", stride=" << stride << ", kernels=";
  for (size_t i = 0; i < options.kernels.size(); ++i)
    os << (i ? "+" : "") << options.kernels[i].first << "d" << options.kernels[i].second;
  os << ", groups=" << options.groups << ", r=" << options.r << ", L=" << options.L
     << ", d=" << d << ", fuse_bn=" << nn::py_bool(options.fuse_bn)
     << ", bn_momentum=" << options.bn_momentum;
  return os.str();
}

// ---- SKAttention (xmu) ------------------------------------------------------------------------

SKAttention::SKAttention(int64_t c, int64_t s, const SKAttentionOptions& o)
    : AttentionModule("SKAttention"),
      channels(c),
      stride(s),
      d(o.reduction >= 1 ? std::max(o.L, c / o.reduction) : 0),
      options(o) {
  const int64_t m = int64_t(o.kernels.size());
  FOVEA_CHECK(m >= 2 && m <= kMaxPaths, "SKAttention: ", m, " kernels given; expected 2 to ",
              kMaxPaths);
  for (int64_t k : o.kernels)
    FOVEA_CHECK(k >= 1 && k <= kMaxKernel && k % 2 == 1, "SKAttention: kernel ", k,
                " (expected an odd size in [1, ", kMaxKernel, "]: padding k // 2 keeps H x W)");
  FOVEA_CHECK(c >= 1 && s >= 1, "SKAttention: channels ", c, " and stride ", s, " must be >= 1");
  FOVEA_CHECK(o.group >= 1 && c % o.group == 0, "SKAttention: channels ", c,
              " must be divisible by group=", o.group);
  FOVEA_CHECK(o.reduction >= 1 && o.L >= 1, "SKAttention: reduction ", o.reduction, " and L ",
              o.L, " must be >= 1");
  auto list = nn::add_group(*this, "convs");
  for (int64_t i = 0; i < m; ++i) {
    auto p = nn::add_group(*list, std::to_string(i));
    const int64_t k = o.kernels[size_t(i)];
    convs.push_back(p->register_module("conv", path_conv(c, c, k, 1, s, o.group, true)));
    bns.push_back(p->register_module("bn", std::make_shared<nn::BatchNorm2d>(c)));
  }
  fc = register_module("fc", std::make_shared<nn::Linear>(c, d));
  auto heads = nn::add_group(*this, "fcs");
  for (int64_t i = 0; i < m; ++i)
    fcs.push_back(heads->register_module(std::to_string(i), std::make_shared<nn::Linear>(d, c)));
}

Tensor SKAttention::forward(const Tensor& x) {
  check_input(x, channels);
  std::vector<Tensor> u;
  for (size_t i = 0; i < convs.size(); ++i) u.push_back(relu((*bns[i])((*convs[i])(x))));
  Tensor total = u[0];
  for (size_t i = 1; i < u.size(); ++i) total = total + u[i];
  const Tensor z = (*fc)(mean(total, {2, 3}));  // [N, d]: no BN, no ReLU (the seed's)
  std::vector<Tensor> logits;
  for (const auto& head : fcs) logits.push_back((*head)(z));
  Tensor a;
  Tensor v = select(u, stack(logits, 1), &a);
  record_map("branch", a);
  return v;
}

std::string SKAttention::extra_repr() const {
  std::ostringstream os;
  os << "channel=" << channels << ", stride=" << stride << ", kernels=";
  for (size_t i = 0; i < options.kernels.size(); ++i) os << (i ? "+" : "") << options.kernels[i];
  os << ", reduction=" << options.reduction << ", group=" << options.group << ", L=" << options.L
     << ", d=" << d;
  return os.str();
}

// ---- the slot ---------------------------------------------------------------------------------

nn::AttentionSpec sk_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::ReplaceSecondConv;
  s.child_name = "conv2";
  s.help = "Selective Kernel conv (official SKNet unit): replaces the 3x3 conv; paths fused by a "
           "softmax over paths (spec §5a)";
  s.options = {{"kernels", "3d1+3d2", "paths as kernel 'd' dilation joined by '+' (odd kernels)"},
               {"groups", "32", "groups of every path conv (channels % groups == 0)"},
               {"r", "16", "reduction: d = max(out_channels // r, L)"},
               {"L", "32", "minimum width d of the fuse layer"},
               {"fuse_bn", "true", "BN between fc_reduce and its ReLU (the paper's)"},
               {"bn_momentum", "0.05",
                "momentum of the three BNs, PyTorch convention (Caffe's 0.95 = 0.05)"}};
  s.make = [](const nn::AttentionContext& c) {
    SKConvOptions o;
    o.kernels = parse_sk_kernels(c.options.text("kernels"));
    o.groups = c.options.integer("groups", 1, 4096);
    o.r = c.options.integer("r", 1, 4096);
    o.L = c.options.integer("L", 1, 4096);
    o.fuse_bn = c.options.flag("fuse_bn");
    o.bn_momentum = c.options.number("bn_momentum");
    return std::make_shared<SKConv>(c.in_channels, c.out_channels, c.stride, o);
  };
  return s;
}

nn::AttentionSpec sk_xmu_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::ReplaceSecondConv;
  s.child_name = "conv2";
  s.help = "Selective Kernel, xmu / seed layout: k x k paths with bias, Linear fuse without "
           "BN / ReLU, one Linear per path (spec §5b)";
  s.options = {{"kernels", "1+3+5+7", "odd kernel sizes of the paths, joined by '+'"},
               {"reduction", "16", "d = max(L, channels // reduction)"},
               {"group", "1", "groups of every path conv"},
               {"L", "32", "minimum width d of the fuse layer"}};
  s.make = [](const nn::AttentionContext& c) {
    FOVEA_CHECK(c.in_channels == c.out_channels, "SKAttention: in_channels ", c.in_channels,
                " != out_channels ", c.out_channels, " (the xmu module keeps its channels)");
    SKAttentionOptions o;
    o.kernels.clear();
    for (const auto& kd : parse_sk_kernels(c.options.text("kernels"))) {
      FOVEA_CHECK(kd.second == 1, "SKAttention: kernels take no dilation (got ", kd.first, "d",
                  kd.second, ")");
      o.kernels.push_back(kd.first);
    }
    o.reduction = c.options.integer("reduction", 1, 4096);
    o.group = c.options.integer("group", 1, 4096);
    o.L = c.options.integer("L", 1, 4096);
    return std::make_shared<SKAttention>(c.in_channels, c.stride, o);
  };
  return s;
}

}  // namespace fovea::attention
