// InMemoryDataset (conversion and normalisation of uint8 images) and DataLoader (batch shapes,
// drop_last, shuffling that is a permutation and deterministic per seed and epoch; background
// workers: the same batches for any worker count, errors rethrown on the consumer, early exit).
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <set>
#include <thread>

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
  CHECK_THROWS_WITH_AS(loader.batch(loader.order(0), 3, 0),
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

namespace {

// Wraps a dataset to watch the loader: counts get_batch calls, records the OpenMP team size it
// was called with, sleeps 0-3 ms (a function of the batch) so that workers finish out of order,
// and fails on a poisoned index.
class Probe : public Dataset {
 public:
  explicit Probe(std::shared_ptr<const Dataset> inner, int64_t poison = -1)
      : inner_(std::move(inner)), poison_(poison) {}
  int64_t size() const override { return inner_->size(); }
  Example get(int64_t i) const override { return inner_->get(i); }
  int64_t num_classes() const override { return inner_->num_classes(); }
  ImageShape image_shape() const override { return inner_->image_shape(); }
  Batch get_batch(const std::vector<int64_t>& indices, EpochKey key = {}) const override {
    ++calls;
    omp_threads = get_num_threads();  // 1 inside a worker (a SerialRegion)
    for (int64_t i : indices) FOVEA_CHECK(i != poison_, "probe: example ", i, " is broken");
    std::this_thread::sleep_for(
        std::chrono::microseconds((indices[0] * 7919 + key.epoch * 104729) % 3000));
    return inner_->get_batch(indices, key);
  }
  mutable std::atomic<int> calls{0}, omp_threads{0};

 private:
  std::shared_ptr<const Dataset> inner_;
  int64_t poison_;
};

std::shared_ptr<TransformedDataset> augmented(int64_t n) {
  return std::make_shared<TransformedDataset>(
      make_dataset(n), Pipeline().random_crop(2, 1).horizontal_flip().normalize({0.5}, {0.2}));
}

// Every batch of `epochs` passes, images and labels, as host vectors.
std::vector<std::vector<float>> run_epochs(DataLoader& loader, int epochs) {
  std::vector<std::vector<float>> out;
  for (int e = 0; e < epochs; ++e)
    for (const Batch& b : loader) {
      out.push_back(b.images.to_vector<float>());
      const std::vector<int64_t> l = b.labels.to_vector<int64_t>();
      out.emplace_back(l.begin(), l.end());
    }
  return out;
}

}  // namespace

TEST_CASE("DataLoader: batches are identical for 0, 1 and 3 workers") {
  auto ds = std::make_shared<Probe>(augmented(50));
  for (bool drop_last : {false, true}) {
    CAPTURE(drop_last);
    LoaderOptions o{.batch_size = 7, .shuffle = true, .drop_last = drop_last, .seed = 3};
    DataLoader serial(ds, o);
    const std::vector<std::vector<float>> want = run_epochs(serial, 2);
    CHECK(want.size() == 2 * 2 * size_t(drop_last ? 7 : 8));
    for (int workers : {1, 3}) {
      for (int prefetch : {1, 2}) {
        CAPTURE(workers);
        CAPTURE(prefetch);
        o.num_workers = workers;
        o.prefetch = prefetch;
        DataLoader threaded(ds, o);
        CHECK(run_epochs(threaded, 2) == want);
      }
    }
  }
  // A resumed run (set_epoch) sees the same augmented batches as the run that got there.
  DataLoader a(ds, {.batch_size = 8, .shuffle = true, .seed = 5, .num_workers = 2});
  run_epochs(a, 2);
  const auto third = run_epochs(a, 1);
  DataLoader b(ds, {.batch_size = 8, .shuffle = true, .seed = 5});
  b.set_epoch(2);
  CHECK(run_epochs(b, 1) == third);
  CHECK(run_epochs(b, 1) != third);  // and the next epoch differs
}

TEST_CASE("DataLoader: an exception in a worker reaches the consumer with its message") {
  auto ds = std::make_shared<Probe>(make_dataset(30), /*poison=*/13);
  for (int workers : {0, 1, 3}) {
    CAPTURE(workers);
    DataLoader loader(ds, {.batch_size = 4, .num_workers = workers});
    int64_t delivered = 0;
    auto consume = [&] {
      for (const Batch& b : loader) delivered += b.size();
    };
    CHECK_THROWS_WITH_AS(consume(), "probe: example 13 is broken", Error);
    CHECK(delivered == 12);  // batches 0-2 arrive, in order, before batch 3 fails
  }
}

TEST_CASE("DataLoader: leaving the loop early stops and joins the workers") {
  auto ds = std::make_shared<Probe>(make_dataset(200));
  DataLoader loader(ds, {.batch_size = 2, .num_workers = 2, .prefetch = 2});
  int taken = 0;
  for (const Batch& b : loader) {
    CHECK(b.size() == 2);
    if (++taken == 3) break;
  }
  // At most the 3 taken and a window of 2 workers x 2 batches were ever started...
  const int calls = ds->calls;
  CHECK(calls <= 3 + 4);
  // ... and nothing runs any more.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  CHECK(ds->calls == calls);

  // The same when the loop body throws.
  ds->calls = 0;
  CHECK_THROWS_WITH_AS(
      [&] {
        for (const Batch& b : loader) FOVEA_CHECK(b.size() == 0, "the loop body gives up");
      }(),
      "the loop body gives up", Error);
  const int after_throw = ds->calls;
  CHECK(after_throw <= 1 + 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  CHECK(ds->calls == after_throw);

  // The loader carries on with the next epoch.
  int64_t seen = 0;
  for (const Batch& b : loader) seen += b.size();
  CHECK(seen == 200);
}

TEST_CASE("DataLoader: workers run a dataset's OpenMP code on one thread and options are checked") {
  // The suite runs on one thread; three make the difference visible.
  const int saved = get_num_threads();
  set_num_threads(3);
  auto ds = std::make_shared<Probe>(make_dataset(12));
  DataLoader threaded(ds, {.batch_size = 4, .num_workers = 2});
  run_epochs(threaded, 1);
  CHECK(ds->omp_threads == 1);
  DataLoader serial(ds, {.batch_size = 4});
  run_epochs(serial, 1);
  CHECK(ds->omp_threads == 3);
  set_num_threads(saved);

  CHECK_THROWS_WITH_AS(DataLoader(ds, {.batch_size = 4, .num_workers = -1}),
                       doctest::Contains("DataLoader: num_workers must be >= 0, got -1"), Error);
  CHECK_THROWS_WITH_AS(DataLoader(ds, {.batch_size = 4, .prefetch = 0}),
                       doctest::Contains("DataLoader: prefetch must be >= 1, got 0"), Error);
}
