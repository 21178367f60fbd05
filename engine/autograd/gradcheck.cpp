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
  if (input >= 0 && !index.empty())
    os << " at input " << input << " index " << shape_str(index);
  else if (input >= 0)
    os << " along a random direction";
  if (kinked_directions > 0)
    os << " [" << kinked_directions << " direction(s) crossed a kink and were redrawn]";
  if (input >= 0) os << " (analytic " << analytic << ", numeric " << numeric << ")";
  if (vacuous_input >= 0 && !index.empty())
    os << "; vacuous: the analytic and numeric gradients of input " << vacuous_input
       << " are ~0 everywhere, so the check could not tell a right backward from a wrong one";
  else if (vacuous_input >= 0)
    os << "; vacuous: both directional derivatives are ~0, so the check could not tell a right "
          "backward from a wrong one";
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


// Fresh float64 leaves for the inputs that require grad, and the analytic gradients of
// L = sum(f(x) * v) for a random v, from one backward.
struct Prepared {
  std::vector<Tensor> leaves;
  std::vector<bool> checked;
  Tensor v;
};

Prepared prepare(const TensorFn& f, const std::vector<Tensor>& inputs, Generator& gen) {
  Prepared p;
  for (const Tensor& x : inputs) {
    const bool check = x.defined() && x.requires_grad();
    if (check)
      FOVEA_CHECK(x.dtype() == DType::Float64, "gradcheck: inputs that require grad must be "
                  "float64 (got ", x.str(), "); float32 differences are too noisy");
    p.checked.push_back(check);
    p.leaves.push_back(check ? x.detach().clone().set_requires_grad() : x);
  }
  Tensor out = f(p.leaves);
  FOVEA_CHECK(out.dtype() == DType::Float64, "gradcheck: the function must return float64, got ",
              out.str());
  p.v = randn(out.shape(), DType::Float64, &gen);
  FOVEA_CHECK(out.requires_grad(), "gradcheck: the output does not depend on any input that "
              "requires grad");
  out.backward(p.v);
  return p;
}

double relative_error(double analytic, double numeric) {
  const double err = std::abs(analytic - numeric) / std::max(1.0, std::abs(numeric));
  return std::isnan(err) ? INFINITY : err;
}

// Largest |value| seen, to tell a check that compared anything from one that compared zeros.
struct Magnitude {
  double largest = 0;
  void see(double v) { largest = std::max(largest, std::abs(v)); }
  bool vacuous(double tolerance) const { return !(largest > tolerance); }
};

}  // namespace

GradcheckReport gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  Generator gen(options.seed);
  Prepared prep = prepare(f, inputs, gen);
  std::vector<Tensor>& leaves = prep.leaves;
  const std::vector<bool>& checked = prep.checked;
  const Tensor& v = prep.v;

  GradcheckReport report;
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (!checked[i]) continue;
    Tensor& x = leaves[i];
    const Tensor g = x.grad();
    const std::vector<double> grad =
        g.defined() ? g.to_vector<double>() : std::vector<double>(size_t(x.numel()), 0.0);
    double* p = x.data<double>();  // contiguous: x is a fresh clone
    Magnitude magnitude;
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
      magnitude.see(numeric);
      magnitude.see(analytic);
      const double err = relative_error(analytic, numeric);
      if (err > report.max_error || report.input < 0) {
        report.max_error = err;
        report.input = int(i);
        report.index = unravel_index(j, x.shape());
        report.analytic = analytic;
        report.numeric = numeric;
      }
    }
    if (magnitude.vacuous(options.tolerance) && report.vacuous_input < 0)
      report.vacuous_input = int(i);
  }
  report.ok = report.max_error <= options.tolerance && report.vacuous_input < 0;
  return report;
}

GradcheckReport gradcheck_directional(const TensorFn& f, const std::vector<Tensor>& inputs,
                                      const GradcheckOptions& options) {
  FOVEA_CHECK(options.directions >= 1, "gradcheck_directional: need at least one direction");
  Generator gen(options.seed);
  Prepared prep = prepare(f, inputs, gen);
  std::vector<Tensor> directions(prep.leaves.size());
  // L at x + t d, with every checked leaf moved in place and restored.
  auto loss_at = [&](double t) {
    NoGradGuard no_grad;
    std::vector<Tensor> originals;
    for (size_t i = 0; i < prep.leaves.size(); ++i) {
      if (!prep.checked[i]) continue;
      originals.push_back(prep.leaves[i].clone());
      prep.leaves[i].add_(directions[i], t);
    }
    const double loss = weighted_sum(f(prep.leaves), prep.v);
    for (size_t i = 0, k = 0; i < prep.leaves.size(); ++i)
      if (prep.checked[i]) prep.leaves[i].copy_(originals[k++]);
    return loss;
  };
  GradcheckReport report;
  for (int attempt = 0; attempt < options.directions; ++attempt) {
    double analytic = 0;
    for (size_t i = 0; i < prep.leaves.size(); ++i) {
      if (!prep.checked[i]) continue;
      directions[i] = randn(prep.leaves[i].shape(), DType::Float64, &gen);
      const Tensor g = prep.leaves[i].grad();
      if (g.defined()) analytic += weighted_sum(g, directions[i]);
    }
    // Difference at h and h/2; a disagreement means a kink lies within h, so h shrinks (a kink
    // is crossed with a probability proportional to h) before the direction is given up.
    bool smooth = false;
    for (double h = options.eps; h >= options.eps / 4096 && !smooth; h /= 8) {
      const double numeric = (loss_at(h) - loss_at(-h)) / (2 * h);
      const double half = (loss_at(h / 2) - loss_at(-h / 2)) / h;
      report.max_error = relative_error(analytic, numeric);
      report.analytic = analytic;
      report.numeric = numeric;
      smooth = relative_error(numeric, half) <= options.tolerance / 4;
    }
    report.input = 0;
    if (smooth) break;
    ++report.kinked_directions;
  }
  Magnitude magnitude;
  magnitude.see(report.analytic);
  magnitude.see(report.numeric);
  if (magnitude.vacuous(options.tolerance)) report.vacuous_input = 0;
  report.ok = report.kinked_directions < options.directions &&
              report.max_error <= options.tolerance && report.vacuous_input < 0;
  return report;
}

}  // namespace fovea
