// Grad-CAM and Grad-CAM++ (examples/support/gradcam.h) on a network small enough to do by hand:
// ReLU -> global average pooling -> linear. Its layer "0" gives A = ReLU(x), and the score of
// class c is S_c = sum_k W_ck mean(A_k) + b_c, so dS_c / dA_kij = W_ck / hw at every place:
//   Grad-CAM:   cam = ReLU(sum_k (W_ck / hw) A_k)                (the CAM of Zhou et al.)
//   Grad-CAM++: alpha_k = hw ReLU(G) G^2 / (2 G^2 + S_k G^3), G = W_ck / hw, S_k = sum A_k,
//               cam = ReLU(sum_k alpha_k A_k)
// The expected maps below come from these closed forms, not from the code's loops over
// gradients. Also: the top class by default, the mode and gradients left as they were, and the
// errors (unknown layer, class out of range, a layer without maps, an image of the wrong rank).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "engine/core/error.h"
#include "engine/fovea.h"
#include "layers/layers.h"
#include "support/gradcam.h"

using namespace fovea;

namespace {

constexpr int64_t K = 2, H = 2, W = 3, HW = H * W, CLASSES = 3;

// Weights chosen so that the classes differ in sign and size per map.
const std::vector<double> kWeight = {0.5, -1.0,   // class 0
                                     2.0, 0.25,   // class 1
                                     -0.75, 1.5};  // class 2
const std::vector<double> kBias = {0.1, -0.2, 0.3};
// x >= 0 except two places, so ReLU matters there; map 1 is larger on the right.
const std::vector<double> kImage = {1.0, 0.5, -2.0, 0.25, 3.0, 0.0,   // map 0, 2 x 3
                                    0.0, 1.0, 2.0, -1.0, 0.5, 4.0};  // map 1

std::shared_ptr<nn::Sequential> tiny() {
  auto fc = std::make_shared<nn::Linear>(K, CLASSES, true, DType::Float64);
  fc->weight.detach().copy_(from_values(kWeight, {CLASSES, K}, DType::Float64));
  fc->bias.detach().copy_(from_values(kBias, {CLASSES}, DType::Float64));
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::ReLU>(), std::make_shared<nn::AdaptiveAvgPool2d>(1),
      std::make_shared<nn::Flatten>(), fc});
}

double a(int64_t k, int64_t i) { return std::max(kImage[size_t(k * HW + i)], 0.0); }

std::vector<double> expected_scores() {
  std::vector<double> s(CLASSES);
  for (int64_t c = 0; c < CLASSES; ++c) {
    s[size_t(c)] = kBias[size_t(c)];
    for (int64_t k = 0; k < K; ++k) {
      double mean = 0;
      for (int64_t i = 0; i < HW; ++i) mean += a(k, i) / HW;
      s[size_t(c)] += kWeight[size_t(c * K + k)] * mean;
    }
  }
  return s;
}

std::vector<double> expected_cam(int64_t c, viz::CamMethod method) {
  std::vector<double> alpha(K);
  for (int64_t k = 0; k < K; ++k) {
    const double g = kWeight[size_t(c * K + k)] / HW;
    double s = 0;
    for (int64_t i = 0; i < HW; ++i) s += a(k, i);
    alpha[size_t(k)] = method == viz::CamMethod::gradcam
                           ? g
                           : HW * std::max(g, 0.0) * g * g / (2 * g * g + s * g * g * g);
  }
  std::vector<double> cam(HW);
  for (int64_t i = 0; i < HW; ++i)
    cam[size_t(i)] = std::max(alpha[0] * a(0, i) + alpha[1] * a(1, i), 0.0);
  return cam;
}

}  // namespace

TEST_CASE("gradcam: Grad-CAM and Grad-CAM++ of a pooled linear network are its closed forms") {
  auto net = tiny();
  const Tensor image = from_values(kImage, {K, H, W}, DType::Float64);
  for (const auto method : {viz::CamMethod::gradcam, viz::CamMethod::gradcam_pp})
    for (int64_t c = 0; c < CLASSES; ++c) {
      CAPTURE(c);
      CAPTURE(int(method));
      const viz::Cam cam = viz::grad_cam(*net, image, "0", c, method);
      CHECK(cam.class_index == c);
      CHECK(cam.map.height == H);
      CHECK(cam.map.width == W);
      const std::vector<double> want = expected_cam(c, method);
      REQUIRE(cam.map.values.size() == want.size());
      for (size_t i = 0; i < want.size(); ++i)
        CHECK(cam.map.values[i] == doctest::Approx(want[i]).epsilon(1e-12));
      const std::vector<double> scores = expected_scores();
      for (size_t i = 0; i < scores.size(); ++i)
        CHECK(cam.scores[i] == doctest::Approx(scores[i]).epsilon(1e-12));
    }
  // The maps are not all zero (the test would pass on an empty CAM otherwise).
  double total = 0;
  for (double v : expected_cam(1, viz::CamMethod::gradcam)) total += v;
  CHECK(total > 0.5);
}

