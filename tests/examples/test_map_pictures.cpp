// Pictures of attention maps (examples/support/map_pictures.h): each layout the modules record
// read as the header says, on maps whose pictures are known: spatial maps and their means,
// row and column profiles, attention rows of a query, per-position weights (and the first map
// when their mean is flat), channel weights, matrices, single values; the PNGs; the errors.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/fovea.h"
#include "support/map_pictures.h"
#include "support/png_size.h"
#include "support/temp_files.h"

using namespace fovea;
using viz::MapKind;

namespace {

constexpr int64_t H = 2, W = 3, L = H * W;

Tensor t(const std::vector<double>& v, const Shape& shape) {
  return from_values(v, shape, DType::Float64);
}

}  // namespace

TEST_CASE("map pictures: spatial maps, their means and row or column profiles") {
  const viz::MapPicture one = viz::picture_of_map(t({0, 1, 2, 3, 4, 5}, {1, 1, H, W}), H, W);
  CHECK(one.kind == MapKind::spatial);
  CHECK(one.map.values == std::vector<double>{0, 1, 2, 3, 4, 5});
  CHECK(one.how.empty());
  // Two groups (SGE): their mean.
  const viz::MapPicture two =
      viz::picture_of_map(t({0, 1, 2, 3, 4, 5, 2, 3, 4, 5, 6, 7}, {1, 2, H, W}), H, W);
  CHECK(two.map.values == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(two.how == "mean over 2 maps");
  // A row profile [C, H, 1] (Coordinate Attention's "h"): the same along each row.
  const viz::MapPicture rows = viz::picture_of_map(t({1, 3, 3, 5}, {1, 2, H, 1}), H, W);
  CHECK(rows.map.values == std::vector<double>{2, 2, 2, 4, 4, 4});
  CHECK(rows.how == "mean over 2 maps, the same along each row");
  const viz::MapPicture cols = viz::picture_of_map(t({1, 2, 3}, {1, 1, 1, W}), H, W);
  CHECK(cols.map.values == std::vector<double>{1, 2, 3, 1, 2, 3});
}

TEST_CASE("map pictures: attention rows of a query, per-position weights, flat means") {
  // [L, L] with row q = i * 10 + j: the query's row, over the positions.
  std::vector<double> m(size_t(L * L));
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = 0; j < L; ++j) m[size_t(i * L + j)] = double(i * 10 + j);
  const viz::MapPicture centre = viz::picture_of_map(t(m, {1, L, L}), H, W);  // (1, 1): row 4
  CHECK(centre.kind == MapKind::spatial);
  CHECK(centre.map.values == std::vector<double>{40, 41, 42, 43, 44, 45});
  CHECK(centre.how == "attention of position (1, 1)");
  const viz::MapPicture corner = viz::picture_of_map(t(m, {1, L, L}), H, W, 0, 2);  // row 2
  CHECK(corner.map.values == std::vector<double>{20, 21, 22, 23, 24, 25});
  // Two heads (MHSA): the mean of their rows.
  std::vector<double> heads = m;
  for (double v : m) heads.push_back(v + 2);
  CHECK(viz::picture_of_map(t(heads, {1, 2, L, L}), H, W).map.values ==
        std::vector<double>{41, 42, 43, 44, 45, 46});
  CHECK_THROWS_WITH_AS(viz::picture_of_map(t(m, {1, L, L}), H, W, 2, 0),
                       doctest::Contains("query (2, 0) is outside the 2x3 positions"), Error);
  // [K, L] weights (External Attention's slots): the mean; when every position's weights sum
  // to 1 over K the mean is flat, and the first slot's map is shown instead.
  CHECK(viz::picture_of_map(t({0, 2, 4, 6, 8, 10, 2, 2, 2, 2, 2, 2}, {1, 2, L}), H, W)
            .map.values == std::vector<double>{1, 2, 3, 4, 5, 6});
  const viz::MapPicture slots =
      viz::picture_of_map(t({0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4},
                            {1, 2, L}),
                          H, W);
  CHECK(slots.map.values == std::vector<double>{0.1, 0.2, 0.3, 0.4, 0.5, 0.6});
  CHECK(slots.how == "map 0 of 2 maps (their mean is flat)");
  // Maps that differ by a constant only (each flat): their flat mean is the picture.
  const viz::MapPicture constant =
      viz::picture_of_map(t({0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8},
                            {1, 2, L}),
                          H, W);
  CHECK(constant.map.values == std::vector<double>(6, 0.5));
  CHECK(constant.how == "mean over 2 maps");
}

