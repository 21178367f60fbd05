#include "layers/resnet.h"

#include <algorithm>

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

std::shared_ptr<Conv2d> conv1x1(int64_t in, int64_t out) {
  return std::make_shared<Conv2d>(in, out, 1, 1, 0, /*bias=*/false);
}

// Output size of a 3x3 / pad 1 (or 1x1 / pad 0) conv with `stride`; 0 stays unknown.
int64_t strided(int64_t size, int64_t stride) { return size > 0 ? (size - 1) / stride + 1 : 0; }

bool in_block(const ParsedAttention& a) {
  return a.spec && a.spec->position != AttentionPosition::StageEnd;
}

// The module of `a` for context `c` (its options filled in); `who` names the network part.
std::shared_ptr<Module> build_attention(const ParsedAttention& a, AttentionContext c,
                                        const std::string& who) {
  c.options = a.options;
  std::shared_ptr<Module> m = a.spec->make(c);
  FOVEA_CHECK(m != nullptr, who, ": attention \"", a.options.module(), "\" built nothing");
  return m;
}

}  // namespace

// ---- the block's slot ------------------------------------------------------------------------------

ResidualBlock::ResidualBlock(const std::string& type, const std::string& attention_name)
    : Module(type), parsed_(parse_attention(attention_name)) {
  if (parsed_.spec) position = parsed_.spec->position;  // StageEnd: the network's, not ours
}

std::shared_ptr<Module> ResidualBlock::make_slot(AttentionContext c, int64_t in, int64_t out,
                                                 int64_t stride) {
  c.channels = position == AttentionPosition::ReplaceSecondConv ? in : out;
  c.in_channels = in;
  c.out_channels = out;
  c.stride = stride;
  std::shared_ptr<Module> m = build_attention(parsed_, c, type_name());
  FOVEA_CHECK(position != AttentionPosition::ReplaceAdd ||
                  dynamic_cast<FusionModule*>(m.get()) != nullptr,
              type_name(), ": attention \"", parsed_.options.module(),
              "\" replaces the addition but is not a FusionModule");
  slot_module = m;
  return m;
}

void ResidualBlock::attach_at(AttentionPosition at, const AttentionContext& c, int64_t channels) {
  if (!in_block(parsed_)) return;
  const bool here = position == at || (at == AttentionPosition::AfterLastNorm &&
                                       position == AttentionPosition::ReplaceAdd);
  if (here)
    attention = register_module(parsed_.spec->child_name, make_slot(c, channels, channels, 1));
}

std::shared_ptr<Module> ResidualBlock::conv3x3_or_slot(const AttentionContext& c, int64_t in,
                                                       int64_t out, int64_t stride) {
  if (position == AttentionPosition::ReplaceSecondConv)
    return register_module("conv2", make_slot(c, in, out, stride));
  return register_module("conv2", conv3x3(in, out, stride));
}

Tensor ResidualBlock::attend_at(AttentionPosition at, const Tensor& out) {
  return attention && position == at ? (*attention)(out) : out;
}

Tensor ResidualBlock::join(const Tensor& branch, const Tensor& x) {
  const Tensor identity = downsample ? (*downsample)(x) : x;
  if (attention && position == AttentionPosition::ReplaceAdd)
    return relu(static_cast<FusionModule&>(*attention).fuse_call(branch, identity));
  return relu(branch + identity);
}

void ResidualBlock::make_downsample(int64_t in, int64_t out, int64_t stride, Shortcut shortcut) {
  if (stride == 1 && in == out) return;
  if (shortcut == Shortcut::A) {
    downsample = register_module("downsample", std::make_shared<ShortcutA>(in, out, stride));
    return;
  }
  auto proj = std::make_shared<Sequential>();
  proj->push_back(std::make_shared<Conv2d>(in, out, 1, stride, 0, /*bias=*/false));
  proj->push_back(std::make_shared<BatchNorm2d>(out));
  downsample = register_module("downsample", proj);
}

