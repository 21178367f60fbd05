#include "support/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/core/error.h"
#include "support/canvas.h"

namespace fovea::plot {

namespace {

// Round tick spacing (1, 2 or 5 times a power of ten) for about five ticks over [lo, hi].
double tick_step(double lo, double hi) {
  const double raw = (hi - lo) / 5;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}

void draw_chart(Canvas& cv, const Chart& chart, int left, int top, int width, int height) {
  const uint32_t ink = 0x222222, grid = 0xdddddd;
  const int pl = left + 70, pr = left + width - 20, pt = top + 40, pb = top + height - 50;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const Series& s : chart.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) {
        xmin = std::min(xmin, s.x[i]), xmax = std::max(xmax, s.x[i]);
        ymin = std::min(ymin, s.y[i]), ymax = std::max(ymax, s.y[i]);
      }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + 1;
  const double pad = 0.05 * (ymax - ymin);
  ymin -= pad, ymax += pad;
  auto px = [&](double x) { return pl + (x - xmin) / (xmax - xmin) * (pr - pl); };
  auto py = [&](double y) { return pb - (y - ymin) / (ymax - ymin) * (pb - pt); };

  const double ys = tick_step(ymin, ymax);
  for (double y = std::ceil(ymin / ys) * ys; y <= ymax; y += ys) {
    cv.line(pl, py(y), pr, py(y), grid, 1);
    const std::string l = number_label(y);
    cv.text(pl - 8 - Canvas::text_width(l), py(y) - 5, l, ink);
  }
  const double xs = std::max(1.0, tick_step(xmin, xmax));
  for (double x = std::ceil(xmin / xs) * xs; x <= xmax + 1e-9; x += xs) {
    cv.line(px(x), pt, px(x), pb, grid, 1);
    const std::string l = number_label(x);
    cv.text(px(x) - Canvas::text_width(l) / 2, pb + 8, l, ink);
  }
  cv.line(pl, pb, pr, pb, ink, 1);
  cv.line(pl, pt, pl, pb, ink, 1);
  cv.text(left + (width - Canvas::text_width(chart.title, 2)) / 2, top + 10, chart.title, ink, 2);
  cv.text((pl + pr - Canvas::text_width(chart.x_label)) / 2, pb + 28, chart.x_label, ink);
  cv.text(left + 4, pt - 18, chart.y_label, ink);

  for (const Series& s : chart.series) {
    for (size_t i = 1; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.y[i - 1]) && std::isfinite(s.y[i]))
        cv.line(px(s.x[i - 1]), py(s.y[i - 1]), px(s.x[i]), py(s.y[i]), s.rgb);
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.y[i])) cv.rect(int(px(s.x[i])) - 3, int(py(s.y[i])) - 3,
                                         int(px(s.x[i])) + 4, int(py(s.y[i])) + 4, s.rgb);
  }
  // Legend on a white box in the right-hand corner (top or bottom) that covers fewer points,
  // drawn last so curves do not cross it.
  const int box_h = 10 + 18 * int(chart.series.size());
  auto covered = [&](int y0) {
    int n = 0;
    for (const Series& s : chart.series)
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
        n += px(s.x[i]) >= pr - 170 && py(s.y[i]) >= y0 - 10 && py(s.y[i]) <= y0 + box_h + 10;
    return n;
  };
  const int box_y = covered(pt + 1) <= covered(pb - box_h - 1) ? pt + 1 : pb - box_h - 1;
  int legend_y = box_y + 5;
  cv.rect(pr - 158, box_y, pr - 1, box_y + box_h, 0xffffff);
  for (const Series& s : chart.series) {
    cv.rect(pr - 150, legend_y + 3, pr - 130, legend_y + 6, s.rgb);
    cv.text(pr - 124, legend_y, s.label, ink);
    legend_y += 18;
  }
}

// Horizontal bars, one row per label, on a value axis that starts at the smaller of 0 and the
// data; `reference` (when finite) is a dashed vertical line.
void draw_bars(Canvas& cv, const BarChart& chart, int width, int height) {
  const uint32_t ink = 0x222222, grid = 0xdddddd, bar = 0x1f77b4, ref = 0xd62728;
  double label_w = 0;
  for (const auto& l : chart.labels) label_w = std::max(label_w, Canvas::text_width(l));
  const int pl = int(label_w) + 20, pr = width - 70, pt = 50, pb = height - 50;
  double lo = 0, hi = 0;
  for (double v : chart.values)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (std::isfinite(chart.reference)) hi = std::max(hi, chart.reference);
  if (hi == lo) hi = lo + 1;
  auto px = [&](double v) { return pl + (v - lo) / (hi - lo) * (pr - pl); };
  const double xs = tick_step(lo, hi);
  for (double x = std::ceil(lo / xs) * xs; x <= hi + 1e-9; x += xs) {
    cv.line(px(x), pt, px(x), pb, grid, 1);
    const std::string l = number_label(x);
    cv.text(px(x) - Canvas::text_width(l) / 2, pb + 8, l, ink);
  }
  const double row = double(pb - pt) / std::max<size_t>(1, chart.labels.size());
  for (size_t i = 0; i < chart.labels.size() && i < chart.values.size(); ++i) {
    const double y = pt + i * row, v = chart.values[i];
    cv.text(pl - 10 - Canvas::text_width(chart.labels[i]), y + row / 2 - 5, chart.labels[i], ink);
    if (!std::isfinite(v)) continue;
    const int x0 = int(px(std::min(0.0, v))), x1 = int(px(std::max(0.0, v)));
    cv.rect(x0, int(y + row * 0.15), std::max(x1, x0 + 1), int(y + row * 0.85), bar);
    cv.text(x1 + 4, y + row / 2 - 5, number_label(v), ink);
  }
  if (std::isfinite(chart.reference))
    for (int y = pt; y < pb; y += 8) cv.line(px(chart.reference), y, px(chart.reference), y + 4, ref);
  cv.line(px(lo), pb, px(hi), pb, ink, 1);
  cv.line(pl, pt, pl, pb, ink, 1);
  cv.text((width - Canvas::text_width(chart.title, 2)) / 2, 12, chart.title, ink, 2);
  cv.text((pl + pr - Canvas::text_width(chart.x_label)) / 2, pb + 28, chart.x_label, ink);
}

}  // namespace

void write_bar_chart_png(const std::string& path, const BarChart& chart, int width, int height) {
  FOVEA_CHECK(!chart.labels.empty() && chart.labels.size() == chart.values.size() && width > 0 &&
                  height > 0,
              "plot: a bar chart needs one value per label (", chart.labels.size(), " labels, ",
              chart.values.size(), " values) for ", path);
  Canvas cv(width, height);
  draw_bars(cv, chart, width, height);
  save_png(cv, path);
}

void write_line_charts_png(const std::string& path, const std::vector<Chart>& charts, int width,
                           int height) {
  FOVEA_CHECK(!charts.empty() && width > 0 && height > 0, "plot: nothing to draw into ", path);
  Canvas cv(width, height);
  const int each = width / int(charts.size());
  for (size_t i = 0; i < charts.size(); ++i) draw_chart(cv, charts[i], int(i) * each, 0, each, height);
  save_png(cv, path);
}

}  // namespace fovea::plot
