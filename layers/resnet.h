// Residual networks for image classification, each residual block with an attention slot
// (layers/attention_slot.h).
//
// CIFAR ResNets (He et al., "Deep Residual Learning", 2016, section 4.2): depth 6n + 2
// (20, 32, 44, 56, 110). A 3x3 conv (16) + BN + ReLU stem, three stages of n basic blocks with
// 16, 32, 64 channels on 32x32, 16x16, 8x8 maps (the first block of stages 2 and 3 has stride 2),
// global average pooling and a linear classifier. When a block changes shape, the shortcut is
//   option A: x[:, :, ::2, ::2] with the new channels zero-padded equally on both sides
//             (parameter-free; the paper's CIFAR choice, as in akamaster's reference code), or
//   option B: a 1x1 strided conv + BN projection (torchvision's "downsample").
// ResNet-18/34/50 (torchvision's BasicBlock / Bottleneck layout, 64-128-256-512 planes, option
// B) with a stem chosen by input size: "cifar" (3x3 conv, stride 1, no max pool: suits 32x32
// and 64x64 inputs, e.g. Tiny ImageNet, leaving 8x8 maps at the last stage for 64x64) or
// "imagenet" (7x7 conv stride 2 + 3x3 max pool stride 2, for 224x224).
// Init as torchvision: convs kaiming_normal (fan_out, relu), BN weight 1 / bias 0, the linear
// layer PyTorch's default; zero_init_residual sets each block's last BN weight to 0. The
// modules in the attention slots keep their own init.
// Parameter names follow torchvision: conv1, bn1, layer1.0.conv1, layer2.0.downsample.0, fc.
#pragma once

#include <memory>
#include <string>

#include "layers/attention_slot.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "layers/pool.h"
#include "layers/sequential.h"

namespace fovea::nn {

enum class Shortcut { A, B };

// What every residual block shares: the shortcut and the attention slot. `context` carries the
// block's stage, index and input spatial size (0: unknown); the block fills in the rest for the
// module at its position.
class ResidualBlock : public Module {
 public:
  std::shared_ptr<Module> downsample;  // null: identity shortcut
  std::shared_ptr<Module> attention;   // null: none (or it replaces the 3x3 conv: see conv2)
  // Where the network's attention sits (StageEnd: after the stage, outside the blocks).
  AttentionPosition position = AttentionPosition::AfterLastNorm;
  // The module in this block's slot, null for none (the attention, or the conv it replaced).
  std::shared_ptr<Module> slot_module;
  virtual BatchNorm2d& last_norm() = 0;  // zero_init_residual zeroes its weight

 protected:
  // `attention_name`: a name with options ("none" for none), parsed once for the block's slot.
  ResidualBlock(const std::string& type, const std::string& attention_name);
  // Registers the attention module for the tensor at `at` ([N, channels, H, W], H x W in
  // `context`) when the block's module sits there; the AfterLastNorm place also builds the
  // fusion of ReplaceAdd.
  void attach_at(AttentionPosition at, const AttentionContext& context, int64_t channels);
  // The block's 3x3 conv, or the module that replaces it (ReplaceSecondConv), in -> out with
  // `stride`; `context` is the size of the conv's input.
  std::shared_ptr<Module> conv3x3_or_slot(const AttentionContext& context, int64_t in,
                                          int64_t out, int64_t stride);
  // `out` through the attention module when it sits at `at`, else `out`.
  Tensor attend_at(AttentionPosition at, const Tensor& out);
  // The residual sum (or the fusion that replaces it), then ReLU.
  Tensor join(const Tensor& branch, const Tensor& x);
  void make_downsample(int64_t in, int64_t out, int64_t stride, Shortcut shortcut);

