#include "support/layouts.h"

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

const std::vector<Layout>& all_layouts() {
  static const std::vector<Layout> layouts = {Layout::Contiguous, Layout::Permuted,
                                              Layout::Sliced, Layout::Expanded};
  return layouts;
}

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
      Tensor leaf = zeros(big, values.dtype());
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

}  // namespace fovea::test
