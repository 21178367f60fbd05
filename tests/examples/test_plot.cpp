// The PNG line charts examples/train writes: the file decodes to the requested size, and each
// series' colour appears where its points are drawn.
#include <doctest/doctest.h>
#include <stb/stb_image.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/core/error.h"
#include "support/plot.h"

TEST_CASE("plot: line charts are written as a PNG with the series drawn") {
  using namespace fovea::plot;
  const std::string path =
      (std::filesystem::temp_directory_path() / "fovea_test_plot.png").string();
  Series a{"a", {1, 2, 3}, {0.5, 0.25, 0.125}, 0xff0000};
  Series b{"b", {1, 2, 3}, {1, 2, std::nan("")}, 0x0000ff};
  write_line_charts_png(path, {{"loss", "epoch", "loss", {a}}, {"acc", "epoch", "%", {b}}}, 600, 300);
  int w = 0, h = 0, c = 0;
  unsigned char* img = stbi_load(path.c_str(), &w, &h, &c, 3);
  REQUIRE(img != nullptr);
  CHECK(w == 600);
  CHECK(h == 300);
  int red = 0, blue = 0;
  for (int i = 0; i < w * h; ++i) {
    red += img[3 * i] == 255 && img[3 * i + 1] == 0 && img[3 * i + 2] == 0;
    blue += img[3 * i] == 0 && img[3 * i + 1] == 0 && img[3 * i + 2] == 255;
  }
  CHECK(red > 50);   // the first chart's curve
  CHECK(blue > 50);  // the second chart's curve (its NaN point skipped)
  stbi_image_free(img);
  std::remove(path.c_str());
  CHECK_THROWS_AS(write_line_charts_png("/nonexistent-dir/x.png", {{"t", "x", "y", {a}}}),
                  fovea::Error);
}

TEST_CASE("plot: a bar chart has one bar per label and the reference line") {
  using namespace fovea::plot;
  const std::string path =
      (std::filesystem::temp_directory_path() / "fovea_test_bars.png").string();
  BarChart chart{"accuracy", "%", {"plain", "se", "cbam"}, {80, 90, std::nan("")}, 85};
  write_bar_chart_png(path, chart, 500, 300);
  int w = 0, h = 0, c = 0;
  unsigned char* img = stbi_load(path.c_str(), &w, &h, &c, 3);
  REQUIRE(img != nullptr);
  CHECK(w == 500);
  CHECK(h == 300);
  // Bars are 0x1f77b4; per row, count the bar's pixels on the row's middle line.
  auto bar_pixels = [&](int y) {
    int n = 0;
    for (int x = 0; x < w; ++x) {
      const unsigned char* p = img + 3 * (y * w + x);
      n += p[0] == 0x1f && p[1] == 0x77 && p[2] == 0xb4;
    }
    return n;
  };
  const double row = (300 - 50 - 50) / 3.0;
  const int plain = bar_pixels(int(50 + row / 2)), se = bar_pixels(int(50 + row * 1.5)),
            cbam = bar_pixels(int(50 + row * 2.5));
  CHECK(plain > 100);
  CHECK(se > plain);  // 90 is longer than 80 on an axis from 0
  CHECK(cbam == 0);   // NaN: no bar
  int red = 0;
  for (int i = 0; i < w * h; ++i) red += img[3 * i] == 0xd6 && img[3 * i + 1] == 0x27;
  CHECK(red > 20);  // the dashed reference line
  stbi_image_free(img);
  std::remove(path.c_str());
  CHECK_THROWS_AS(write_bar_chart_png(path, {"t", "x", {"a"}, {1, 2}}), fovea::Error);
}
