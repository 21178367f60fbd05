// SK: Selective Kernel convolution (Li et al., CVPR 2019; attention-spec §5). It REPLACES the
// block's 3x3 conv (basic block: conv2, in = out = planes, stride 1; bottleneck: the possibly
// strided middle conv), so it maps [N, Cin, H, W] -> [N, Cout, H', W'], H' = ceil(H / stride).
//
// SKConv, the official unit (§5a, sknet50.prototxt), M = len(kernels) paths:
//   U_i = relu(BN_i(conv_i(X)))   conv_i: k_i x k_i, dilation d_i, pad d_i (k_i - 1) / 2,
//                                 stride s, groups G, no bias               [N, C, H', W']
//   U   = sum_i U_i,  s = GAP(U)                                            [N, C, 1, 1]
//   z   = relu(BN(fc_reduce s))   1x1 conv C -> d, no bias                  [N, d, 1, 1]
//   a   = softmax over the path axis of fc_select(z).view(N, M, C, 1, 1)   (fc_select: 1x1
//         conv d -> M C, no bias; the path index is the slower axis, as the prototxt's Slice)
//   V   = sum_i a_i * U_i                                                   [N, C, H', W']
//   d = max(C // r, L), C = out_channels.
// Names as timm's SelectiveKernel (the PyTorch form of §5a the spec cites; PytorchInsight's
// resnet_sk.py inlines its convs into the Bottleneck and is not §5a: its second path is not
// dilated): paths.{i}.conv.weight, paths.{i}.bn.*, attn.fc_reduce.weight, attn.bn.*,
// attn.fc_select.weight.
// Options: kernels (3d1+3d2: kernel k, dilation d per path; "5" = 5x5, dilation 1), groups (32),
// r (16), L (32), fuse_bn (true; false: z = relu(fc_reduce s), no BN), bn_momentum (0.05 in
// PyTorch's convention: the prototxt's Caffe momentum 0.95 weights the old statistic, §0.1;
// all three BNs).
// Init (prototxt): path convs msra = kaiming_normal (fan_in, Caffe's default, gain sqrt 2),
// fc_reduce and fc_select N(0, 0.01^2), BN 1 / 0.
// The fuse BN normalises an [N, d, 1, 1] tensor over N alone: training with N = 1 is an error.
//
// SKAttention, the xmu / seed layout (§5b; External-Attention-pytorch SKAttention.py):
//   U_i = relu(BN_i(conv_i(X)))   conv_i: k_i x k_i, pad k_i // 2, stride s, groups `group`,
//                                 WITH bias
//   s = GAP(sum_i U_i) [N, C],  Z = fc(s) [N, d] (Linear with bias, no BN, no ReLU: §5b flags the
//   missing nonlinearity), logits_i = fcs[i](Z) [N, C], a = softmax over i, V = sum_i a_i U_i.
//   Names convs.{i}.conv.{weight,bias}, convs.{i}.bn.*, fc.*, fcs.{i}.*; PyTorch-default init,
//   BN momentum 0.1. Options kernels (1+3+5+7, odd sizes), reduction (16), group (1), L (32).
//   The seed has no stride; here every path conv takes the replaced conv's stride.
//
// Maps (both): "branch" = the path weights a [N, M, C] (sum over M is 1).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "layers/attention_slot.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/norm.h"

namespace fovea::attention {

// {(3, 1), (3, 2)}: 3x3 and 3x3 dilation 2 (out of line: GCC 12 warns falsely on an inline
// initializer list of pairs).
std::vector<std::pair<int64_t, int64_t>> default_sk_kernels();

struct SKConvOptions {
  std::vector<std::pair<int64_t, int64_t>> kernels = default_sk_kernels();  // (kernel, dilation)
  int64_t groups = 32;
  int64_t r = 16;
  int64_t L = 32;
  bool fuse_bn = true;
  double bn_momentum = 0.05;
};

class SKConv : public nn::AttentionModule {
 public:
  SKConv(int64_t in_channels, int64_t out_channels, int64_t stride = 1,
         const SKConvOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t in_channels, out_channels, stride, d;
  const SKConvOptions options;
  std::vector<std::shared_ptr<nn::Conv2d>> convs;  // paths.{i}.conv
  std::vector<std::shared_ptr<nn::BatchNorm2d>> bns;  // paths.{i}.bn
  std::shared_ptr<nn::Conv2d> fc_reduce, fc_select;   // attn.*
  std::shared_ptr<nn::BatchNorm2d> fuse_bn;           // attn.bn (null when fuse_bn=false)
};

struct SKAttentionOptions {
  std::vector<int64_t> kernels{1, 3, 5, 7};
  int64_t reduction = 16;
  int64_t group = 1;
  int64_t L = 32;
};

class SKAttention : public nn::AttentionModule {
 public:
  SKAttention(int64_t channels, int64_t stride = 1, const SKAttentionOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t channels, stride, d;
  const SKAttentionOptions options;
  std::vector<std::shared_ptr<nn::Conv2d>> convs;     // convs.{i}.conv
  std::vector<std::shared_ptr<nn::BatchNorm2d>> bns;  // convs.{i}.bn
  std::shared_ptr<nn::Linear> fc;
  std::vector<std::shared_ptr<nn::Linear>> fcs;
};

// "sk" (SKConv) and "sk_xmu" (SKAttention) in the slot (attention/register.h).
nn::AttentionSpec sk_spec();
nn::AttentionSpec sk_xmu_spec();

// "3d1+3d2" -> {(3, 1), (3, 2)}; "5" -> {(5, 1)}. Errors name the option text.
std::vector<std::pair<int64_t, int64_t>> parse_sk_kernels(const std::string& text);

}  // namespace fovea::attention
