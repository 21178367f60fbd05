#include "support/canvas.h"

#include <stb/stb_easy_font.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/core/error.h"
#include "engine/io/atomic_file.h"

namespace fovea::plot {

uint8_t to_byte(double v) { return uint8_t(std::lround(std::clamp(v, 0.0, 255.0))); }

Canvas::Canvas(int width, int height)
    : w(width), h(height), rgb(size_t(std::max(width, 0)) * size_t(std::max(height, 0)) * 3, 255) {}

uint32_t Canvas::at(int x, int y) const {
  const uint8_t* p = &rgb[(size_t(y) * size_t(w) + size_t(x)) * 3];
  return uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2];
}

void Canvas::dot(int x, int y, uint32_t c) {
  if (x < 0 || y < 0 || x >= w || y >= h) return;
  uint8_t* p = &rgb[(size_t(y) * size_t(w) + size_t(x)) * 3];
  p[0] = uint8_t(c >> 16), p[1] = uint8_t(c >> 8), p[2] = uint8_t(c);
}

void Canvas::rect(int x0, int y0, int x1, int y1, uint32_t c) {
  for (int y = std::max(y0, 0); y < std::min(y1, h); ++y)
    for (int x = std::max(x0, 0); x < std::min(x1, w); ++x) dot(x, y, c);
}

void Canvas::line(double x0, double y0, double x1, double y1, uint32_t c, int thick) {
  const int steps = int(std::max(std::abs(x1 - x0), std::abs(y1 - y0))) + 1;
  for (int i = 0; i <= steps; ++i) {
    const double t = double(i) / steps;
    const int x = int(std::lround(x0 + t * (x1 - x0))), y = int(std::lround(y0 + t * (y1 - y0)));
    rect(x - thick / 2, y - thick / 2, x - thick / 2 + thick, y - thick / 2 + thick, c);
  }
}

// stb_easy_font emits axis-aligned quads: fill each, scaled.
void Canvas::text(double x, double y, const std::string& s, uint32_t c, double scale) {
  static thread_local char buffer[64 * 1024];
  std::vector<char> str(s.begin(), s.end());
  str.push_back('\0');
  const int quads = stb_easy_font_print(0, 0, str.data(), nullptr, buffer, sizeof buffer);
  for (int q = 0; q < quads; ++q) {
    const float* v = reinterpret_cast<const float*>(buffer + q * 64);  // 4 vertices of 16 bytes
    const double qx0 = v[0], qy0 = v[1], qx1 = v[8], qy1 = v[9];
    rect(int(x + qx0 * scale), int(y + qy0 * scale), int(std::ceil(x + qx1 * scale)),
         int(std::ceil(y + qy1 * scale)), c);
  }
}

double Canvas::text_width(const std::string& s, double scale) {
  std::vector<char> str(s.begin(), s.end());
  str.push_back('\0');
  return stb_easy_font_width(str.data()) * scale;
}

std::string number_label(double v) {
  char buf[32];
  if (std::abs(v) < 1e-12) v = 0;  // accumulated steps land near, not on, zero
  if (std::abs(v) >= 1000 || (std::abs(v) < 0.01 && v != 0))
    std::snprintf(buf, sizeof buf, "%.2g", v);
  else
    std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

void save_png(const Canvas& cv, const std::string& path, const std::string& who) {
  std::string png;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
  };
  const int ok = stbi_write_png_to_func(append, &png, cv.w, cv.h, 3, cv.rgb.data(), cv.w * 3);
  FOVEA_CHECK(ok != 0, who, ": cannot encode ", path);
  io::write_file_atomically(path, {png}, who.c_str());
}

}  // namespace fovea::plot
