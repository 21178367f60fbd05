// Heat maps (examples/support/heatmap.h): the colour maps' known colours and range, bilinear
// resizing as PyTorch's F.interpolate(align_corners=False) does it, a known map giving known
// pixels with and without an image under it, the colour bar, the picture's size, the PNG, and
// bad maps and styles as errors.
#include <doctest/doctest.h>
#include <stb/stb_image.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "support/heatmap.h"
#include "support/png_size.h"
#include "support/temp_files.h"

using namespace fovea;
using viz::Colormap;
using viz::Map;

namespace {

uint32_t luminance_x1000(uint32_t c) {
  return 299 * (c >> 16 & 255) + 587 * (c >> 8 & 255) + 114 * (c & 255);
}

// An 8x8 map whose value is its column, drawn at 8 pixels: the picture holds the map unresized.
Map columns8() {
  Map m{8, 8, std::vector<double>(64)};
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) m.values[size_t(y * 8 + x)] = x;
  return m;
}

}  // namespace

TEST_CASE("heatmap: the colour maps' ends, middle, clamping and rising lightness") {
  CHECK(viz::colour(0, Colormap::viridis) == 0x440154);
  CHECK(viz::colour(0.5, Colormap::viridis) == 0x21908C);
  CHECK(viz::colour(1, Colormap::viridis) == 0xFDE725);
  CHECK(viz::colour(-3, Colormap::viridis) == 0x440154);  // clamped
  CHECK(viz::colour(7, Colormap::viridis) == 0xFDE725);
  CHECK(viz::colour(0, Colormap::jet) == 0x000080);    // dark blue
  CHECK(viz::colour(0.5, Colormap::jet) == 0x80FF80);  // green
  CHECK(viz::colour(1, Colormap::jet) == 0x800000);    // dark red
  // viridis gets lighter all the way up: a reader can order values in grey.
  uint32_t previous = 0;
  for (int i = 0; i <= 50; ++i) {  // steps wide enough that rounding cannot reverse them
    const uint32_t l = luminance_x1000(viz::colour(i / 50.0, Colormap::viridis));
    CAPTURE(i);
    CHECK(l >= previous);
    previous = l;
  }
  CHECK_THROWS_WITH_AS(viz::colour(std::nan(""), Colormap::viridis), doctest::Contains("NaN"),
                       Error);
  CHECK(viz::parse_colormap("jet") == Colormap::jet);
  CHECK_THROWS_WITH_AS(viz::parse_colormap("hot"), doctest::Contains("viridis, jet"), Error);
}

TEST_CASE("heatmap: bilinear resizing matches F.interpolate with align_corners=False") {
  // torch.nn.functional.interpolate(torch.tensor([[[[0., 1], [2, 3]]]]), size=(4, 4),
  // mode="bilinear", align_corners=False): the output pixel centres sample the input at
  // 0, 0.25, 0.75 and 1 (clamped at the edges), so out[y][x] = 2 e[y] + e[x].
  const Map up = viz::resize_bilinear(Map{2, 2, {0, 1, 2, 3}}, 4, 4);
  const double e[4] = {0, 0.25, 0.75, 1};
  REQUIRE(up.values.size() == 16);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x)
      CHECK(up.values[size_t(y * 4 + x)] == doctest::Approx(2 * e[y] + e[x]));
  // Down by 2: each output averages a 2x2 block (v = 4 y + x).
  Map m{4, 4, {}};
  for (int i = 0; i < 16; ++i) m.values.push_back(i);
  const Map down = viz::resize_bilinear(m, 2, 2);
  CHECK(down.values == std::vector<double>{2.5, 4.5, 10.5, 12.5});
  // Same size: unchanged; and the two axes scale independently (1x3 -> 2x6).
  CHECK(viz::resize_bilinear(m, 4, 4).values == m.values);
  const Map wide = viz::resize_bilinear(Map{1, 3, {0, 3, 6}}, 2, 6);
  const std::vector<double> row = {0, 0.75, 2.25, 3.75, 5.25, 6};
  CHECK(wide.values == std::vector<double>{row[0], row[1], row[2], row[3], row[4], row[5], row[0],
                                           row[1], row[2], row[3], row[4], row[5]});
  // A ratio that is not whole: 1x3 -> 1x7 samples at (x + 0.5) 3/7 - 0.5.
  const Map seven = viz::resize_bilinear(Map{1, 3, {0, 1, 2}}, 1, 7);
  const double want7[7] = {0, 1.0 / 7, 4.0 / 7, 1, 10.0 / 7, 13.0 / 7, 2};
  for (int x = 0; x < 7; ++x) CHECK(seven.values[size_t(x)] == doctest::Approx(want7[x]));
  CHECK_THROWS_AS(viz::resize_bilinear(Map{2, 2, {0, 1, 2}}, 4, 4), Error);
  CHECK_THROWS_AS(viz::resize_bilinear(m, 0, 4), Error);
}

