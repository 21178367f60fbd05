#include "support/heatmap.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "engine/core/error.h"

namespace fovea::viz {

namespace {

// viridis (van der Walt and Smith, matplotlib's default map) at 9 evenly spaced points, the
// values R's viridisLite gives for viridis(9); between them, linear in RGB.
constexpr std::array<uint32_t, 9> kViridis = {0x440154, 0x472D7B, 0x3B528B, 0x2C728E, 0x21908C,
                                              0x27AD81, 0x5DC863, 0xAADC32, 0xFDE725};

uint8_t channel_of(uint32_t rgb, int c) { return uint8_t(rgb >> (16 - 8 * c)); }

uint32_t pack(double r, double g, double b) {  // each in [0, 255]
  return uint32_t(plot::to_byte(r)) << 16 | uint32_t(plot::to_byte(g)) << 8 | plot::to_byte(b);
}

uint32_t viridis(double t) {
  const double pos = t * double(kViridis.size() - 1);
  const size_t k = std::min(size_t(pos), kViridis.size() - 2);
  const double f = pos - double(k);
  double v[3];
  for (int c = 0; c < 3; ++c)
    v[c] = channel_of(kViridis[k], c) +
           f * (channel_of(kViridis[k + 1], c) - channel_of(kViridis[k], c));
  return pack(v[0], v[1], v[2]);
}

// MATLAB's jet: three overlapping ramps, blue at 0, green at 0.5, red at 1.
uint32_t jet(double t) {
  auto ramp = [&](double centre) {
    return 255 * std::clamp(1.5 - std::abs(4 * t - centre), 0.0, 1.0);
  };
  return pack(ramp(3), ramp(2), ramp(1));
}

void check_map_size(const Map& m) {
  FOVEA_CHECK(m.height >= 1 && m.width >= 1 && m.values.size() == size_t(m.height * m.width),
              "heatmap: a map of [", m.height, ", ", m.width, "] needs ", m.height * m.width,
              " values, got ", m.values.size());
}

void check_map(const Map& m) {
  check_map_size(m);
  const auto bad = std::count_if(m.values.begin(), m.values.end(),
                                 [](double v) { return !std::isfinite(v); });
  FOVEA_CHECK(bad == 0, "heatmap: the map [", m.height, ", ", m.width, "] has ", bad,
              " non-finite values (NaN or infinity); a picture would hide them");
}

// Output index -> the two input taps and the weight of the second (align_corners=False).
struct Taps {
  int64_t i0, i1;
  double w1;
};
Taps taps(int64_t out_index, int64_t in, int64_t out) {
  const double src = std::max(0.0, (double(out_index) + 0.5) * double(in) / double(out) - 0.5);
  const int64_t i0 = std::min(int64_t(src), in - 1);
  return {i0, std::min(i0 + 1, in - 1), std::clamp(src - double(i0), 0.0, 1.0)};
}

}  // namespace

Colormap parse_colormap(const std::string& name) {
  if (name == "viridis") return Colormap::viridis;
  if (name == "jet") return Colormap::jet;
  FOVEA_FAIL("heatmap: unknown colour map \"", name, "\" (viridis, jet)");
}

uint32_t colour(double t, Colormap map) {
  FOVEA_CHECK(!std::isnan(t), "heatmap: the colour of NaN");
  t = std::clamp(t, 0.0, 1.0);
  return map == Colormap::jet ? jet(t) : viridis(t);
}

Map resize_bilinear(const Map& m, int64_t height, int64_t width) {
  check_map_size(m);
  FOVEA_CHECK(height >= 1 && width >= 1, "heatmap: resize to [", height, ", ", width, "]");
  Map out{height, width, std::vector<double>(size_t(height * width))};
  for (int64_t y = 0; y < height; ++y) {
    const Taps ty = taps(y, m.height, height);
    const double* r0 = &m.values[size_t(ty.i0 * m.width)];
    const double* r1 = &m.values[size_t(ty.i1 * m.width)];
    for (int64_t x = 0; x < width; ++x) {
      const Taps tx = taps(x, m.width, width);
      const double top = (1 - tx.w1) * r0[tx.i0] + tx.w1 * r0[tx.i1];
      const double bottom = (1 - tx.w1) * r1[tx.i0] + tx.w1 * r1[tx.i1];
      out.values[size_t(y * width + x)] = (1 - ty.w1) * top + ty.w1 * bottom;
    }
  }
  return out;
}

plot::Canvas resize_picture(const plot::Canvas& image, int width, int height) {
  FOVEA_CHECK(image.w >= 1 && image.h >= 1, "heatmap: resize of an empty picture");
  plot::Canvas out(width, height);
  for (int c = 0; c < 3; ++c) {
    Map m{image.h, image.w, std::vector<double>(size_t(image.w) * size_t(image.h))};
    for (size_t i = 0; i < m.values.size(); ++i) m.values[i] = image.rgb[3 * i + size_t(c)];
    const Map r = resize_bilinear(m, height, width);
    for (size_t i = 0; i < r.values.size(); ++i)
      out.rgb[3 * i + size_t(c)] = plot::to_byte(r.values[i]);
  }
  return out;
}

std::pair<int, int> display_size(int64_t width, int64_t height, int size) {
  FOVEA_CHECK(width >= 1 && height >= 1 && size >= 1, "heatmap: a picture of ", width, "x",
              height, " at size ", size);
  const double scale = double(size) / double(std::max(width, height));
  return {std::max(1, int(std::lround(scale * double(width)))),
          std::max(1, int(std::lround(scale * double(height))))};
}

void write_picture_png(const std::string& path, const plot::Canvas& image, int size) {
  const auto [w, h] = display_size(image.w, image.h, size);
  plot::save_png(resize_picture(image, w, h), path, "heatmap");
}

plot::Canvas heatmap_picture(const plot::Canvas* image, const Map& map, const HeatmapStyle& s) {
  check_map(map);
  FOVEA_CHECK(s.size >= 8 && s.size <= 8192, "heatmap: size ", s.size, " is not in [8, 8192]");
  FOVEA_CHECK(s.alpha >= 0 && s.alpha <= 1, "heatmap: alpha ", s.alpha, " is not in [0, 1]");
  const bool with_image = image && image->w > 0 && image->h > 0;
  double lo = s.lo, hi = s.hi;
  if (std::isnan(lo)) lo = *std::min_element(map.values.begin(), map.values.end());
  if (std::isnan(hi)) hi = *std::max_element(map.values.begin(), map.values.end());
  FOVEA_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, "heatmap: the value range [",
              lo, ", ", hi, "] is not a finite range with lo <= hi");

