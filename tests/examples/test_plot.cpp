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
