#include "attention/fcanet.h"

#include <algorithm>
#include <array>
#include <sstream>

#include "engine/fovea.h"
#include "layers/activation.h"
#include "layers/linear.h"

namespace fovea::attention {

namespace {

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const char* kind : {"top", "low", "bot"})
      for (int k : {1, 2, 4, 8, 16, 32}) n.push_back(kind + std::to_string(k));
    return n;
  }();
  return names;
}

// The official 32-entry tables (cfzd/FcaNet get_freq_indices), x along H, y along W, 7x7 grid.
struct Table {
  const char* kind;
  std::array<int64_t, 32> x, y;
};
constexpr Table kTables[] = {
    {"top",
     {0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2, 4, 6, 3, 5, 5, 2, 6, 5, 5, 3, 3, 4, 2, 2, 6, 1},
     {0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2, 6, 3, 3, 3, 5, 1, 1, 2, 4, 2, 1, 1, 3, 0, 5, 3}},
    {"low",
     {0, 0, 1, 1, 0, 2, 2, 1, 2, 0, 3, 4, 0, 1, 3, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4},
     {0, 1, 0, 1, 2, 0, 1, 2, 2, 3, 0, 0, 4, 3, 1, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3}},
    {"bot",
     {6, 1, 3, 3, 2, 4, 1, 2, 4, 4, 5, 1, 4, 6, 2, 5, 6, 1, 6, 2, 2, 4, 3, 3, 5, 5, 6, 2, 5, 5, 3, 6},
     {6, 4, 4, 6, 6, 3, 1, 4, 4, 5, 6, 5, 2, 2, 5, 1, 4, 3, 5, 0, 3, 1, 1, 2, 4, 2, 1, 1, 5, 3, 3, 3}},
};

// [C, h, w]: the basis image of frequency k for the k-th block of C / K channels.
Tensor dct_filters(int64_t channel, int64_t h, int64_t w, const std::vector<int64_t>& xs,
                   const std::vector<int64_t>& ys) {
  const auto k = int64_t(xs.size());
  std::vector<Tensor> images;
  for (int64_t i = 0; i < k; ++i)
    images.push_back(dct_basis(h, w, xs[size_t(i)] * (h / 7), ys[size_t(i)] * (w / 7)));
  return stack(images, 0).reshape({k, 1, h, w}).expand({k, channel / k, h, w})
      .reshape({channel, h, w}).contiguous();
}

}  // namespace

std::pair<std::vector<int64_t>, std::vector<int64_t>> fca_frequencies(const std::string& method) {
  const auto& names = method_names();
  FOVEA_CHECK(std::find(names.begin(), names.end(), method) != names.end(),
              "MultiSpectralAttentionLayer: unknown freq_sel_method \"", method, "\" (",
              nn::join(names), ")");
  const auto count = size_t(std::stoi(method.substr(3)));
  for (const Table& t : kTables) {
    if (method.compare(0, 3, t.kind) != 0) continue;
    return {std::vector<int64_t>(t.x.begin(), t.x.begin() + long(count)),
            std::vector<int64_t>(t.y.begin(), t.y.begin() + long(count))};
  }
  FOVEA_FAIL("MultiSpectralAttentionLayer: no table for \"", method, "\"");
}