TEST_CASE("heatmap: a known map gives known pixels, over an image and alone") {
  viz::HeatmapStyle style;
  style.size = 8;
  const int margin = 10, top = 10;  // no title
  const Map map = columns8();

  // Alone: each pixel is the colour of its column's place in [0, 7].
  plot::Canvas alone = viz::heatmap_picture(nullptr, map, style);
  CHECK(alone.h == top + 8 + margin);
  CHECK(alone.w > margin + 8 + 12 + 16);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) {
      CAPTURE(x);
      CHECK(alone.at(margin + x, top + y) == viz::colour(x / 7.0, Colormap::viridis));
    }
  // The colour bar: hi at the top row, lo at the bottom, sampled at the rows' centres.
  const int bar_x = margin + 8 + 12;
  CHECK(alone.at(bar_x + 8, top) == viz::colour(1 - 0.5 / 8, Colormap::viridis));
  CHECK(alone.at(bar_x + 8, top + 7) == viz::colour(0.5 / 8, Colormap::viridis));

  // Over a uniform image: alpha 0 shows the image, alpha 1 the map, alpha 0.5 the rounded mean
  // (column 0: 0x440154 and 0x204060 give (68+32)/2, (1+64)/2 = 32.5 -> 33, (84+96)/2).
  plot::Canvas image(8, 8);
  image.rect(0, 0, 8, 8, 0x204060);
  style.alpha = 0;
  CHECK(viz::heatmap_picture(&image, map, style).at(margin + 3, top + 3) == 0x204060);
  style.alpha = 1;
  CHECK(viz::heatmap_picture(&image, map, style).at(margin + 7, top + 3) == 0xFDE725);
  style.alpha = 0.5;
  CHECK(viz::heatmap_picture(&image, map, style).at(margin, top + 5) == 0x32215A);

  // A given range: 7 sits in the middle of [0, 14]; a flat map is the middle colour.
  style.alpha = 1;
  style.lo = 0, style.hi = 14;
  CHECK(viz::heatmap_picture(nullptr, map, style).at(margin + 7, top) == 0x21908C);
  style.lo = style.hi = NAN;
  const Map flat{2, 2, {5, 5, 5, 5}};
  CHECK(viz::heatmap_picture(nullptr, flat, style).at(margin + 4, top + 4) == 0x21908C);
}

TEST_CASE("heatmap: display sizes keep the aspect, the longer side at the size asked") {
  CHECK(viz::display_size(32, 16, 64) == std::pair<int, int>{64, 32});
  CHECK(viz::display_size(2, 3, 32) == std::pair<int, int>{21, 32});  // 21.33 rounds down
  CHECK(viz::display_size(3, 2, 32) == std::pair<int, int>{32, 21});
  CHECK(viz::display_size(1, 1000, 8) == std::pair<int, int>{1, 8});  // never 0 wide
  CHECK_THROWS_AS(viz::display_size(0, 4, 8), Error);
}

TEST_CASE("heatmap: the picture keeps the image's aspect and its title, and is written as PNG") {
  viz::HeatmapStyle style;
  style.size = 64;
  style.title = "layer1.0.cbam";
  plot::Canvas image(32, 16);  // 32 wide, 16 high
  const plot::Canvas cv = viz::heatmap_picture(&image, columns8(), style);
  CHECK(cv.h == 34 + 32 + 10);  // title band, 64 * 16 / 32 rows, margin
  test::TempDir dir;
  const std::string path = dir.file("heatmap.png");
  viz::write_heatmap_png(path, &image, columns8(), style);
  int w = 0, h = 0, c = 0;
  unsigned char* png = stbi_load(path.c_str(), &w, &h, &c, 3);
  REQUIRE(png != nullptr);
  CHECK(w == cv.w);
  CHECK(h == cv.h);
  CHECK(std::vector<unsigned char>(png, png + size_t(w) * size_t(h) * 3) == cv.rgb);
  stbi_image_free(png);
  // The input picture beside the maps: the same scale.
  viz::write_picture_png(dir.file("input.png"), image, 64);
  CHECK(test::png_size(dir.file("input.png")) == std::pair<int, int>{64, 32});
  CHECK_THROWS_AS(viz::write_heatmap_png("/nonexistent-dir/x.png", nullptr, columns8(), style),
                  Error);
}

TEST_CASE("heatmap: bad maps and styles are errors naming them") {
  viz::HeatmapStyle style;
  Map nan_map = columns8();
  nan_map.values[3] = std::nan("");
  nan_map.values[9] = INFINITY;
  CHECK_THROWS_WITH_AS(viz::heatmap_picture(nullptr, nan_map, style),
                       doctest::Contains("has 2 non-finite values"), Error);
  CHECK_THROWS_WITH_AS(viz::heatmap_picture(nullptr, Map{2, 3, {1, 2}}, style),
                       doctest::Contains("[2, 3] needs 6 values, got 2"), Error);
  CHECK_THROWS_AS(viz::heatmap_picture(nullptr, Map{0, 0, {}}, style), Error);
  style.alpha = 1.5;
  CHECK_THROWS_WITH_AS(viz::heatmap_picture(nullptr, columns8(), style),
                       doctest::Contains("alpha"), Error);
  style.alpha = 0.5;
  style.lo = 3, style.hi = 1;
  CHECK_THROWS_WITH_AS(viz::heatmap_picture(nullptr, columns8(), style),
                       doctest::Contains("lo <= hi"), Error);
  style.lo = style.hi = NAN;
  style.size = 2;
  CHECK_THROWS_WITH_AS(viz::heatmap_picture(nullptr, columns8(), style),
                       doctest::Contains("size 2"), Error);
}
