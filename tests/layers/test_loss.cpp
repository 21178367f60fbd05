// CrossEntropyLoss: the module forwards to cross_entropy with its label smoothing and reduction;
// values by hand, the gradient (softmax - q) / N, and printing.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>

#include "layers/layers.h"

using namespace fovea;

namespace {
// -log softmax(z)_t for one row, in double.
double nll(const std::vector<double>& z, size_t t) {
  double s = 0;
  for (double v : z) s += std::exp(v);
  return std::log(s) - z[t];
}
}  // namespace

TEST_CASE("CrossEntropyLoss: values for every reduction, with and without label smoothing") {
  const std::vector<double> r0{1.0, 2.0, 0.5}, r1{-1.0, 0.0, 3.0};
  Tensor logits = from_values({1.0, 2.0, 0.5, -1.0, 0.0, 3.0}, {2, 3}, DType::Float64);
  Tensor target = from_vector<int64_t>({0, 2}, {2});
  const double l0 = nll(r0, 0), l1 = nll(r1, 2);

  CHECK(nn::CrossEntropyLoss()(logits, target).item() == doctest::Approx((l0 + l1) / 2));
  CHECK(nn::CrossEntropyLoss(0, Reduction::Sum)(logits, target).item() == doctest::Approx(l0 + l1));
  const Tensor none = nn::CrossEntropyLoss(0, Reduction::None)(logits, target);
  CHECK(none.shape() == Shape{2});
  CHECK(none.at({0}) == doctest::Approx(l0));
  CHECK(none.at({1}) == doctest::Approx(l1));

  // smoothing eps: q = (1 - eps) onehot + eps / K
  const double eps = 0.3;
  auto smoothed = [&](const std::vector<double>& z, size_t t) {
    double s = 0;
    for (size_t k = 0; k < 3; ++k) s += ((k == t ? 1 - eps : 0) + eps / 3) * nll(z, k);
    return s;
  };
  CHECK(nn::CrossEntropyLoss(eps)(logits, target).item() ==
        doctest::Approx((smoothed(r0, 0) + smoothed(r1, 2)) / 2));
}

TEST_CASE("CrossEntropyLoss: the gradient is (softmax - onehot) / N") {
  Tensor logits = from_values({1.0, 2.0, 0.5, -1.0, 0.0, 3.0}, {2, 3}, DType::Float64)
                      .set_requires_grad();
  Tensor target = from_vector<int64_t>({1, 0}, {2});
  nn::CrossEntropyLoss()(logits, target).backward();
  const std::vector<double> z = logits.to_vector<double>(), g = logits.grad().to_vector<double>();
  for (size_t i = 0; i < 2; ++i) {
    double s = 0;
    for (size_t k = 0; k < 3; ++k) s += std::exp(z[i * 3 + k]);
    for (size_t k = 0; k < 3; ++k) {
      const double want = (std::exp(z[i * 3 + k]) / s - (k == (i == 0 ? 1u : 0u) ? 1 : 0)) / 2;
      CHECK(g[i * 3 + k] == doctest::Approx(want));
    }
  }
}

TEST_CASE("CrossEntropyLoss: construction checks and printing") {
  CHECK_THROWS_WITH_AS(nn::CrossEntropyLoss(1.5),
                       doctest::Contains("CrossEntropyLoss: label_smoothing must be in [0, 1], got 1.5"),
                       Error);
  std::ostringstream os;
  os << nn::CrossEntropyLoss(0.1, Reduction::Sum);
  CHECK(os.str() == "CrossEntropyLoss(reduction=sum, label_smoothing=0.1)");
  CHECK_THROWS_WITH_AS(nn::CrossEntropyLoss().forward(ones({2, 3})),
                       doctest::Contains("CrossEntropyLoss: forward(x) is not implemented"), Error);
}
