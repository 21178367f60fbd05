// BAM: Bottleneck Attention Module (Park et al., BMVC 2018; attention-spec §3).
//
//   channel  s = mean_hw X                                       [N, C]   (GAP, not the official
//                                                                          avg_pool2d(kernel=H),
//                                                                          which needs H == W)
//            M_c = fc_final(relu(BN1d(fc_0(s))))                  [N, C]   (num_layers hidden
//                                                                          Linear+BN1d+ReLU, C/r)
//   spatial  Z = relu(BN(conv_reduce0_1x1(X)))                    [N, C/r, H, W]
//            Z = relu(BN(conv_di_i(Z))), i < dilation_conv_num   3x3, dilation d, padding d
//            M_s = conv_final_1x1(Z)                              [N, 1, H, W]
//   combine  sum (paper, the spec's default):  A = M_c[:, :, None, None] + M_s
//            prod (official code, checkpoints): A = M_c[:, :, None, None] * M_s
//   Y = X * (1 + sigmoid(A))                                     [N, C, H, W]
// Backward: autograd through the ops (each has its own gradient check).
//
// Names as Jongchan/attention-module MODELS/bam.py:
//   channel_att.gate_c.gate_c_fc_{i}, .gate_c_bn_{i+1} (BatchNorm1d), .gate_c_fc_final
//   spatial_att.gate_s.gate_s_conv_reduce0, .gate_s_bn_reduce0, .gate_s_conv_di_{i},
//   .gate_s_bn_di_{i}, .gate_s_conv_final
// (the reference's Flatten and ReLUs hold no tensors; the ReLUs are registered under their names
// so the module tree reads as the reference's). Every layer has a bias; BN after the hidden
// layers only, none after the last (the code, not the paper: spec §3, issue #49).
// Init as model_resnet.py: conv weights kaiming_normal (fan_out), linear weights PyTorch's
// default, every bias 0, BN weight 1.
// Options: reduction_ratio (16), num_layers (1), dilation_conv_num (2), dilation_val (4),
// combine (sum | prod). In training the BatchNorm1d of the channel gate needs N > 1.
// Maps: "channel" = M_c [N, C] and "spatial" = M_s [N, 1, H, W] (the branches' outputs before
// the sigmoid, which BAM applies only after combining them), "attention" = sigmoid(A)
// [N, C, H, W].
// Placement (StageEnd): after every stage but the last, named bam1, bam2, ... as the reference
// ResNet names them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/attention_slot.h"

namespace fovea::attention {

struct BAMOptions {
  int64_t reduction_ratio = 16;
  int64_t num_layers = 1;
  int64_t dilation_conv_num = 2;
  int64_t dilation_val = 4;
  std::string combine = "sum";  // "sum" (paper) or "prod" (official code)
};

class BAM : public nn::AttentionModule {
 public:
  BAM(int64_t gate_channel, const BAMOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t gate_channel;
  const BAMOptions options;

 private:
  const bool product_;  // options.combine == "prod": no string compare in every forward
  // The layers of each branch in the order they apply, registered under the reference's names.
  std::vector<std::shared_ptr<nn::Module>> gate_c_, gate_s_;
};

// "bam" in the slot (attention/register.h).
nn::AttentionSpec bam_spec();

}  // namespace fovea::attention
