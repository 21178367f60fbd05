#include "engine/autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/core/random.h"
#include "engine/ops/binary.h"
#include "engine/ops/reduce.h"

namespace fovea {

std::string GradcheckReport::summary() const {
  std::ostringstream os;
  os.precision(10);
  os << (ok ? "passed" : "FAILED") << ": max error " << max_error;
  if (input >= 0)
    os << " at input " << input << " index " << shape_str(index) << " (analytic " << analytic
       << ", numeric " << numeric << ")";
  return os.str();
}

namespace {

double weighted_sum(const Tensor& out, const Tensor& v) {
  FOVEA_CHECK(out.shape() == v.shape(), "gradcheck: the function's output shape changed from ",
              shape_str(v.shape()), " to ", shape_str(out.shape()), " between calls");
  const std::vector<double> a = out.to_vector<double>(), b = v.to_vector<double>();
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

Shape unravel(int64_t flat, const Shape& shape) {
  Shape idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}

}  // namespace

GradcheckReport gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  std::vector<Tensor> leaves;
  std::vector<bool> checked;
  for (const Tensor& x : inputs) {
    const bool check = x.defined() && x.requires_grad();
    if (check)
      FOVEA_CHECK(x.dtype() == DType::Float64, "gradcheck: inputs that require grad must be "
                  "float64 (got ", x.str(), "); float32 differences are too noisy");
    checked.push_back(check);
    leaves.push_back(check ? x.detach().clone().set_requires_grad() : x);
  }

  // Analytic: one backward of L = sum(f(x) * v).
  Tensor out = f(leaves);
  FOVEA_CHECK(out.dtype() == DType::Float64, "gradcheck: the function must return float64, got ",
              out.str());
  Generator gen(options.seed);
  const Tensor v = randn(out.shape(), DType::Float64, &gen);
  FOVEA_CHECK(out.requires_grad(), "gradcheck: the output does not depend on any input that "
              "requires grad");
  out.backward(v);

  GradcheckReport report;
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (!checked[i]) continue;
    Tensor& x = leaves[i];
    const Tensor g = x.grad();
    const std::vector<double> grad =
        g.defined() ? g.to_vector<double>() : std::vector<double>(size_t(x.numel()), 0.0);
    double* p = x.data<double>();  // contiguous: x is a fresh clone
    for (int64_t j = 0; j < x.numel(); ++j) {
      const double orig = p[j];
      double lp, lm;
      {
        NoGradGuard no_grad;
        p[j] = orig + options.eps;
        lp = weighted_sum(f(leaves), v);
        p[j] = orig - options.eps;
        lm = weighted_sum(f(leaves), v);
        p[j] = orig;
      }
      const double numeric = (lp - lm) / (2 * options.eps);
      const double analytic = grad[size_t(j)];
      const double err = std::abs(analytic - numeric) /
                         std::max({1.0, std::abs(analytic), std::abs(numeric)});
      if (std::isnan(err) || err > report.max_error || report.input < 0) {
        report.max_error = std::isnan(err) ? INFINITY : err;
        report.input = int(i);
        report.index = unravel(j, x.shape());
        report.analytic = analytic;
        report.numeric = numeric;
      }
    }
  }
  report.ok = report.max_error <= options.tolerance;
  return report;
}

}  // namespace fovea