// ---- BasicBlock ------------------------------------------------------------------------------------

BasicBlock::BasicBlock(int64_t in, int64_t out, int64_t stride, Shortcut shortcut,
                       const std::string& attention_name, const AttentionContext& context)
    : ResidualBlock("BasicBlock", attention_name) {
  AttentionContext after = context;  // the tensor after the strided conv1
  after.height = strided(context.height, stride);
  after.width = strided(context.width, stride);

  conv1 = register_module("conv1", conv3x3(in, out, stride));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(out));
  attach_at(AttentionPosition::AfterFirstConv, after, out);
  conv2 = conv3x3_or_slot(after, out, out, 1);
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out));
  attach_at(AttentionPosition::AfterLastNorm, after, out);
  make_downsample(in, out, stride, shortcut);
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = relu((*bn1)((*conv1)(x)));
  out = attend_at(AttentionPosition::AfterFirstConv, out);
  out = (*bn2)((*conv2)(out));
  out = attend_at(AttentionPosition::AfterLastNorm, out);
  return join(out, x);
}

// ---- Bottleneck ------------------------------------------------------------------------------------

Bottleneck::Bottleneck(int64_t in, int64_t planes, int64_t stride, Shortcut shortcut,
                       const std::string& attention_name, const AttentionContext& context)
    : ResidualBlock("Bottleneck", attention_name) {
  const int64_t out = planes * kExpansion;
  AttentionContext after = context;  // the tensor after the strided 3x3 conv
  after.height = strided(context.height, stride);
  after.width = strided(context.width, stride);

  conv1 = register_module("conv1", conv1x1(in, planes));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  // The 3x3 conv sees the block's input size; a module replacing it takes its stride.
  conv2 = conv3x3_or_slot(context, planes, planes, stride);
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  attach_at(AttentionPosition::AfterFirstConv, after, planes);
  conv3 = register_module("conv3", conv1x1(planes, out));
  bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(out));
  attach_at(AttentionPosition::AfterLastNorm, after, out);
  make_downsample(in, out, stride, shortcut);
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor out = relu((*bn1)((*conv1)(x)));
  out = relu((*bn2)((*conv2)(out)));
  out = attend_at(AttentionPosition::AfterFirstConv, out);
  out = (*bn3)((*conv3)(out));
  out = attend_at(AttentionPosition::AfterLastNorm, out);
  return join(out, x);
}

// ---- ResNet ----------------------------------------------------------------------------------------

