// Grad-CAM and Grad-CAM++: which places of the image a network's score for one class depends
// on, seen at one layer, through the autograd hooks (issue 10, seeing inside).
//
// Grad-CAM (Selvaraju et al., ICCV 2017). A = the layer's output for one image, K maps of
// h x w; g = dS_c / dA, the gradient of the class's score (the logit, before any softmax):
//   alpha_k = (1 / hw) sum_ij g_kij                 how much map k matters for class c
//   cam_ij  = ReLU(sum_k alpha_k A_kij)             [h, w]
// Grad-CAM++ (Chattopadhay et al., WACV 2018), in the closed form for an exponential score that
// the paper derives and pytorch-grad-cam computes:
//   a_kij   = g_kij^2 / (2 g_kij^2 + (sum_ab A_kab) g_kij^3)     (0 where g_kij = 0)
//   alpha_k = sum_ij a_kij ReLU(g_kij)
//   cam_ij  = ReLU(sum_k alpha_k A_kij)
// For a network that ends in global average pooling and one linear layer, g_kij = W_ck / hw
// everywhere, so Grad-CAM is the CAM of Zhou et al. (CVPR 2016): ReLU(sum_k W_ck A_k) / hw.
//
// The network runs in eval mode (restored after) with a forward hook on the layer; the layer's
// gradient is kept with retain_grad; the network's parameter gradients are cleared after.
#pragma once

#include <string>

#include "engine/fovea.h"
#include "layers/module.h"
#include "support/heatmap.h"

namespace fovea::viz {

enum class CamMethod { gradcam, gradcam_pp };
CamMethod parse_cam_method(const std::string& name);  // "gradcam" or "gradcam++"

struct Cam {
  Map map;                   // [h, w] at the layer's resolution, >= 0, not normalised
  std::vector<double> scores;  // the network's logits for the image
  int64_t class_index = -1;  // the class explained
};

// The module at `dotted` below `root` ("layer3.2", "layer1.0.cbam"; "" is root). An unknown
// name is an error that lists the names there are.
nn::Module& find_layer(nn::Module& root, const std::string& dotted);

// The CAM of `image` ([C, H, W] or [1, C, H, W], already normalised as the network was trained)
// for `class_index` (-1: the top-scoring class) at `layer`, whose output must be [1, K, h, w].
Cam grad_cam(nn::Module& net, const Tensor& image, const std::string& layer,
             int64_t class_index = -1, CamMethod method = CamMethod::gradcam);

}  // namespace fovea::viz
