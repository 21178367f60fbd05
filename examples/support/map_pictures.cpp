#include "support/map_pictures.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/core/error.h"
#include "support/plot.h"

namespace fovea::viz {

namespace {

// The mean over the leading `lead` values of blocks of `block` values: [lead, block] -> [block].
std::vector<double> mean_of_blocks(const std::vector<double>& v, size_t block) {
  const size_t lead = v.size() / block;
  std::vector<double> out(block, 0.0);
  for (size_t l = 0; l < lead; ++l)
    for (size_t i = 0; i < block; ++i) out[i] += v[l * block + i] / double(lead);
  return out;
}

std::string mean_over(int64_t count, const std::string& what) {
  return count > 1 ? "mean over " + std::to_string(count) + " " + what : "";
}

bool flat(const std::vector<double>& v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return *hi - *lo <= 1e-9 * std::max(1.0, std::abs(*hi));
}

// The mean of the maps (blocks of `block` values), or the first map when the mean is flat but
// the maps are not: maps normalised across their leading axis (External Attention's memory
// slots sum to 1 at every position) all average to the same value. `how` says which.
std::vector<double> summary_of_maps(const std::vector<double>& v, size_t block,
                                    const std::string& what, std::string& how) {
  const size_t count = v.size() / block;
  std::vector<double> mean = mean_of_blocks(v, block);
  how = mean_over(int64_t(count), what);
  if (count < 2 || !flat(mean)) return mean;
  for (size_t k = 0; k < count; ++k) {  // maps that are flat themselves: the flat mean is right
    std::vector<double> one(v.begin() + std::ptrdiff_t(k * block),
                            v.begin() + std::ptrdiff_t((k + 1) * block));
    if (flat(one)) continue;
    how = "map " + std::to_string(k) + " of " + std::to_string(count) + " " + what +
          " (their mean is flat)";
    return one;
  }
  return mean;
}

}  // namespace

MapPicture picture_of_map(const Tensor& value, int64_t height, int64_t width, int64_t query_y,
                          int64_t query_x) {
  FOVEA_CHECK(value.defined() && value.dim() >= 1 && value.numel() >= 1,
              "attention map: expected one image's map [1, ...] (or [groups, ...]), got ",
              value.defined() ? shape_str(value.shape()) : std::string("an undefined tensor"));
  FOVEA_CHECK(height >= 1 && width >= 1, "attention map: the module's input size ", height, "x",
              width, " is not a size");
  // Without the image axis; a first axis of more than one is a module's groups folded into the
  // batch (Shuffle Attention: [N G, ...]), read as one more leading axis.
  const Shape s(value.shape().begin() + (value.size(0) == 1 ? 1 : 0), value.shape().end());
  const std::vector<double> v = value.to_vector<double>();
  const int64_t L = height * width, n = int64_t(s.size());
  MapPicture p;

  if (n >= 2 && (s[n - 2] == height || s[n - 2] == 1) && (s[n - 1] == width || s[n - 1] == 1) &&
      s[n - 2] * s[n - 1] > 1) {
    const int64_t a = s[n - 2], b = s[n - 1];
    const std::vector<double> m = summary_of_maps(v, size_t(a * b), "maps", p.how);
    p.kind = MapKind::spatial;
    p.map = Map{height, width, std::vector<double>(size_t(L))};
    for (int64_t y = 0; y < height; ++y)  // a row or column profile spreads along the other axis
      for (int64_t x = 0; x < width; ++x)
        p.map.values[size_t(y * width + x)] = m[size_t((a == 1 ? 0 : y) * b + (b == 1 ? 0 : x))];
    if (a == 1 || b == 1) p.how += std::string(p.how.empty() ? "" : ", ") + "the same along each " +
                                   (a == 1 ? "column" : "row");
    return p;
  }
  if (n >= 2 && L > 1 && s[n - 2] == L && s[n - 1] == L) {
    const int64_t qy = query_y < 0 ? height / 2 : query_y, qx = query_x < 0 ? width / 2 : query_x;
    FOVEA_CHECK(qy < height && qx < width, "attention map: query (", qy, ", ", qx,
                ") is outside the ", height, "x", width, " positions");
    const int64_t heads = int64_t(v.size()) / (L * L), q = qy * width + qx;
    p.kind = MapKind::spatial;
    p.map = Map{height, width, std::vector<double>(size_t(L), 0.0)};
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < L; ++i)
        p.map.values[size_t(i)] += v[size_t((h * L + q) * L + i)] / double(heads);
    p.how = "attention of position (" + std::to_string(qy) + ", " + std::to_string(qx) + ")";
    if (heads > 1) p.how += ", " + mean_over(heads, "heads");
    return p;
  }
  if (n >= 2 && L > 1 && s[n - 1] == L) {  // [L] alone would be a channel vector when C = L
    p.kind = MapKind::spatial;
    p.map = Map{height, width, summary_of_maps(v, size_t(L), "maps", p.how)};
    return p;
  }
  Shape kept;  // the axes of more than one value
  for (int64_t d : s)
    if (d > 1) kept.push_back(d);
  if (kept.size() == 1) {
    p.kind = MapKind::channel;
    p.weights = v;
    return p;
  }
  if (kept.size() >= 2) {
    const int64_t rows = kept[kept.size() - 2], columns = kept.back();
    p.kind = MapKind::matrix;
    p.map = Map{rows, columns, mean_of_blocks(v, size_t(rows * columns))};
    p.how = mean_over(int64_t(v.size()) / (rows * columns), "matrices");
    return p;
  }
  p.kind = MapKind::value;
  p.weights = v;
  char text[64];
  std::snprintf(text, sizeof text, "one value: %.4g", v.empty() ? 0.0 : v[0]);
  p.how = text;
  return p;
}

void write_map_png(const std::string& path, const MapPicture& p, const plot::Canvas* image,
                   const std::string& title, const HeatmapStyle& style) {
  HeatmapStyle s = style;
  s.title = title;
  switch (p.kind) {
    case MapKind::spatial:
      write_heatmap_png(path, image, p.map, s);
      return;
    case MapKind::matrix:
      write_heatmap_png(path, nullptr, p.map, s);
      return;
    case MapKind::channel: {
      // Bars of 14 pixels stay readable up to 64 channels; beyond, the 64 largest in channel
      // order (a 2048-channel stage would be a picture 29,000 pixels tall).
      constexpr size_t kMaxBars = 64;
      std::vector<size_t> shown(p.weights.size());
      for (size_t i = 0; i < shown.size(); ++i) shown[i] = i;
      plot::BarChart chart;
      chart.title = title;
      chart.x_label = "weight";
      if (shown.size() > kMaxBars) {
        std::partial_sort(shown.begin(), shown.begin() + kMaxBars, shown.end(),
                          [&](size_t a, size_t b) { return p.weights[a] > p.weights[b]; });
        shown.resize(kMaxBars);
        std::sort(shown.begin(), shown.end());
        chart.title += " (the " + std::to_string(kMaxBars) + " largest of " +
                       std::to_string(p.weights.size()) + ")";
      }
      for (size_t i : shown) {
        chart.labels.push_back(std::to_string(i));
        chart.values.push_back(p.weights[i]);
      }
      plot::write_bar_chart_png(path, chart, 600, 110 + 14 * int(shown.size()));
      return;
    }
    case MapKind::value:
      break;
  }
  FOVEA_FAIL("attention map: ", title, " is one value (", p.how, "): no picture to draw");
}

}  // namespace fovea::viz