ResNet::ResNet(const ResNetConfig& c) : Module("ResNet"), config(c) {
  FOVEA_CHECK(!c.blocks.empty() && c.blocks.size() == c.widths.size(), "ResNet: ",
              c.blocks.size(), " stage block counts for ", c.widths.size(), " stage widths");
  FOVEA_CHECK(c.stem == "cifar" || c.stem == "imagenet", "ResNet: unknown stem \"", c.stem,
              "\" (cifar or imagenet)");
  FOVEA_CHECK(c.in_channels > 0 && c.num_classes > 0, "ResNet: in_channels ", c.in_channels,
              " and num_classes ", c.num_classes, " must be positive");
  FOVEA_CHECK(c.input_size >= 0, "ResNet: input_size ", c.input_size, " must be >= 0");
  const ParsedAttention attention = parse_attention(c.attention);
  const bool imagenet_stem = c.stem == "imagenet";
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(c.in_channels, c.stem_channels,
                                                             imagenet_stem ? 7 : 3,
                                                             imagenet_stem ? 2 : 1,
                                                             imagenet_stem ? 3 : 1,
                                                             /*bias=*/false));
  bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(c.stem_channels));
  if (imagenet_stem) maxpool_ = register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
  // 7x7/2 pad 3 and 3x3/2 pad 1 both give (size - 1) / 2 + 1.
  int64_t size = imagenet_stem ? strided(strided(c.input_size, 2), 2) : c.input_size;

  int64_t channels = c.stem_channels;
  for (size_t s = 0; s < c.blocks.size(); ++s) {
    auto stage = std::make_shared<Sequential>();
    for (int b = 0; b < c.blocks[s]; ++b) {
      const int64_t stride = (s > 0 && b == 0) ? 2 : 1;
      AttentionContext ctx;
      ctx.stage = int(s) + 1;
      ctx.block = b;
      ctx.height = ctx.width = size;
      if (c.bottleneck) {
        stage->push_back(std::make_shared<Bottleneck>(channels, c.widths[s], stride, c.shortcut,
                                                      c.attention, ctx));
        channels = c.widths[s] * Bottleneck::kExpansion;
      } else {
        stage->push_back(std::make_shared<BasicBlock>(channels, c.widths[s], stride, c.shortcut,
                                                      c.attention, ctx));
        channels = c.widths[s];
      }
      size = strided(size, stride);
    }
    stages_.push_back(register_module("layer" + std::to_string(s + 1), stage));
    std::shared_ptr<Module> after;
    if (attention.spec && attention.spec->position == AttentionPosition::StageEnd &&
        s + 1 < c.blocks.size()) {
      AttentionContext ctx;
      ctx.channels = ctx.in_channels = ctx.out_channels = channels;
      ctx.height = ctx.width = size;
      ctx.stage = int(s) + 1;
      after = register_module(attention.spec->child_name + std::to_string(s + 1),
                              build_attention(attention, ctx, "ResNet"));
    }
    stage_attention_.push_back(after);
  }
  avgpool_ = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
  fc_ = register_module("fc", std::make_shared<Linear>(channels, c.num_classes));
  init_trunk();
}

void ResNet::init_trunk() {
  std::vector<const Module*> slots;
  for (const auto& m : stage_attention_)
    if (m) slots.push_back(m.get());
  for (const auto& stage : stages_)
    for (size_t i = 0; i < stage->size(); ++i)
      if (auto m = std::static_pointer_cast<ResidualBlock>((*stage)[i])->slot_module)
        slots.push_back(m.get());
  NoGradGuard no_grad;
  std::vector<std::string> skipped;  // paths of slot modules; named_modules lists parents first
  for (const auto& [name, m] : named_modules()) {
    bool inside = false;
    for (const auto& p : skipped) inside = inside || name.rfind(p + ".", 0) == 0;
    if (inside) continue;
    if (std::find(slots.begin(), slots.end(), m) != slots.end()) {
      skipped.push_back(name);
      continue;
    }
    if (auto* conv = dynamic_cast<const Conv2d*>(m)) {
      Tensor w = conv->weight;
      kaiming_normal_(w, 0, FanMode::FanOut, "relu");
    }
  }
  if (config.zero_init_residual)
    for (const auto& stage : stages_)
      for (size_t i = 0; i < stage->size(); ++i)
        std::static_pointer_cast<ResidualBlock>((*stage)[i])->last_norm().weight.zero_();
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
                                     Shortcut shortcut, const std::string& attention,
                                     int64_t input_size) {
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
  c.input_size = input_size > 0 ? input_size : 32;  // the architecture's (He et al. 4.2)
  return std::make_shared<ResNet>(c);
}

std::shared_ptr<ResNet> resnet(int depth, int64_t num_classes, int64_t in_channels,
                               const std::string& stem, const std::string& attention,
                               int64_t input_size) {
  FOVEA_CHECK(depth == 18 || depth == 34 || depth == 50, "resnet: depth must be 18, 34 or 50, got ",
              depth);
  ResNetConfig c;
  c.blocks = depth == 18 ? std::vector<int>{2, 2, 2, 2} : std::vector<int>{3, 4, 6, 3};
  c.bottleneck = depth == 50;
  // Unknown: the imagenet stem is made for 224 x 224; the cifar stem serves 32 to 64, so its
  // size stays unknown (FcaNet then takes the official per-stage DCT sizes).
  c.input_size = input_size > 0 ? input_size : (stem == "imagenet" ? 224 : 0);
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