TEST_CASE("map pictures: channel weights, matrices, single values and bad maps") {
  // [C, 1, 1] (SE, ECA, PSA) and [C] (CBAM) with C = L = 6: channel weights, never spatial.
  const viz::MapPicture se = viz::picture_of_map(t({1, 2, 3, 4, 5, 6}, {1, L, 1, 1}), H, W);
  CHECK(se.kind == MapKind::channel);
  CHECK(se.weights == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(viz::picture_of_map(t({1, 2, 3, 4, 5, 6}, {1, L}), H, W).kind == MapKind::channel);
  // SK's branch weights [M, C, 1, 1]: a matrix.
  const viz::MapPicture sk =
      viz::picture_of_map(t({1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 4, 1, 1}), H, W);
  CHECK(sk.kind == MapKind::matrix);
  CHECK(sk.map.height == 2);
  CHECK(sk.map.width == 4);
  // One value (BA2M's per-image weight).
  const viz::MapPicture one = viz::picture_of_map(t({0.25}, {1}), H, W);
  CHECK(one.kind == MapKind::value);
  CHECK(one.how == "one value: 0.25");
  // Groups folded into the batch (Shuffle Attention, 2 groups): one more leading axis.
  const viz::MapPicture groups =
      viz::picture_of_map(t({0, 1, 2, 3, 4, 5, 2, 3, 4, 5, 6, 7}, {2, 1, H, W}), H, W);
  CHECK(groups.map.values == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(groups.how == "mean over 2 maps");
  CHECK(viz::picture_of_map(t({1, 2, 3, 4}, {2, 2, 1, 1}), H, W).kind == MapKind::matrix);
  CHECK_THROWS_AS(viz::picture_of_map(t({1}, {1}), 0, W), Error);
  CHECK_THROWS_WITH_AS(viz::picture_of_map(Tensor(), H, W), doctest::Contains("undefined"), Error);
  CHECK_THROWS_WITH_AS(viz::picture_of_map(t({}, {1, 0}), H, W), doctest::Contains("got [1, 0]"),
                       Error);
}

TEST_CASE("map pictures: each kind is written as a PNG and a single value is refused") {
  test::TempDir tmp;
  const std::string dir = tmp.path.string();
  viz::HeatmapStyle style;
  style.size = 32;
  plot::Canvas image(W, H);
  const auto size_of = [](const std::string& path) { return test::png_size(path); };
  const std::string spatial = dir + "/spatial.png";
  viz::write_map_png(spatial, viz::picture_of_map(t({0, 1, 2, 3, 4, 5}, {1, 1, H, W}), H, W),
                     &image, "spatial", style);
  CHECK(size_of(spatial).second == 34 + 32 * H / W + 10);  // the image's aspect, under a title
  const std::string bars = dir + "/bars.png";
  viz::write_map_png(bars, viz::picture_of_map(t({1, 2, 3, 4}, {1, 4}), H, W), nullptr, "se",
                     style);
  CHECK(size_of(bars) == std::pair<int, int>{600, 110 + 14 * 4});
  const std::string matrix = dir + "/matrix.png";
  viz::write_map_png(matrix, viz::picture_of_map(t({1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 4}), H, W),
                     nullptr, "sk", style);
  CHECK(size_of(matrix).second == 34 + 16 + 10);  // 2 x 4 drawn 32 wide
  // 100 channels: the 64 largest as bars.
  std::vector<double> hundred(100);
  for (int i = 0; i < 100; ++i) hundred[size_t(i)] = i % 7;
  const std::string many = dir + "/many.png";
  viz::write_map_png(many, viz::picture_of_map(t(hundred, {1, 100}), H, W), nullptr, "wide",
                     style);
  CHECK(size_of(many) == std::pair<int, int>{600, 110 + 14 * 64});
  CHECK_THROWS_WITH_AS(viz::write_map_png(dir + "/x.png", viz::picture_of_map(t({2}, {1}), H, W),
                                          nullptr, "ba2m.weight", style),
                       doctest::Contains("is one value"), Error);
}
