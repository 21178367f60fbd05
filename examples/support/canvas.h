// A white RGB picture to draw on, shared by the examples' PNG pictures (support/plot.h's charts,
// support/heatmap.h's heat maps): pixels, filled rectangles, thick lines, text drawn with
// stb_easy_font (Debian's libstb-dev), and a PNG writer (stb_image_write) that replaces the file
// atomically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fovea::plot {

struct Canvas {
  int w = 0, h = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes a pixel

  Canvas() = default;
  Canvas(int width, int height);  // white

  uint32_t at(int x, int y) const;         // 0xRRGGBB
  void dot(int x, int y, uint32_t rgb);    // outside the picture: nothing
  void rect(int x0, int y0, int x1, int y1, uint32_t rgb);  // [x0, x1) x [y0, y1)
  // A line `thick` pixels wide, by stepping along its longer axis.
  void line(double x0, double y0, double x1, double y1, uint32_t rgb, int thick = 2);
  void text(double x, double y, const std::string& s, uint32_t rgb, double scale = 1.5);
  static double text_width(const std::string& s, double scale = 1.5);
};

// A colour channel from a value on the byte scale: rounded, and clamped to [0, 255].
uint8_t to_byte(double v);

// A number for an axis or a colour bar: 3 significant digits, 2 in scientific notation for
// magnitudes >= 1000 or < 0.01, and 0 for what rounding left near it.
std::string number_label(double v);

// Encodes `canvas` as a PNG and replaces `path` with it; `who` names the program part in errors.
void save_png(const Canvas& canvas, const std::string& path, const std::string& who = "plot");

}  // namespace fovea::plot