  // The picture keeps the source's aspect (the image's, or the map's without one).
  const auto [dw, dh] = with_image ? display_size(image->w, image->h, s.size)
                                   : display_size(map.width, map.height, s.size);
  const Map heat = resize_bilinear(map, dh, dw);
  const plot::Canvas base = with_image ? resize_picture(*image, dw, dh) : plot::Canvas();

  const std::string labels[3] = {plot::number_label(hi), plot::number_label((lo + hi) / 2),
                                 plot::number_label(lo)};
  double label_w = 0;
  for (const auto& l : labels) label_w = std::max(label_w, plot::Canvas::text_width(l));
  const int margin = 10, top = s.title.empty() ? margin : 34, bar_x = margin + dw + 12, bar_w = 16;
  plot::Canvas cv(bar_x + bar_w + 6 + int(std::ceil(label_w)) + margin, top + dh + margin);

  auto t_of = [&](double v) { return hi > lo ? (v - lo) / (hi - lo) : 0.5; };
  const double alpha = with_image ? s.alpha : 1.0;
  for (int y = 0; y < dh; ++y)
    for (int x = 0; x < dw; ++x) {
      const size_t i = size_t(y) * size_t(dw) + size_t(x);
      const uint32_t c = colour(t_of(heat.values[i]), s.colormap);
      double v[3];
      for (int k = 0; k < 3; ++k)
        v[k] = alpha * channel_of(c, k) + (with_image ? (1 - alpha) * base.rgb[3 * i + k] : 0);
      cv.dot(margin + x, top + y, pack(v[0], v[1], v[2]));
    }

  const uint32_t ink = 0x222222;
  for (int y = 0; y < dh; ++y)  // top: hi
    cv.rect(bar_x, top + y, bar_x + bar_w, top + y + 1,
            colour(1 - (double(y) + 0.5) / double(dh), s.colormap));
  cv.line(bar_x - 1, top - 1, bar_x + bar_w, top - 1, ink, 1);
  cv.line(bar_x - 1, top + dh, bar_x + bar_w, top + dh, ink, 1);
  cv.line(bar_x - 1, top - 1, bar_x - 1, top + dh, ink, 1);
  cv.line(bar_x + bar_w, top - 1, bar_x + bar_w, top + dh, ink, 1);
  const int label_x = bar_x + bar_w + 6;
  cv.text(label_x, top, labels[0], ink);
  cv.text(label_x, top + dh / 2 - 5, labels[1], ink);
  cv.text(label_x, top + dh - 11, labels[2], ink);
  if (!s.title.empty())
    cv.text((cv.w - plot::Canvas::text_width(s.title, 2)) / 2, 9, s.title, ink, 2);
  return cv;
}

void write_heatmap_png(const std::string& path, const plot::Canvas* image, const Map& map,
                       const HeatmapStyle& style) {
  plot::save_png(heatmap_picture(image, map, style), path, "heatmap");
}

}  // namespace fovea::viz
