#include "layers/resnet.h"

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/core/init.h"
#include "engine/ops/binary.h"
#include "engine/ops/join.h"
#include "engine/ops/unary.h"

namespace fovea::nn {

namespace {

// Option A shortcut: subsample by `stride`, zero-pad the new channels on both sides.
class ShortcutA : public Module {
 public:
  ShortcutA(int64_t in_channels, int64_t out_channels, int64_t stride)
      : Module("ShortcutA"), stride_(stride), pad_(out_channels - in_channels) {
    FOVEA_CHECK(pad_ >= 0 && pad_ % 2 == 0, "ShortcutA: cannot pad ", in_channels,
                " channels to ", out_channels, " equally on both sides");
  }
  Tensor forward(const Tensor& x) override {
    Tensor sub = x.slice(2, 0, x.size(2), stride_).slice(3, 0, x.size(3), stride_);
    if (pad_ == 0) return sub;
    Shape side = sub.shape();
    side[1] = pad_ / 2;
    const Tensor z = zeros(side, x.dtype(), x.device());
    return cat({z, sub, z}, 1);
  }
  std::string extra_repr() const override {
    return "stride=" + std::to_string(stride_) + ", pad_channels=" + std::to_string(pad_);
  }

 private:
  int64_t stride_, pad_;
};

std::shared_ptr<Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride) {
  return std::make_shared<Conv2d>(in, out, 3, stride, 1, /*bias=*/false);
}

}  // namespace

BasicBlock::BasicBlock(int64_t in, int64_t out, int64_t stride, Shortcut shortcut,
                       const std::string& attention_name, const AttentionContext& context)
    : Module("BasicBlock") {
  const AttentionSpec* spec = find_attention(attention_name);
  if (spec) position = spec->position;
  auto make = [&](int64_t channels) {
    AttentionContext c = context;
    c.channels = channels;
    return spec->make(c);
  };
  conv1 = register_module("conv1", conv3x3(in, out, stride));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(out));
  const bool in_block = spec && position != AttentionPosition::StageEnd;
  if (in_block && position == AttentionPosition::AfterFirstConv)
    attention = register_module(spec->child_name, make(out));
  if (in_block && position == AttentionPosition::ReplaceSecondConv)
    conv2 = register_module("conv2", make(out));
  else
    conv2 = register_module("conv2", conv3x3(out, out, 1));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out));
  if (in_block && (position == AttentionPosition::AfterLastNorm ||
                   position == AttentionPosition::ReplaceAdd)) {
    attention = register_module(spec->child_name, make(out));
    FOVEA_CHECK(position != AttentionPosition::ReplaceAdd ||
                    dynamic_cast<FusionModule*>(attention.get()) != nullptr,
                "BasicBlock: attention \"", attention_name,
                "\" replaces the addition but is not a FusionModule");
  }
  if (stride != 1 || in != out) {
    if (shortcut == Shortcut::A) {
      downsample = register_module("downsample", std::make_shared<ShortcutA>(in, out, stride));
    } else {
      auto proj = std::make_shared<Sequential>();
      proj->push_back(std::make_shared<Conv2d>(in, out, 1, stride, 0, /*bias=*/false));
      proj->push_back(std::make_shared<BatchNorm2d>(out));
      downsample = register_module("downsample", proj);
    }
  }
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = relu((*bn1)((*conv1)(x)));
  if (attention && position == AttentionPosition::AfterFirstConv) out = (*attention)(out);
  out = (*bn2)((*conv2)(out));
  if (attention && position == AttentionPosition::AfterLastNorm) out = (*attention)(out);
  const Tensor identity = downsample ? (*downsample)(x) : x;
  if (attention && position == AttentionPosition::ReplaceAdd)
    out = static_cast<FusionModule&>(*attention).fuse_call(out, identity);
  else
    out = out + identity;
  return relu(out);
}