 private:
  // Builds the module for the context and records it in slot_module (the callers register it).
  std::shared_ptr<Module> make_slot(AttentionContext context, int64_t in, int64_t out,
                                    int64_t stride);
  ParsedAttention parsed_;
};

// torchvision's BasicBlock: conv3x3(stride) BN ReLU conv3x3 BN, + shortcut, ReLU.
class BasicBlock : public ResidualBlock {
 public:
  BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride, Shortcut shortcut,
             const std::string& attention_name, const AttentionContext& context);
  Tensor forward(const Tensor& x) override;
  BatchNorm2d& last_norm() override { return *bn2; }

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<Module> conv2;  // a Conv2d, or the attention module that replaces it
  std::shared_ptr<BatchNorm2d> bn2;
};

// torchvision's Bottleneck (ResNet v1.5: the stride on the 3x3 conv), expansion 4:
// conv1x1 BN ReLU conv3x3(stride) BN ReLU conv1x1(planes -> 4 planes) BN, + shortcut, ReLU.
// AfterFirstConv places the module after the 3x3 conv's BN + ReLU (PSA: "after the first 3x3
// conv"); ReplaceSecondConv replaces the 3x3 conv, stride included.
class Bottleneck : public ResidualBlock {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(int64_t in_channels, int64_t planes, int64_t stride, Shortcut shortcut,
             const std::string& attention_name, const AttentionContext& context);
  Tensor forward(const Tensor& x) override;
  BatchNorm2d& last_norm() override { return *bn3; }

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<Module> conv2;  // a Conv2d, or the attention module that replaces it
  std::shared_ptr<BatchNorm2d> bn2;
  std::shared_ptr<Conv2d> conv3;
  std::shared_ptr<BatchNorm2d> bn3;
};

struct ResNetConfig {
  std::vector<int> blocks;            // blocks per stage, e.g. {3, 3, 3} for ResNet-20
  std::vector<int64_t> widths;        // channels per stage, e.g. {16, 32, 64}
  int64_t stem_channels = 16;
  std::string stem = "cifar";         // "cifar" or "imagenet"
  Shortcut shortcut = Shortcut::A;
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  std::string attention = "none";  // a name with options: "cbam:reduction_ratio=8"
  bool zero_init_residual = false;
  bool bottleneck = false;          // Bottleneck blocks (widths are planes; 4x channels out)
  int64_t input_size = 0;           // H = W of the input; 0: unknown (FcaNet then uses 56/28/14/7)
};

class ResNet : public Module {
 public:
  explicit ResNet(const ResNetConfig& config);
  Tensor forward(const Tensor& x) override;
  const ResNetConfig config;

 private:
  void init_trunk();  // kaiming convs outside the attention slots
  std::vector<std::shared_ptr<Sequential>> stages_;
  std::vector<std::shared_ptr<Module>> stage_attention_;  // after each stage; null: none
  std::shared_ptr<Conv2d> conv1_;
  std::shared_ptr<BatchNorm2d> bn1_;
  std::shared_ptr<Module> maxpool_;  // imagenet stem only
  std::shared_ptr<Module> avgpool_;
  std::shared_ptr<Linear> fc_;
};

// CIFAR ResNet of depth 6n + 2; an invalid depth is an error naming the valid ones.
// `input_size` (H = W of the input; 0: 32, the size the architecture is made for) gives the
// attention modules the spatial size of each stage; other sizes run too (FcaNet pools its input
// to its DCT size).
std::shared_ptr<ResNet> cifar_resnet(int depth, int64_t num_classes = 10, int64_t in_channels = 3,
                                     Shortcut shortcut = Shortcut::A,
                                     const std::string& attention = "none",
                                     int64_t input_size = 0);
// ResNet-18, -34 (basic blocks) or -50 (bottlenecks). `input_size` as for cifar_resnet; 0: 224
// for the imagenet stem, and unknown for the cifar stem (made for 32 to 64).
std::shared_ptr<ResNet> resnet(int depth, int64_t num_classes, int64_t in_channels = 3,
                               const std::string& stem = "cifar",
                               const std::string& attention = "none", int64_t input_size = 0);

}  // namespace fovea::nn
