// InMemoryDataset (conversion and normalisation of uint8 images) and DataLoader (batch shapes,
// drop_last, shuffling that is a permutation and deterministic per seed and epoch).
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "engine/fovea.h"

using namespace fovea;
using namespace fovea::data;

namespace {

// n images of 2 x 3 x 2; byte k of the whole array is (5 k + 3) mod 256; labels are index mod 5.
std::shared_ptr<InMemoryDataset> make_dataset(int64_t n) {
  std::vector<uint8_t> pixels(static_cast<size_t>(n * 12));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(i * 5 + 3);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[size_t(i)] = i % 5;
  return std::make_shared<InMemoryDataset>(std::move(pixels), std::move(labels),
                                           std::array<int64_t, 3>{2, 3, 2}, 5, "toy");
}

// An epoch's worth of dataset indices, in the order the loader produced them (labels of a
// dataset labelled 0..n-1 are the indices).
std::vector<int64_t> visit(DataLoader& loader) {
  std::vector<int64_t> seen;
  for (const Batch& b : loader) {
    const std::vector<int64_t> l = b.labels.to_vector<int64_t>();
    seen.insert(seen.end(), l.begin(), l.end());
  }
  return seen;
}

std::shared_ptr<InMemoryDataset> indexed_dataset(int64_t n) {
  std::vector<int64_t> labels(static_cast<size_t>(n));
  std::iota(labels.begin(), labels.end(), int64_t(0));
  return std::make_shared<InMemoryDataset>(std::vector<uint8_t>(static_cast<size_t>(n)), std::move(labels),
                                           std::array<int64_t, 3>{1, 1, 1}, n, "indexed");
}

}  // namespace

TEST_CASE("InMemoryDataset: bytes become (byte / 255 - mean) / std per channel") {
  auto ds = make_dataset(4);
  CHECK(ds->size() == 4);
  const Example raw = ds->get(2);
  CHECK(raw.label == 2);
  CHECK(raw.image.shape() == Shape{2, 3, 2});
  CHECK(raw.image.dtype() == DType::Float32);
  CHECK(raw.image.at({1, 2, 1}) == doctest::Approx(uint8_t((24 + 11) * 5 + 3) / 255.0));

  ds->set_normalization({0.5, 0.25}, {0.5, 2.0});
  const Tensor img = ds->get(2).image;
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t i = 0; i < 6; ++i) {
      const double byte = uint8_t((24 + c * 6 + i) * 5 + 3);
      const double want = (byte / 255 - (c == 0 ? 0.5 : 0.25)) / (c == 0 ? 0.5 : 2.0);
      CHECK(img.at({c, i / 2, i % 2}) == doctest::Approx(want).epsilon(1e-6));
    }
  // a single value applies to every channel
  ds->set_normalization({0.1}, {0.2});
  CHECK(ds->get(0).image.at({1, 0, 0}) == doctest::Approx((uint8_t(6 * 5 + 3) / 255.0 - 0.1) / 0.2));

  CHECK_THROWS_WITH_AS(ds->set_normalization({0.1, 0.2, 0.3}, {1}),
                       doctest::Contains("toy: normalisation needs 1 or 2 values for mean and std, "
                                         "got 3 and 1"),
                       Error);
  CHECK_THROWS_WITH_AS(ds->set_normalization({0}, {0}), doctest::Contains("toy: std must be positive"),
                       Error);
  CHECK_THROWS_WITH_AS(ds->get(4), doctest::Contains("toy: index 4 is out of range for 4 examples"),
                       Error);
}

