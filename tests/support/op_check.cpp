#include "support/op_check.h"

#include <doctest/doctest.h>

#include <cmath>
#include <optional>

#include "engine/core/factory.h"

namespace fovea::test {

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