// A fixed mask between the ReLU and the pooling makes the gradient differ by position:
// dS_c / dA_kij = W_ck M_ij / hw, so Grad-CAM++'s per-position weights a_kij differ too.
struct Mask : nn::Module {
  Tensor mask;  // [1, 1, H, W]
  explicit Mask(Tensor m) : nn::Module("Mask"), mask(std::move(m)) {}
  Tensor forward(const Tensor& x) override { return x * mask; }
};

TEST_CASE("gradcam: Grad-CAM++ with gradients that differ by position is its closed form") {
  const std::vector<double> m = {1.0, 0.5, 2.0, -1.0, 0.25, 3.0};
  auto fc = std::make_shared<nn::Linear>(K, CLASSES, true, DType::Float64);
  fc->weight.detach().copy_(from_values(kWeight, {CLASSES, K}, DType::Float64));
  fc->bias.detach().copy_(from_values(kBias, {CLASSES}, DType::Float64));
  nn::Sequential net({std::make_shared<nn::ReLU>(),
                      std::make_shared<Mask>(from_values(m, {1, 1, H, W}, DType::Float64)),
                      std::make_shared<nn::AdaptiveAvgPool2d>(1), std::make_shared<nn::Flatten>(),
                      fc});
  const Tensor image = from_values(kImage, {K, H, W}, DType::Float64);
  for (int64_t c = 0; c < CLASSES; ++c) {
    CAPTURE(c);
    std::vector<double> want(HW, 0.0), grad_cam(HW, 0.0);
    for (int64_t k = 0; k < K; ++k) {
      double s = 0, alpha_pp = 0, alpha = 0;
      for (int64_t i = 0; i < HW; ++i) s += a(k, i);
      for (int64_t i = 0; i < HW; ++i) {
        const double g = kWeight[size_t(c * K + k)] * m[size_t(i)] / HW;
        alpha += g / HW;
        alpha_pp += g * g / (2 * g * g + s * g * g * g) * std::max(g, 0.0);
      }
      for (int64_t i = 0; i < HW; ++i) {
        want[size_t(i)] += alpha_pp * a(k, i);
        grad_cam[size_t(i)] += alpha * a(k, i);
      }
    }
    const viz::Cam pp = viz::grad_cam(net, image, "0", c, viz::CamMethod::gradcam_pp);
    const viz::Cam plain = viz::grad_cam(net, image, "0", c, viz::CamMethod::gradcam);
    for (int64_t i = 0; i < HW; ++i) {
      CHECK(pp.map.values[size_t(i)] ==
            doctest::Approx(std::max(want[size_t(i)], 0.0)).epsilon(1e-12));
      CHECK(plain.map.values[size_t(i)] ==
            doctest::Approx(std::max(grad_cam[size_t(i)], 0.0)).epsilon(1e-12));
    }
  }
}

TEST_CASE("gradcam: the top class by default, mode restored, hook removed, gradients cleared") {
  auto net = tiny();
  net->train();
  const Tensor image = from_values(kImage, {1, K, H, W}, DType::Float64);
  const viz::Cam cam = viz::grad_cam(*net, image, "0");
  const std::vector<double> s = expected_scores();
  CHECK(cam.class_index == std::max_element(s.begin(), s.end()) - s.begin());
  CHECK(net->is_training());
  for (const Tensor& p : net->parameters()) CHECK_FALSE(p.grad().defined());
  // A hook left on the layer would write into grad_cam's dead stack frame on this forward:
  // AddressSanitizer (CI's sanitizer stage, detect_stack_use_after_return) reports it.
  (*net)(image);
  const viz::Cam again = viz::grad_cam(*net, image, "0");
  CHECK(again.map.values == cam.map.values);
}

TEST_CASE("gradcam: unknown layers, classes out of range and layers without maps are errors") {
  auto net = tiny();
  const Tensor image = from_values(kImage, {K, H, W}, DType::Float64);
  CHECK_THROWS_WITH_AS(
      viz::grad_cam(*net, image, "layer9"),
      doctest::Contains("no layer \"layer9\" in the network; its layers: 0, 1, 2, 3"), Error);
  CHECK_THROWS_WITH_AS(viz::grad_cam(*net, image, "0", 3),
                       doctest::Contains("class 3 is out of range for 3 classes (0 to 2, or -1"),
                       Error);
  CHECK_THROWS_WITH_AS(viz::grad_cam(*net, image, "0", -2),
                       doctest::Contains("class -2 is out of range"), Error);
  CHECK_THROWS_WITH_AS(viz::grad_cam(*net, image, "3"),
                       doctest::Contains("gives [1, 3]; Grad-CAM needs maps [1, K, h, w]"), Error);
  CHECK_THROWS_WITH_AS(viz::grad_cam(*net, from_values({1, 2}, {2}, DType::Float64), "0"),
                       doctest::Contains("[C, H, W] or [1, C, H, W], got [2]"), Error);
  CHECK_THROWS_WITH_AS(viz::parse_cam_method("cam"), doctest::Contains("gradcam, gradcam++"),
                       Error);
  CHECK(viz::parse_cam_method("gradcam++") == viz::CamMethod::gradcam_pp);
  for (const Tensor& p : net->parameters()) CHECK_FALSE(p.grad().defined());  // after errors too
  CHECK(net->is_training());  // a new module trains: each error restored that mode
}