MultiSpectralAttentionLayer::MultiSpectralAttentionLayer(int64_t c, int64_t h, int64_t w,
                                                         const FcaOptions& o)
    : AttentionModule("MultiSpectralAttentionLayer"), channel(c), dct_h(h), dct_w(w), options(o) {
  const auto [xs, ys] = fca_frequencies(o.freq_sel_method);
  const auto k = int64_t(xs.size());
  FOVEA_CHECK(c >= 1 && c % k == 0, "MultiSpectralAttentionLayer: channels ", c,
              " not divisible by the ", k, " frequencies of ", o.freq_sel_method, " (spec §21)");
  check_reduction(c, o.reduction);
  FOVEA_CHECK(h >= 1 && w >= 1, "MultiSpectralAttentionLayer: DCT size ", h, "x", w,
              " must be positive");
  dct_layer = register_module("dct_layer", std::make_shared<nn::Module>("MultiSpectralDCTLayer"));
  filters_ = &dct_layer->register_buffer("weight", dct_filters(c, h, w, xs, ys));
  const int64_t hidden = c / o.reduction;
  fc = register_module("fc", std::make_shared<nn::Sequential>(
                                 std::initializer_list<std::shared_ptr<nn::Module>>{
                                     std::make_shared<nn::Linear>(c, hidden, false),
                                     std::make_shared<nn::ReLU>(),
                                     std::make_shared<nn::Linear>(hidden, c, false),
                                     std::make_shared<nn::Sigmoid>()}));
}

Tensor MultiSpectralAttentionLayer::forward(const Tensor& x) {
  check_input(x, channel);
  // Any other map size is pooled to the filters' size, as the official forward does.
  const bool same = x.size(2) == dct_h && x.size(3) == dct_w;
  const Tensor xp = same ? x : adaptive_avg_pool2d(x, {dct_h, dct_w});
  const Tensor a = (*fc)(sum(xp * *filters_, {2, 3}));
  record_map("channel", a);
  return x * a.reshape({x.size(0), channel, 1, 1});
}

std::string MultiSpectralAttentionLayer::extra_repr() const {
  std::ostringstream os;
  os << "channel=" << channel << ", dct_h=" << dct_h << ", dct_w=" << dct_w
     << ", reduction=" << options.reduction << ", freq_sel_method=" << options.freq_sel_method;
  return os.str();
}

namespace {

// The official per-stage size (224-px ImageNet): 56, 28, 14, 7.
int64_t stage_size(int stage) { return stage >= 1 && stage <= 3 ? int64_t(56) >> (stage - 1) : 7; }

int64_t dct_size(const std::string& rule, int64_t given, int64_t map, int stage) {
  if (given != 0) return given;  // a negative size fails the layer's check
  if (rule == "fixed7") return 7;
  if (map <= 0) return stage_size(stage);
  return rule == "max7" ? std::max<int64_t>(7, map) : map;
}

}  // namespace

nn::AttentionSpec fcanet_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "att";  // FcaNet's blocks: self.att
  s.help = "FcaNet multi-spectral channel attention: SE on fixed 2-D DCT frequencies (spec §11)";
  s.options = {{"reduction", "16", "hidden width channels // reduction"},
               {"freq_sel_method", "top16", "frequencies: top, low or bot x 1, 2, 4, 8, 16, 32"},
               {"dct_size", "max7",
                "DCT size from the block's map: max7 (max(7, H)), reference (H, collapses to DC "
                "below 7) or fixed7 (7x7)"},
               {"dct_h", "0", "DCT height (up to 256); 0: by dct_size"},
               {"dct_w", "0", "DCT width (up to 256); 0: by dct_size"}};
  s.make = [](const nn::AttentionContext& c) {
    FcaOptions o;
    o.reduction = c.options.integer("reduction");
    o.freq_sel_method = c.options.choice("freq_sel_method", method_names());
    const std::string rule = c.options.choice("dct_size", {"max7", "reference", "fixed7"});
    const int64_t h = dct_size(rule, c.options.integer("dct_h", 0, 256), c.height, c.stage);
    const int64_t w = dct_size(rule, c.options.integer("dct_w", 0, 256), c.width, c.stage);
    // The tables' frequencies are scaled by dct // 7: below 7 every one becomes the DC term.
    FOVEA_CHECK(rule == "reference" || (h >= 7 && w >= 7), "attention fca: a DCT size of ", h,
                "x", w, " turns every frequency into the DC term (spec §21: dct // 7 >= 1); "
                "dct_size=reference asks for that on purpose");
    return std::make_shared<MultiSpectralAttentionLayer>(c.channels, h, w, o);
  };
  return s;
}

}  // namespace fovea::attention
