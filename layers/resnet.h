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
// ResNet-18/34 (torchvision's BasicBlock layout, 64-128-256-512 channels, option B) with a
// stem chosen by input size: "cifar" (3x3 conv, stride 1, no max pool: suits 32x32 and 64x64
// inputs, e.g. Tiny ImageNet, leaving 8x8 maps at the last stage for 64x64) or "imagenet"
// (7x7 conv stride 2 + 3x3 max pool stride 2, for 224x224).
// Init as torchvision: convs kaiming_normal (fan_out, relu), BN weight 1 / bias 0, the linear
// layer PyTorch's default; zero_init_residual sets each block's last BN weight to 0.
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

class BasicBlock : public Module {
 public:
  BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride, Shortcut shortcut,
             const std::string& attention, const AttentionContext& context);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<Module> conv2;  // a Conv2d, or the attention module that replaces it
  std::shared_ptr<BatchNorm2d> bn2;
  std::shared_ptr<Module> downsample;  // null: identity shortcut
  std::shared_ptr<Module> attention;   // null: none
  AttentionPosition position = AttentionPosition::AfterLastNorm;
};

struct ResNetConfig {
  std::vector<int> blocks;            // blocks per stage, e.g. {3, 3, 3} for ResNet-20
  std::vector<int64_t> widths;        // channels per stage, e.g. {16, 32, 64}
  int64_t stem_channels = 16;
  std::string stem = "cifar";         // "cifar" or "imagenet"
  Shortcut shortcut = Shortcut::A;
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  std::string attention = "none";
  bool zero_init_residual = false;
};

class ResNet : public Module {
 public:
  explicit ResNet(const ResNetConfig& config);
  Tensor forward(const Tensor& x) override;
  const ResNetConfig config;

 private:
  std::vector<std::shared_ptr<Sequential>> stages_;
  std::vector<std::shared_ptr<Module>> stage_attention_;  // after each stage; null: none
  std::shared_ptr<Conv2d> conv1_;
  std::shared_ptr<BatchNorm2d> bn1_;
  std::shared_ptr<Module> maxpool_;  // imagenet stem only
  std::shared_ptr<Module> avgpool_;
  std::shared_ptr<Linear> fc_;
};

// CIFAR ResNet of depth 6n + 2; an invalid depth is an error naming the valid ones.
std::shared_ptr<ResNet> cifar_resnet(int depth, int64_t num_classes = 10, int64_t in_channels = 3,
                                     Shortcut shortcut = Shortcut::A,
                                     const std::string& attention = "none");
// ResNet-18 or -34 (depth 18 or 34).
std::shared_ptr<ResNet> resnet(int depth, int64_t num_classes, int64_t in_channels = 3,
                               const std::string& stem = "cifar",
                               const std::string& attention = "none");

}  // namespace fovea::nn
