#include "support/op_check.h"

#include <doctest/doctest.h>

#include <cmath>
#include <optional>

#include "engine/core/factory.h"

namespace fovea::test {

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::Contiguous: return "contiguous";
    case Layout::Permuted: return "permuted";
    case Layout::Sliced: return "sliced";
    case Layout::Expanded: return "expanded";
  }
  return "?";
}

Tensor make_input(const Shape& shape, Inputs kind, const std::vector<double>& kinks,
                  Generator& gen) {
  std::vector<double> v(size_t(shape_numel(shape)));
  for (double& x : v) {
    for (;;) {
      switch (kind) {
        case Inputs::Normal: x = gen.normal(); break;
        case Inputs::Positive: x = 0.5 + 1.5 * gen.uniform(); break;
        case Inputs::Unit: x = -0.9 + 1.8 * gen.uniform(); break;
      }
      bool near_kink = false;
      for (double k : kinks) near_kink = near_kink || std::abs(x - k) < 0.05;
      if (!near_kink) break;
    }
  }
  return from_vector(v, shape);
}

namespace {

// A leaf in the layout's storage shape and the view of it the op receives; nothing when the
// input's rank does not allow the layout.
struct LaidOut {
  Tensor leaf;
  std::function<Tensor(const Tensor&)> view;
};

std::optional<LaidOut> lay_out(const Tensor& values, Layout layout, int64_t expand_axis) {
  const Shape& s = values.shape();
  switch (layout) {
    case Layout::Permuted: {
      if (s.size() < 2) return std::nullopt;
      std::vector<int64_t> rev;
      for (int64_t d = int64_t(s.size()) - 1; d >= 0; --d) rev.push_back(d);
      Tensor leaf = values.permute(rev).contiguous();
      return LaidOut{leaf, [rev](const Tensor& l) { return l.permute(rev); }};
    }
    case Layout::Sliced: {
      if (s.empty()) return std::nullopt;
      Shape big = s;
      big.back() *= 2;
      Tensor leaf = zeros(big, DType::Float64);
      leaf.slice(-1, 0, big.back(), 2).copy_(values);
      const int64_t n = big.back();
      return LaidOut{leaf, [n](const Tensor& l) { return l.slice(-1, 0, n, 2); }};
    }
    case Layout::Expanded: {
      size_t axis = 0;
      while (axis < s.size() && s[axis] == 1) ++axis;
      if (expand_axis >= 0 && expand_axis < int64_t(s.size()) && s[size_t(expand_axis)] > 1)
        axis = size_t(expand_axis);
      if (axis == s.size()) return std::nullopt;
      Tensor leaf = values.narrow(int64_t(axis), 0, 1).contiguous();
      return LaidOut{leaf, [s](const Tensor& l) { return l.expand(s); }};
    }
    case Layout::Contiguous: break;
  }
  return LaidOut{values, [](const Tensor& l) { return l; }};
}

}  // namespace

void check_op_cases(const std::vector<OpCase>& cases) {
  for (const OpCase& c : cases) {
    for (Layout layout : c.layouts) {
      Generator gen(std::hash<std::string>{}(c.name) ^ uint64_t(layout));
      std::vector<LaidOut> laid;
      std::vector<Tensor> inputs;
      bool applies = false;  // some input takes this layout (others stay contiguous)
      for (const Shape& s : c.shapes) {
        const Tensor values = make_input(s, c.inputs, c.kinks, gen);
        std::optional<LaidOut> l = lay_out(values, layout, c.expand_axis);
        applies = applies || (l.has_value() && layout != Layout::Contiguous);
        laid.push_back(l ? *l : *lay_out(values, Layout::Contiguous, -1));
        inputs.push_back(laid.back().leaf.set_requires_grad());
      }
      if (layout != Layout::Contiguous && !applies) continue;
      std::vector<Tensor> extra = c.extra_inputs ? c.extra_inputs(gen) : std::vector<Tensor>{};
      const size_t n_float = c.shapes.size();
      inputs.insert(inputs.end(), extra.begin(), extra.end());
      TensorFn f = [&](const std::vector<Tensor>& xs) {
        std::vector<Tensor> views;
        for (size_t i = 0; i < xs.size(); ++i)
          views.push_back(i < n_float ? laid[i].view(xs[i]) : xs[i]);
        return c.fn(views);
      };
      GradcheckOptions options;
      options.tolerance = c.tolerance;
      options.eps = c.eps;
      GradcheckReport r;
      std::string error;
      try {
        r = gradcheck(f, inputs, options);
      } catch (const std::exception& e) {
        error = e.what();
      }
      INFO(c.name, " [", std::string(layout_name(layout)), "]: ", error.empty() ? r.summary() : error);
      CHECK((error.empty() && r.ok));
    }
  }
}

}  // namespace fovea::test