TEST_CASE("InMemoryDataset: channel statistics and construction checks") {
  // channel 0 holds 0 and 255 (mean 0.5, std 0.5), channel 1 holds 51 everywhere (0.2, 0)
  std::vector<uint8_t> px{0, 255, 51, 51, 255, 0, 51, 51};
  InMemoryDataset ds(px, {0, 1}, {2, 1, 2}, 2, "stats");
  const auto [mean, sd] = ds.channel_stats();
  CHECK(mean[0] == doctest::Approx(0.5));
  CHECK(sd[0] == doctest::Approx(0.5));
  CHECK(mean[1] == doctest::Approx(0.2));
  CHECK(sd[1] == doctest::Approx(0).epsilon(1e-12));

  CHECK_THROWS_WITH_AS(InMemoryDataset(px, {0, 1}, {2, 2, 2}, 2, "bad"),
                       doctest::Contains("bad: 8 pixel bytes do not hold 2 images of [2, 2, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(InMemoryDataset(px, {0, 2}, {2, 1, 2}, 2, "bad"),
                       doctest::Contains("bad: label 2 of example 1 is outside [0, 2)"), Error);
}

TEST_CASE("DataLoader: batch shapes, contents and drop_last") {
  auto ds = make_dataset(10);
  DataLoader loader(ds, 4);
  CHECK(loader.num_batches() == 3);
  CHECK(loader.num_examples() == 10);
  std::vector<int64_t> sizes;
  int64_t seen = 0;
  for (const Batch& b : loader) {
    sizes.push_back(b.size());
    CHECK(b.images.shape() == Shape{b.size(), 2, 3, 2});
    CHECK(b.images.dtype() == DType::Float32);
    CHECK(b.labels.shape() == Shape{b.size()});
    CHECK(b.labels.dtype() == DType::Int64);
    for (int64_t i = 0; i < b.size(); ++i, ++seen) {
      // without shuffling, batch rows are the examples in order and equal get(i)
      CHECK(b.labels.at<int64_t>({i}) == seen % 5);
      CHECK(b.images.select(0, i).to_vector<float>() == ds->get(seen).image.to_vector<float>());
    }
  }
  CHECK(sizes == std::vector<int64_t>{4, 4, 2});
  CHECK(seen == 10);

  DataLoader dropping(ds, 4, false, /*drop_last=*/true);
  CHECK(dropping.num_batches() == 2);
  CHECK(dropping.num_examples() == 8);
  sizes.clear();
  for (const Batch& b : dropping) sizes.push_back(b.size());
  CHECK(sizes == std::vector<int64_t>{4, 4});

  DataLoader exact(ds, 5, false, true);
  CHECK(exact.num_batches() == 2);
  DataLoader one(ds, 100);
  CHECK(one.num_batches() == 1);
  CHECK((*one.begin()).size() == 10);
  CHECK(DataLoader(ds, 100, false, true).num_batches() == 0);

  CHECK_THROWS_WITH_AS(DataLoader(ds, 0), doctest::Contains("DataLoader: batch_size must be positive"),
                       Error);
  CHECK_THROWS_WITH_AS(loader.batch(loader.order(0), 3),
                       doctest::Contains("DataLoader: batch 3 is out of range for 3 batches"), Error);
}

TEST_CASE("DataLoader: shuffling is a permutation, fixed by seed and epoch") {
  auto ds = indexed_dataset(50);
  DataLoader a(ds, 8, /*shuffle=*/true, false, /*seed=*/7);
  DataLoader b(ds, 8, true, false, 7);
  DataLoader c(ds, 8, true, false, 8);

  const std::vector<int64_t> a0 = visit(a), a1 = visit(a);
  CHECK(a.epoch() == 2);
  std::vector<int64_t> sorted = a0;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> all(50);
  std::iota(all.begin(), all.end(), int64_t(0));
  CHECK(sorted == all);                 // every example exactly once
  CHECK(a0 != all);                     // and not in order
  CHECK(a1 != a0);                      // a new order each epoch
  CHECK(visit(b) == a0);                // the same seed repeats it
  CHECK(visit(b) == a1);
  CHECK(visit(c) != a0);                // another seed does not
  CHECK(a.order(0) == a0);
  a.set_epoch(1);                       // a resumed run picks up the same order
  CHECK(visit(a) == a1);

  DataLoader plain(ds, 8);
  CHECK(visit(plain) == all);
  CHECK(visit(plain) == all);
}

TEST_CASE("Dataset: the default get_batch stacks get(i)") {
  // A dataset that only implements get(): images filled with the index, label = 2 * index.
  class Generated : public Dataset {
   public:
    int64_t size() const override { return 5; }
    Example get(int64_t i) const override { return {full({1, 2, 2}, double(i)), 2 * i}; }
    int64_t num_classes() const override { return 10; }
    std::array<int64_t, 3> image_shape() const override { return {1, 2, 2}; }
  };
  DataLoader loader(std::make_shared<Generated>(), 3, true, false, 1);
  const std::vector<int64_t> order = loader.order(0);
  const Batch b = *loader.begin();
  CHECK(b.images.shape() == Shape{3, 1, 2, 2});
  for (int64_t i = 0; i < 3; ++i) {
    CHECK(b.labels.at<int64_t>({i}) == 2 * order[size_t(i)]);
    CHECK(b.images.at({i, 0, 1, 1}) == double(order[size_t(i)]));
  }
}