ResNet::ResNet(const ResNetConfig& c) : Module("ResNet"), config(c) {
  FOVEA_CHECK(!c.blocks.empty() && c.blocks.size() == c.widths.size(), "ResNet: ",
              c.blocks.size(), " stage block counts for ", c.widths.size(), " stage widths");
  FOVEA_CHECK(c.stem == "cifar" || c.stem == "imagenet", "ResNet: unknown stem \"", c.stem,
              "\" (cifar or imagenet)");
  FOVEA_CHECK(c.in_channels > 0 && c.num_classes > 0, "ResNet: in_channels ", c.in_channels,
              " and num_classes ", c.num_classes, " must be positive");
  const AttentionSpec* spec = find_attention(c.attention);
  const bool imagenet_stem = c.stem == "imagenet";
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(c.in_channels, c.stem_channels,
                                                             imagenet_stem ? 7 : 3,
                                                             imagenet_stem ? 2 : 1,
                                                             imagenet_stem ? 3 : 1,
                                                             /*bias=*/false));
  bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(c.stem_channels));
  if (imagenet_stem) maxpool_ = register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));

  int64_t channels = c.stem_channels;
  for (size_t s = 0; s < c.blocks.size(); ++s) {
    auto stage = std::make_shared<Sequential>();
    for (int b = 0; b < c.blocks[s]; ++b) {
      const int64_t stride = (s > 0 && b == 0) ? 2 : 1;
      AttentionContext ctx;
      ctx.stage = int(s) + 1;
      ctx.block = b;
      stage->push_back(std::make_shared<BasicBlock>(channels, c.widths[s], stride, c.shortcut,
                                                    c.attention, ctx));
      channels = c.widths[s];
    }
    stages_.push_back(register_module("layer" + std::to_string(s + 1), stage));
    std::shared_ptr<Module> after;
    if (spec && spec->position == AttentionPosition::StageEnd && s + 1 < c.blocks.size()) {
      AttentionContext ctx;
      ctx.channels = channels;
      ctx.stage = int(s) + 1;
      after = register_module(spec->child_name + std::to_string(s + 1), spec->make(ctx));
    }
    stage_attention_.push_back(after);
  }
  avgpool_ = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
  fc_ = register_module("fc", std::make_shared<Linear>(channels, c.num_classes));

  NoGradGuard no_grad;
  for (const auto& [name, m] : named_modules()) {
    if (auto* conv = dynamic_cast<const Conv2d*>(m)) {
      Tensor w = conv->weight;
      kaiming_normal_(w, 0, FanMode::FanOut, "relu");
    }
  }
  if (c.zero_init_residual)
    for (const auto& stage : stages_)
      for (size_t i = 0; i < stage->size(); ++i)
        std::static_pointer_cast<BasicBlock>((*stage)[i])->bn2->weight.zero_();
}

Tensor ResNet::forward(const Tensor& x) {
  FOVEA_CHECK(x.dim() == 4 && x.size(1) == config.in_channels, "ResNet: expected input [N, ",
              config.in_channels, ", H, W], got ", x.str());
  Tensor h = relu((*bn1_)((*conv1_)(x)));
  if (maxpool_) h = (*maxpool_)(h);
  for (size_t s = 0; s < stages_.size(); ++s) {
    h = (*stages_[s])(h);
    if (stage_attention_[s]) h = (*stage_attention_[s])(h);
  }
  return (*fc_)((*avgpool_)(h).flatten(1));
}

std::shared_ptr<ResNet> cifar_resnet(int depth, int64_t num_classes, int64_t in_channels,
                                     Shortcut shortcut, const std::string& attention) {
  FOVEA_CHECK(depth >= 8 && (depth - 2) % 6 == 0, "cifar_resnet: depth must be 6n + 2 (20, 32, "
              "44, 56, 110, ...), got ", depth);
  ResNetConfig c;
  const int n = (depth - 2) / 6;
  c.blocks = {n, n, n};
  c.widths = {16, 32, 64};
  c.stem_channels = 16;
  c.shortcut = shortcut;
  c.in_channels = in_channels;
  c.num_classes = num_classes;
  c.attention = attention;
  return std::make_shared<ResNet>(c);
}

std::shared_ptr<ResNet> resnet(int depth, int64_t num_classes, int64_t in_channels,
                               const std::string& stem, const std::string& attention) {
  FOVEA_CHECK(depth == 18 || depth == 34, "resnet: depth must be 18 or 34, got ", depth);
  ResNetConfig c;
  c.blocks = depth == 18 ? std::vector<int>{2, 2, 2, 2} : std::vector<int>{3, 4, 6, 3};
  c.widths = {64, 128, 256, 512};
  c.stem_channels = 64;
  c.stem = stem;
  c.shortcut = Shortcut::B;
  c.in_channels = in_channels;
  c.num_classes = num_classes;
  c.attention = attention;
  return std::make_shared<ResNet>(c);
}

}  // namespace fovea::nn
