#include "support/gradcam.h"

#include <algorithm>
#include <sstream>

#include "engine/core/error.h"

namespace fovea::viz {

namespace {

// Restores the network's mode, removes the hook and clears the parameter gradients whatever
// happens between (an error in the forward included).
struct Restore {
  nn::Module& net;
  nn::Module& layer;
  bool training;
  int hook = -1;
  ~Restore() {
    if (hook >= 0) layer.remove_forward_hook(hook);
    net.train(training);
    net.zero_grad();
  }
};

// Per-map weights alpha_k from the activations A and gradients g, both [K, hw] row-major.
std::vector<double> weights(const std::vector<double>& a, const std::vector<double>& g, int64_t k,
                            int64_t hw, CamMethod method) {
  std::vector<double> alpha(size_t(k), 0.0);
  for (int64_t c = 0; c < k; ++c) {
    const double* ac = &a[size_t(c * hw)];
    const double* gc = &g[size_t(c * hw)];
    if (method == CamMethod::gradcam) {
      double s = 0;
      for (int64_t i = 0; i < hw; ++i) s += gc[i];
      alpha[size_t(c)] = s / double(hw);
      continue;
    }
    double sum_a = 0;
    for (int64_t i = 0; i < hw; ++i) sum_a += ac[i];
    for (int64_t i = 0; i < hw; ++i) {
      const double g2 = gc[i] * gc[i], denominator = 2 * g2 + sum_a * g2 * gc[i];
      if (g2 == 0 || denominator == 0) continue;  // no gradient, or a weight without a value
      alpha[size_t(c)] += g2 / denominator * std::max(gc[i], 0.0);
    }
  }
  return alpha;
}

}  // namespace

CamMethod parse_cam_method(const std::string& name) {
  if (name == "gradcam") return CamMethod::gradcam;
  if (name == "gradcam++") return CamMethod::gradcam_pp;
  FOVEA_FAIL("gradcam: unknown method \"", name, "\" (gradcam, gradcam++)");
}

nn::Module& find_layer(nn::Module& root, const std::string& dotted) {
  nn::Module* m = &root;
  std::string rest = dotted;
  while (!rest.empty()) {
    const size_t dot = rest.find('.');
    const std::string part = rest.substr(0, dot);
    rest = dot == std::string::npos ? "" : rest.substr(dot + 1);
    nn::Module* next = nullptr;
    for (const auto& [name, child] : m->named_children())
      if (name == part) next = child.get();
    if (!next) {
      std::ostringstream names;
      size_t n = 0;
      for (const auto& [name, mod] : root.named_modules()) {
        if (name.empty()) continue;
        if (n++ == 40) {
          names << ", ...";
          break;
        }
        names << (n > 1 ? ", " : "") << name;
      }
      FOVEA_FAIL("no layer \"", dotted, "\" in the network; its layers: ", names.str());
    }
    m = next;
  }
  return *m;
}

Cam grad_cam(nn::Module& net, const Tensor& image, const std::string& layer_name,
             int64_t class_index, CamMethod method) {
  FOVEA_CHECK(image.defined() && (image.dim() == 3 || (image.dim() == 4 && image.size(0) == 1)),
              "gradcam: the image must be [C, H, W] or [1, C, H, W], got ",
              image.defined() ? shape_str(image.shape()) : std::string("an undefined tensor"));
  nn::Module& layer = find_layer(net, layer_name);
  Restore restore{net, layer, net.is_training()};
  net.eval();
  Tensor activation;
  restore.hook = layer.add_forward_hook([&](nn::Module&, const Tensor&, const Tensor& out) {
    activation = out;
    if (out.requires_grad()) out.retain_grad();
  });
  // An input that needs a gradient makes the layer's output need one even in a frozen network.
  Tensor x = (image.dim() == 3 ? image.unsqueeze(0) : image).detach().clone();
  x.set_requires_grad();
  const Tensor scores = net(x);
  FOVEA_CHECK(activation.defined(), "gradcam: layer \"", layer_name,
              "\" did not run in the forward");
  FOVEA_CHECK(activation.dim() == 4 && activation.size(0) == 1, "gradcam: layer \"", layer_name,
              "\" gives ", shape_str(activation.shape()), "; Grad-CAM needs maps [1, K, h, w]");
  FOVEA_CHECK(scores.dim() == 2 && scores.size(0) == 1, "gradcam: the network gives ",
              shape_str(scores.shape()), " for one image; expected scores [1, classes]");
  Cam cam;
  cam.scores = scores.to_vector<double>();
  const int64_t classes = scores.size(1);
  FOVEA_CHECK(class_index >= -1 && class_index < classes, "gradcam: class ", class_index,
              " is out of range for ", classes, " classes (0 to ", classes - 1,
              ", or -1 for the top class)");
  if (class_index < 0)
    class_index = std::max_element(cam.scores.begin(), cam.scores.end()) - cam.scores.begin();
  cam.class_index = class_index;
  sum(scores.select(1, class_index)).backward();

  const int64_t k = activation.size(1), h = activation.size(2), w = activation.size(3);
  FOVEA_CHECK(activation.grad().defined(), "gradcam: no gradient reached layer \"", layer_name,
              "\" (does the score depend on it?)");
  const std::vector<double> a = activation.to_vector<double>(),
                            g = activation.grad().to_vector<double>();
  const std::vector<double> alpha = weights(a, g, k, h * w, method);
  cam.map = Map{h, w, std::vector<double>(size_t(h * w), 0.0)};
  for (int64_t c = 0; c < k; ++c)
    for (int64_t i = 0; i < h * w; ++i)
      cam.map.values[size_t(i)] += alpha[size_t(c)] * a[size_t(c * h * w + i)];
  for (double& v : cam.map.values) v = std::max(v, 0.0);
  return cam;
}

}  // namespace fovea::viz
