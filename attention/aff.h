// MS-CAM, AFF and iAFF: Attentional Feature Fusion (Dai et al., WACV 2021; attention-spec §13).
//
// MS-CAM M(Z) on Z [N, C, H, W], inter = C // r:
//   L(Z) = BN(conv1x1_{inter->C}(relu(BN(conv1x1_{C->inter}(Z)))))          [N, C, H, W]
//   G(Z) = BN(conv1x1_{inter->C}(relu(BN(conv1x1_{C->inter}(GAP(Z))))))     [N, C, 1, 1]
//   M(Z) = sigmoid(L(Z) + G(Z))  (G broadcast over H x W)                    [N, C, H, W]
// The global branch has its own weights; its BNs see [N, inter, 1, 1] and [N, C, 1, 1] and so
// normalise over N alone: training with N = 1 is an error (it names the module).
//
//   ms_cam  Y = X * M(X)                                                  (single input)
//   aff     W = M(x + y),  Z = 2 x W + 2 y (1 - W)   (the factor 2 of the official and the
//                                                    PyTorch code; the paper has none)
//   iaff    W1 = M1(x + y),  Xi = x W1 + y (1 - W1)
//           W2 = M2(Xi),     Z  = x W2 + y (1 - W2)  (no factor 2; M2 has its own local_att2
//                                                    AND global_att2, as the official MXNet
//                                                    code: the PyTorch port reuses global_att,
//                                                    spec §20 row 13)
// x = the residual branch's output, y = the identity (or downsample) path: in a block
// out = relu(fuse(branch_out, identity)) replaces relu(branch_out + identity).
//
// Backward (autograd through the ops): with D = x - y, an AFF gives dx = 2 g W + dS, dy =
// 2 g (1 - W) + dS, where dW = 2 g D, the pre-sigmoid gradient dA = dW W (1 - W) flows into L
// (per pixel) and into G (summed over H x W), and dS is what both branches return for their
// input S = x + y (G's through GAP: 1 / HW over H x W). iAFF chains the same rules through Xi.
// The BN backward in training includes the batch-statistics terms.
//
// Names as the PyTorch port (aff_pytorch/aff_net/fusion.py: MS_CAM, AFF, iAFF): nn.Sequential
//   local_att  = (0 conv C->inter, 1 BN, 2 ReLU, 3 conv inter->C, 4 BN)
//   global_att = (0 AdaptiveAvgPool2d(1), 1 conv C->inter, 2 BN, 3 ReLU, 4 conv inter->C, 5 BN)
// so local_att.{0,3}.{weight,bias}, local_att.{1,4}.*, global_att.{1,4}.{weight,bias},
// global_att.{2,5}.*, and for iAFF also local_att2.* and global_att2.* likewise. Every 1x1 conv
// has a bias; in training each conv bias sits right before a BN and gets a zero gradient.
// Option: r (4, the class default; the official ImageNet ResNet-50 uses 16), C // r >= 1 (§21).
// Init: PyTorch's default (conv kaiming_uniform(a = sqrt 5) and uniform bias, BN 1 / 0,
// momentum 0.1, eps 1e-5: Gluon's momentum 0.9 weights the old statistic, §0.1).
// Maps: "weight" = W (ms_cam: M(X)), [N, C, H, W], for ms_cam and aff; "weight1" = W1 and
// "weight2" = W2 for iaff. In a block: "ms_cam" after the last BN; "aff" / "iaff" replace the
// sum under the port's name "fuse_mode".
#pragma once

#include <memory>
#include <string>

#include "layers/attention_slot.h"
#include "layers/sequential.h"

namespace fovea::attention {

struct AFFOptions {
  int64_t r = 4;
};

// The two branches of one MS-CAM, registered in `owner` as local_att<suffix> and
// global_att<suffix>; call it for M(Z) = sigmoid(L(Z) + G(Z)).
class MSCAMBranches {
 public:
  MSCAMBranches(nn::Module& owner, const std::string& suffix, int64_t channels, int64_t inter);
  Tensor operator()(const Tensor& z) const;

  std::shared_ptr<nn::Sequential> local_att, global_att;

 private:
  const nn::Module& owner_;  // for the batch-size-1 error's name and the training flag
};

class MSCAM : public nn::AttentionModule {
 public:
  MSCAM(int64_t channels, const AFFOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  const int64_t channels, inter;
  const AFFOptions options;
  const MSCAMBranches att;
};

class AFF : public nn::FusionModule {
 public:
  AFF(int64_t channels, const AFFOptions& options = {});
  Tensor fuse(const Tensor& residual, const Tensor& identity) override;
  std::string extra_repr() const override;

  const int64_t channels, inter;
  const AFFOptions options;
  const MSCAMBranches att;
};

class IAFF : public nn::FusionModule {
 public:
  IAFF(int64_t channels, const AFFOptions& options = {});
  Tensor fuse(const Tensor& residual, const Tensor& identity) override;
  std::string extra_repr() const override;

  const int64_t channels, inter;
  const AFFOptions options;
  const MSCAMBranches att1, att2;  // local_att / global_att, local_att2 / global_att2
};

// "ms_cam", "aff" and "iaff" in the slot (attention/register.h).
nn::AttentionSpec ms_cam_spec();
nn::AttentionSpec aff_spec();
nn::AttentionSpec iaff_spec();

}  // namespace fovea::attention
