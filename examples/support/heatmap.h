// Heat maps: a spatial map (an attention map, a Grad-CAM) drawn as colours over the image it
// belongs to, with a colour bar that states the values, for the pictures of issue 10 (seeing
// inside). A map of any size is resized to the picture with bilinear interpolation, the way
// PyTorch's F.interpolate(mode="bilinear", align_corners=False) resizes (Grad-CAM's upsampling),
// so a pixel centre x of the output samples the input at (x + 0.5) * in / out - 0.5, clamped to
// the edge:
//
//   t     = (v - lo) / (hi - lo), clamped to [0, 1]     (hi == lo, a flat map: t = 0.5)
//   pixel = round((1 - alpha) * image + alpha * colour(t)), per channel
//
// lo and hi are the map's smallest and largest values unless the style gives them (so that
// several maps can share one scale). A map with a NaN or an infinity is an error that counts
// them: a picture would hide them.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "support/canvas.h"

namespace fovea::viz {

// viridis: perceptually uniform, dark blue (low) to yellow (high), readable in grey; jet: the
// blue-to-red map of the Grad-CAM and CBAM papers' pictures.
enum class Colormap { viridis, jet };
Colormap parse_colormap(const std::string& name);  // "viridis" or "jet"; other names: an error

// 0xRRGGBB of `t` in [0, 1] (clamped; NaN is an error).
uint32_t colour(double t, Colormap map);

// A 2-D field of values, row-major [height, width].
struct Map {
  int64_t height = 0, width = 0;
  std::vector<double> values;
};

// `map` resized to [height, width] (align_corners=False); any sizes >= 1, up or down.
Map resize_bilinear(const Map& map, int64_t height, int64_t width);

// `image` resized to width x height, each channel as resize_bilinear resizes a map.
plot::Canvas resize_picture(const plot::Canvas& image, int width, int height);

// {width, height} of a picture of a width x height source whose longer side is `size` pixels
// (the other rounded, at least 1): every picture of one run is drawn at one scale.
std::pair<int, int> display_size(int64_t width, int64_t height, int size);

// `image` at display_size(..., size), written as a PNG at `path`: the input beside its maps.
void write_picture_png(const std::string& path, const plot::Canvas& image, int size);

struct HeatmapStyle {
  Colormap colormap = Colormap::viridis;
  double alpha = 0.5;            // the map's weight over the image, in [0, 1]
  double lo = NAN, hi = NAN;     // the value range; NaN: the map's own smallest / largest value
  std::string title;             // drawn above the picture (empty: none)
  int size = 256;                // pixels of the picture's longer side
};

// The picture: `image` (the input, any size; null or empty: the map alone, alpha ignored) and
// the map resized to style.size on the longer side, the map over the image, the colour bar on
// the right with lo, the middle and hi written beside it, the title above.
plot::Canvas heatmap_picture(const plot::Canvas* image, const Map& map, const HeatmapStyle& style);

// heatmap_picture() as a PNG at `path` (replaced atomically).
void write_heatmap_png(const std::string& path, const plot::Canvas* image, const Map& map,
                       const HeatmapStyle& style);

}  // namespace fovea::viz
