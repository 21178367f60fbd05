// Line charts as PNG pictures, for the training curves that examples/train writes (loss and
// accuracy per epoch), and bar charts, for examples/attention_zoo's comparison. Drawn on a
// support/canvas.h picture.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace fovea::plot {

struct Series {
  std::string label;
  std::vector<double> x, y;
  uint32_t rgb = 0x1f77b4;  // 0xRRGGBB
};

struct Chart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
};

// Draws the charts side by side into one PNG of the given size (pixels). Non-finite points are
// skipped. The file is replaced atomically (engine/io/atomic_file.h). Throws fovea::Error if it
// cannot be written.
void write_line_charts_png(const std::string& path, const std::vector<Chart>& charts,
                           int width = 1200, int height = 450);

// Horizontal bars, one per label (top to bottom), each with its value written at its end;
// a finite `reference` draws a dashed vertical line there (the plain network's value).
struct BarChart {
  std::string title, x_label;
  std::vector<std::string> labels;
  std::vector<double> values;  // non-finite: no bar
  double reference = NAN;
};
void write_bar_chart_png(const std::string& path, const BarChart& chart, int width = 900,
                         int height = 700);

}  // namespace fovea::plot
