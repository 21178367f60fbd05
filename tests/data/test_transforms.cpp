// Transforms: hand-checked crops, flips, resizes (against PIL's output) and normalisation;
// torchvision's parameter rules (RandomCrop, RandomResizedCrop and its fallback, CenterCrop,
// Resize); parameters that depend on (seed, epoch, index) only; the Pipeline and its parser;
// TransformedDataset; and the epoch plan that replays it.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "support/fuzz_regressions.h"
#include "support/temp_files.h"
#include "engine/fovea.h"

using namespace fovea;
using namespace fovea::data;

namespace {

// A 1-channel h x w image from row-major values.
Image gray(int64_t h, int64_t w, const std::vector<int>& values) {
  REQUIRE(int64_t(values.size()) == h * w);
  Image img;
  img.reshape(1, h, w);
  for (size_t i = 0; i < values.size(); ++i) img.data[i] = uint8_t(values[i]);
  return img;
}

std::vector<int> ints(const Image& img) { return {img.data.begin(), img.data.end()}; }

// n images of c x h x w with byte (i, k) = (i * 37 + k * 11) mod 256, labels i mod 3.
std::shared_ptr<InMemoryDataset> toy(int64_t n, int64_t c = 3, int64_t h = 6, int64_t w = 5) {
  std::vector<uint8_t> px(size_t(n * c * h * w));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c * h * w; ++k) px[size_t(i * c * h * w + k)] = uint8_t(i * 37 + k * 11);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[size_t(i)] = i % 3;
  return std::make_shared<InMemoryDataset>(std::move(px), std::move(labels), ImageShape{c, h, w}, 3,
                                           "toy");
}

}  // namespace

TEST_CASE("image ops: crop with zero fill outside, flip, and bilinear resize as PIL does it") {
  const Image img = gray(3, 4, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  Image out;
  crop(img, 1, 1, 2, 2, out);
  CHECK(ints(out) == std::vector<int>{6, 7, 10, 11});
  crop(img, -1, -2, 3, 4, out);  // padded by 1 row above and 2 columns on the left
  CHECK(ints(out) == std::vector<int>{0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 5, 6});
  crop(img, 2, 3, 2, 3, out);  // leaves the image at the bottom right
  CHECK(ints(out) == std::vector<int>{12, 0, 0, 0, 0, 0});
  crop(img, 5, 0, 1, 2, out);  // entirely outside
  CHECK(ints(out) == std::vector<int>{0, 0});

  Image two;
  two.reshape(2, 1, 3);
  two.data = {1, 2, 3, 4, 5, 6};
  flip_horizontal(two);
  CHECK(two.data == std::vector<uint8_t>{3, 2, 1, 6, 5, 4});

  // Shrinking [0 100 200 250] to 2: taps (0.75, 0.75, 0.25) / 1.75 around centres 1 and 3.
  resize_bilinear(gray(1, 4, {0, 100, 200, 250}), 0, 0, 1, 4, 1, 2, out);
  CHECK(ints(out) == std::vector<int>{71, 207});
  // Growing [0 100] to 4: plain bilinear with align_corners=False.
  resize_bilinear(gray(1, 2, {0, 100}), 0, 0, 1, 2, 1, 4, out);
  CHECK(ints(out) == std::vector<int>{0, 25, 75, 100});
  // A box of a 4x5 image (byte 12 k at row-major position k) resized to 2x2, and the whole
  // image to 2x3: PIL's Image.crop(box).resize(size, BILINEAR) gives these bytes.
  std::vector<int> ramp(20);
  for (int k = 0; k < 20; ++k) ramp[size_t(k)] = 12 * k;
  resize_bilinear(gray(4, 5, ramp), 1, 1, 3, 3, 2, 2, out);
  CHECK(ints(out) == std::vector<int>{100, 115, 175, 190});
  resize_bilinear(gray(4, 5, ramp), 0, 0, 4, 5, 2, 3, out);
  CHECK(ints(out) == std::vector<int>{48, 67, 86, 142, 161, 180});
  // The same size is the identity.
  resize_bilinear(gray(4, 5, ramp), 0, 0, 4, 5, 4, 5, out);
  CHECK(ints(out) == ramp);

  CHECK_THROWS_WITH_AS(resize_bilinear(img, 2, 0, 2, 4, 2, 2, out),
                       doctest::Contains("resize: box (top 2, left 0, 2x4) is not inside the 3x4 image"),
                       Error);
  CHECK_THROWS_WITH_AS(crop(img, 0, 0, 0, 2, out), doctest::Contains("crop: box size must be positive"),
                       Error);
}

TEST_CASE("RandomCrop: torchvision's draws on the padded image, boxes in input coordinates") {
  const RandomCrop rc(32, 32, 4);
  std::set<std::pair<int64_t, int64_t>> seen;
  for (int64_t i = 0; i < 3000; ++i) {
    Generator gen = sample_generator(5, 0, i);
    const Params p = rc.draw({3, 32, 32}, gen);
    CHECK(p.height == 32);
    CHECK(p.width == 32);
    CHECK(p.top >= -4);
    CHECK(p.top <= 4);
    CHECK(p.left >= -4);
    CHECK(p.left <= 4);
    seen.insert({p.top, p.left});
  }
  CHECK(seen.size() == 81);  // every offset of the 9 x 9 occurs

  // The draws: top = randint(40 - 32 + 1) - 4, then left likewise.
  Generator a = sample_generator(1, 2, 3), b = sample_generator(1, 2, 3);
  const Params p = rc.draw({3, 32, 32}, a);
  CHECK(p.top == b.randint(9) - 4);
  CHECK(p.left == b.randint(9) - 4);

  // Nothing to choose: no draw at all (the generator is untouched), as in torchvision.
  Generator c = sample_generator(1, 2, 3), d = sample_generator(1, 2, 3);
  const Params whole = RandomCrop(6, 6, 1).draw({1, 4, 4}, c);
  CHECK(whole == Params{-1, -1, 6, 6});
  CHECK(c.next_u64() == d.next_u64());

  // apply is the zero-padded crop
  const Image img = gray(3, 4, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  Image in = img, out;
  RandomCrop(2, 3, 1).apply(in, Params{-1, 2, 2, 3}, out);
  CHECK(ints(out) == std::vector<int>{0, 0, 0, 3, 4, 0});

  Generator g;
  CHECK_THROWS_WITH_AS(RandomCrop(40, 40, 2).draw({3, 32, 32}, g),
                       doctest::Contains("random_crop: crop 40x40 is larger than the padded image "
                                         "36x36 (32x32 padded by 2)"),
                       Error);
  CHECK_THROWS_WITH_AS(RandomCrop(0, 3), doctest::Contains("random_crop: size must be positive"), Error);
  CHECK_THROWS_WITH_AS(RandomCrop(3, 3, -1), doctest::Contains("random_crop: padding must be >= 0"),
                       Error);
}

TEST_CASE("RandomResizedCrop: boxes inside the image, scale and ratio honoured, centre fallback") {
  const RandomResizedCrop rrc(56, 56);
  int fallbacks = 0;
  for (int64_t i = 0; i < 2000; ++i) {
    Generator gen = sample_generator(9, 1, i);
    const Params p = rrc.draw({3, 64, 48}, gen);
    CAPTURE(i);
    REQUIRE(p.height >= 1);
    REQUIRE(p.width >= 1);
    CHECK(p.top >= 0);
    CHECK(p.left >= 0);
    CHECK(p.top + p.height <= 64);
    CHECK(p.left + p.width <= 48);
    // sqrt(area * ratio) and sqrt(area / ratio) are rounded, so allow a pixel either way.
    const double area = double(p.height * p.width) / (64 * 48);
    CHECK(double((p.height + 1) * (p.width + 1)) / (64 * 48) >= 0.08);
    CHECK(area <= 1.0);
    CHECK(double(p.width + 1) / double(p.height - 1 > 0 ? p.height - 1 : 1) >= 0.75);
    CHECK(double(p.width - 1) / double(p.height + 1) <= 4.0 / 3.0);
    fallbacks += p.height == 64 && p.width == 48 && p.top == 0;
  }
  CHECK(fallbacks < 20);  // ten failed attempts in a row are rare at these scales

  // The draws of one attempt: area, log ratio, then top and left.
  Generator a = sample_generator(3, 0, 0), b = sample_generator(3, 0, 0);
  const Params p = rrc.draw({3, 64, 64}, a);
  const double target = 4096 * (0.08 + 0.92 * b.uniform());
  const double aspect = std::exp(std::log(0.75) + (std::log(4.0 / 3) - std::log(0.75)) * b.uniform());
  const int64_t w = int64_t(std::nearbyint(std::sqrt(target * aspect)));
  const int64_t h = int64_t(std::nearbyint(std::sqrt(target / aspect)));
  REQUIRE(w <= 64);
  REQUIRE(h <= 64);
  CHECK(p.height == h);
  CHECK(p.width == w);
  CHECK(p.top == b.randint(64 - h + 1));
  CHECK(p.left == b.randint(64 - w + 1));

  // Areas above the image fail all ten attempts: the central box at the nearest allowed ratio.
  const RandomResizedCrop too_big(8, 8, {1.5, 2.0});
  Generator g;
  CHECK(too_big.draw({3, 10, 100}, g) == Params{0, 43, 10, 13});   // wide: w = round(10 * 4/3)
  CHECK(too_big.draw({3, 100, 10}, g) == Params{43, 0, 13, 10});   // tall: h = round(10 / 0.75)
  CHECK(too_big.draw({3, 64, 48}, g) == Params{0, 0, 64, 48});     // ratio 0.75 is allowed

  // apply resizes the box (here the identity: a box of the output size)
  Image in = gray(3, 4, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}), out;
  RandomResizedCrop(2, 2).apply(in, Params{1, 2, 2, 2}, out);
  CHECK(ints(out) == std::vector<int>{7, 8, 11, 12});

  CHECK_THROWS_WITH_AS(RandomResizedCrop(8, 8, {0.5, 0.2}),
                       doctest::Contains("random_resized_crop: scale must satisfy 0 < min <= max"),
                       Error);
  CHECK_THROWS_WITH_AS(RandomResizedCrop(8, 8, {0.08, 1}, {0, 1}),
                       doctest::Contains("random_resized_crop: ratio must satisfy"), Error);
}

TEST_CASE("HorizontalFlip, CenterCrop and Resize follow torchvision") {
  int flips = 0;
  for (int64_t i = 0; i < 2000; ++i) {
    Generator gen = sample_generator(0, 0, i);
    flips += HorizontalFlip(0.5).draw({1, 2, 2}, gen).flip;
  }
  CHECK(flips > 900);
  CHECK(flips < 1100);
  Generator g;
  for (int i = 0; i < 50; ++i) {
    CHECK_FALSE(HorizontalFlip(0.0).draw({1, 2, 2}, g).flip);
    CHECK(HorizontalFlip(1.0).draw({1, 2, 2}, g).flip);
  }
  Image in = gray(2, 3, {1, 2, 3, 4, 5, 6}), out;
  HorizontalFlip().apply(in, Params{0, 0, 0, 0, true}, out);
  CHECK(ints(in) == std::vector<int>{3, 2, 1, 6, 5, 4});  // in place
  HorizontalFlip().apply(in, Params{}, out);
  CHECK(ints(in) == std::vector<int>{3, 2, 1, 6, 5, 4});
  CHECK_THROWS_WITH_AS(HorizontalFlip(1.5), doctest::Contains("horizontal_flip: p must be in [0, 1]"),
                       Error);

  // CenterCrop: offset round((size - crop) / 2) with halves to even; a larger crop pads by
  // (crop - size) / 2 before.
  CHECK(CenterCrop(3, 3).draw({1, 5, 5}, g) == Params{1, 1, 3, 3});
  CHECK(CenterCrop(3, 3).draw({1, 4, 4}, g) == Params{0, 0, 3, 3});  // round(0.5) = 0
  CHECK(CenterCrop(3, 3).draw({1, 6, 6}, g) == Params{2, 2, 3, 3});  // round(1.5) = 2
  CHECK(CenterCrop(5, 2).draw({1, 2, 4}, g) == Params{-1, 1, 5, 2});
  in = gray(2, 2, {1, 2, 3, 4});
  CenterCrop(5, 4).apply(in, CenterCrop(5, 4).draw({1, 2, 2}, g), out);
  CHECK(ints(out) == std::vector<int>{0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0});

  // Resize(size): the shorter side becomes size, the longer int(size * long / short).
  CHECK(Resize(15).output_shape({3, 30, 60}) == ImageShape{3, 15, 30});
  CHECK(Resize(15).output_shape({3, 60, 30}) == ImageShape{3, 30, 15});
  CHECK(Resize(4).output_shape({1, 7, 10}) == ImageShape{1, 4, 5});  // int(5.71)
  CHECK(Resize(4).output_shape({1, 0, 0}) == ImageShape{1, 0, 0});
  CHECK(Resize(3, 7).output_shape({1, 0, 0}) == ImageShape{1, 3, 7});
  std::vector<int> ramp(20);
  for (int k = 0; k < 20; ++k) ramp[size_t(k)] = 12 * k;
  in = gray(4, 5, ramp);
  Resize(2, 3).apply(in, Params{}, out);
  CHECK(ints(out) == std::vector<int>{48, 67, 86, 142, 161, 180});
}

TEST_CASE("Pipeline: normalisation, steps in order, and the command-line parser") {
  Pipeline p = Pipeline().normalize({0.5, 0.25}, {0.5, 2.0});
  Image img;
  img.reshape(2, 1, 2);
  img.data = {0, 255, 51, 102};
  float out[4];
  p.to_float(img, out);
  CHECK(out[0] == doctest::Approx(-1.0));
  CHECK(out[1] == doctest::Approx(1.0));
  CHECK(out[2] == doctest::Approx((0.2 - 0.25) / 2.0));
  CHECK(out[3] == doctest::Approx((0.4 - 0.25) / 2.0));
  Pipeline().to_float(img, out);  // no normalize(): byte / 255
  CHECK(out[3] == doctest::Approx(0.4));
  img.reshape(3, 1, 1);
  CHECK_THROWS_WITH_AS(p.to_float(img, out),
                       doctest::Contains("normalize: 2 values of mean and std for an image of 3 channels"),
                       Error);
  CHECK_THROWS_WITH_AS(Pipeline().normalize({0.1, 0.2}, {1, 1, 1}),
                       doctest::Contains("normalize: mean and std need one value per channel"), Error);
  CHECK_THROWS_WITH_AS(Pipeline().normalize({0.1}, {0}), doctest::Contains("normalize: std must be positive"),
                       Error);

  // transform() draws in step order from one generator and reports what it drew.
  const Pipeline aug = Pipeline::parse("crop:4:1, flip");
  REQUIRE(aug.steps().size() == 2);
  CHECK(aug.describe() ==
        R"([{"name":"random_crop","padding":1,"size":[4,4]},{"name":"horizontal_flip","p":0.5}])");
  CHECK(aug.output_shape({3, 5, 6}) == ImageShape{3, 4, 4});
  Image src = gray(4, 4, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}), scratch;
  for (int64_t i = 0; i < 20; ++i) {
    Generator g1 = sample_generator(0, 0, i), g2 = sample_generator(0, 0, i);
    Image work = src;
    std::vector<Params> drawn;
    const Image& result = aug.transform(work, scratch, g1, &drawn);
    CHECK(drawn == aug.draw({1, 4, 4}, g2));
    Image expect;
    crop(src, drawn[0].top, drawn[0].left, 4, 4, expect);
    if (drawn[1].flip) flip_horizontal(expect);
    CHECK(result.data == expect.data);
  }

  CHECK(Pipeline::parse("").steps().empty());
  CHECK(Pipeline::parse("none").steps().empty());
  const Pipeline all = Pipeline::parse("rrc:56:0.25,hflip:0.3,center:50,resize:40,resize:20x30");
  std::vector<std::string> names;
  for (const auto& s : all.steps()) names.push_back(s->describe());
  CHECK(names == std::vector<std::string>{
                     R"({"antialias":true,"interpolation":"bilinear","name":"random_resized_crop","ratio":[0.75,1.3333333333333333],"scale":[0.25,1.0],"size":[56,56]})",
                     R"({"name":"horizontal_flip","p":0.3})", R"({"name":"center_crop","size":[50,50]})",
                     R"({"antialias":true,"interpolation":"bilinear","name":"resize","size":40})",
                     R"({"antialias":true,"interpolation":"bilinear","name":"resize","size":[20,30]})"});
  CHECK_THROWS_WITH_AS(Pipeline::parse("crop"), doctest::Contains("Pipeline::parse: 'crop' takes 1 to 2 arguments, got 0"),
                       Error);
  CHECK_THROWS_WITH_AS(Pipeline::parse("crop:32,blur"),
                       doctest::Contains("Pipeline::parse: unknown step 'blur' in 'crop:32,blur'"), Error);
  CHECK_THROWS_WITH_AS(Pipeline::parse("crop:3x"), doctest::Contains("'3x' is not a number"), Error);
  CHECK_THROWS_WITH_AS(Pipeline::parse("center:2.5"), doctest::Contains("'2.5' is not an integer"), Error);
}

TEST_CASE("TransformedDataset: each example is a pure function of (seed, epoch, index)") {
  auto src = toy(10);
  const Pipeline aug = Pipeline().random_crop(4, 2).horizontal_flip().normalize({0.5}, {0.25});
  TransformedDataset ds(src, aug);
  CHECK(ds.size() == 10);
  CHECK(ds.image_shape() == ImageShape{3, 4, 4});
  CHECK(ds.num_classes() == 3);

  // A batch row is the example's bytes cropped, flipped and normalised with its own params.
  const EpochKey key{7, 3};
  const std::vector<int64_t> indices{4, 9, 0, 4};
  const Batch b = ds.get_batch(indices, key);
  CHECK(b.images.shape() == Shape{4, 3, 4, 4});
  for (size_t r = 0; r < indices.size(); ++r) {
    const std::vector<Params> p = ds.params(indices[r], key);
    Image raw, expect;
    src->read(indices[r], raw);
    crop(raw, p[0].top, p[0].left, 4, 4, expect);
    if (p[1].flip) flip_horizontal(expect);
    std::vector<float> want(48);
    aug.to_float(expect, want.data());
    CHECK(b.images.select(0, int64_t(r)).to_vector<float>() == want);
    CHECK(b.labels.at<int64_t>({int64_t(r)}) == indices[r] % 3);
  }
  // Not a function of the batch it is in, nor of the thread that built it.
  CHECK(b.images.select(0, 0).to_vector<float>() == b.images.select(0, 3).to_vector<float>());
  CHECK(ds.get(9, key).image.to_vector<float>() == b.images.select(0, 1).to_vector<float>());
  // Another epoch, seed or index draws differently (for some of ten examples at least).
  int differ_epoch = 0, differ_seed = 0;
  for (int64_t i = 0; i < 10; ++i) {
    differ_epoch += !(ds.params(i, key) == ds.params(i, EpochKey{7, 4}));
    differ_seed += !(ds.params(i, key) == ds.params(i, EpochKey{8, 3}));
  }
  CHECK(differ_epoch > 5);
  CHECK(differ_seed > 5);

  CHECK_THROWS_WITH_AS(TransformedDataset(src, Pipeline().normalize({0.1, 0.2}, {1})),
                       doctest::Contains("TransformedDataset: normalisation has 2 values for images "
                                         "of 3 channels"),
                       Error);
  CHECK_THROWS_WITH_AS(ds.get_batch({10}), doctest::Contains("TransformedDataset: index 10 is out of range"),
                       Error);
  // A fixed-size source may be resized by its shorter side; a source of varying sizes needs a
  // step that fixes the size.
  CHECK(TransformedDataset(src, Pipeline().resize(3)).image_shape() == ImageShape{3, 3, 3});
  class Varying : public ImageSource {
   public:
    int64_t size() const override { return 2; }
    int64_t label(int64_t) const override { return 0; }
    void read(int64_t i, Image& out) const override {
      out.reshape(1, 3 + i, 4);
      std::iota(out.data.begin(), out.data.end(), uint8_t(0));
    }
    ImageShape image_shape() const override { return {1, 0, 0}; }
    ImageShape shape_of(int64_t i) const override { return {1, 3 + i, 4}; }
    int64_t num_classes() const override { return 1; }
  };
  auto varying = std::make_shared<Varying>();
  CHECK_THROWS_WITH_AS(TransformedDataset(varying, Pipeline().resize(2)),
                       doctest::Contains("TransformedDataset: the pipeline [{\"antialias\":true,"
                                         "\"interpolation\":\"bilinear\",\"name\":\"resize\","
                                         "\"size\":2}] gives images of varying size from a source "
                                         "whose images vary in size"),
                       Error);
  TransformedDataset centred(varying, Pipeline().center_crop(2));
  CHECK(centred.get_batch({0, 1}).images.shape() == Shape{2, 1, 2, 2});
  CHECK(centred.params(1, {})[0] == Params{1, 1, 2, 2});  // round((4 - 2) / 2) in a 4x4 image
}

TEST_CASE("epoch plan: the order and every drawn parameter, replayable from its JSON") {
  auto src = toy(23);
  auto ds = std::make_shared<TransformedDataset>(
      src, Pipeline().random_crop(4, 1).horizontal_flip().normalize({0.4, 0.5, 0.6}, {0.2, 0.3, 0.4}));
  DataLoader loader(ds, {.batch_size = 5, .shuffle = true, .drop_last = true, .seed = 11});
  const EpochPlan plan = epoch_plan(loader, 2);
  CHECK(plan.order.size() == 20);  // drop_last: 4 batches of 5
  std::vector<int64_t> full = loader.order(2);
  CHECK(plan.order == std::vector<int64_t>(full.begin(), full.begin() + 20));
  REQUIRE(plan.params.size() == 20);
  for (size_t k = 0; k < 20; ++k) CHECK(plan.params[k] == ds->params(plan.order[k], {11, 2}));

  // The JSON, written and read back, rebuilds the loader's batches byte for byte.
  test::TempDir dir;
  const std::string path = dir.new_file("plan.json");
  write_epoch_plan(plan, path);
  std::ifstream f(path);
  const nlohmann::json j = nlohmann::json::parse(f);
  CHECK(j["format"] == "fovea-epoch-plan");
  CHECK(j["version"] == 1);
  CHECK(j["seed"] == 11);
  CHECK(j["epoch"] == 2);
  CHECK(j["batch_size"] == 5);
  CHECK(j["num_batches"] == 4);
  CHECK(j["dataset_size"] == 23);
  CHECK(j["drop_last"] == true);
  CHECK(j["pipeline"][0]["name"] == "random_crop");
  CHECK(j["pipeline"][0]["padding"] == 1);
  CHECK(j["normalize"]["std"][2] == 0.4);
  const auto& crop_p = j["params"][0];
  const auto& flip_p = j["params"][1];
  CHECK(crop_p["top"].size() == 20);
  const Pipeline& pipe = ds->pipeline();
  loader.set_epoch(2);
  int64_t k = 0;
  for (const Batch& b : loader) {
    for (int64_t r = 0; r < b.size(); ++r, ++k) {
      const int64_t index = j["order"][size_t(k)];
      Image raw, box;
      src->read(index, raw);
      crop(raw, crop_p["top"][size_t(k)], crop_p["left"][size_t(k)], crop_p["height"][size_t(k)],
           crop_p["width"][size_t(k)], box);
      if (flip_p["flip"][size_t(k)] == 1) flip_horizontal(box);
      std::vector<float> want(48);
      pipe.to_float(box, want.data());
      CHECK(b.images.select(0, r).to_vector<float>() == want);
    }
  }
  CHECK(k == 20);

  // A dataset without transforms has an order and no parameters.
  DataLoader plain(src, 4);
  const EpochPlan p0 = epoch_plan(plain, 0);
  CHECK(p0.order.size() == 23);
  CHECK(p0.steps.empty());
  const nlohmann::json j0 = nlohmann::json::parse(epoch_plan_json(p0));
  CHECK(j0["pipeline"].empty());
  CHECK(j0["params"].empty());
  CHECK_FALSE(j0.contains("normalize"));
  CHECK_THROWS_WITH_AS(write_epoch_plan(p0, (dir.path / "no_such_dir" / "plan.json").string()),
                       doctest::Contains("write_epoch_plan: cannot write"), Error);
}

// Found by tests/fuzz/fuzz_augment.cpp: "center_crop:46116860184273879041" converted a double
// past 2^63 to int64 (undefined behaviour); sizes are now bounded where they are parsed and
// where the steps are made, and draws compare in floating point before converting. The option
// texts are the target's saved inputs (tests/fuzz/regressions/fuzz_augment/).
TEST_CASE("Pipeline::parse: huge and non-finite numbers and oversized steps are named errors") {
  using doctest::Contains;
  const auto option = [](const std::string& name) {
    const std::vector<uint8_t> bytes = test::fuzz_input("fuzz_augment", name);
    return std::string(bytes.begin(), bytes.end());
  };
  const std::pair<const char*, const char*> refused[] = {
      {"center-crop-size-past-int64",
       "Pipeline::parse: '46116860184273879041' is out of range in "
       "'center_crop:46116860184273879041'"},
      {"crop-padding-inf", "'inf' is out of range"},
      {"crop-padding-minus-1e300", "'-1e300' is out of range"},
      {"crop-size-past-pixel-limit",
       "random_crop: size 10000x10000 is more than the limit of 67108864 pixels"},
      {"crop-padding-past-limit", "random_crop: padding 100000000 is more than the limit"},
      {"resize-size-past-limit", "resize: size must be in 1..67108864, got 100000000"},
      {"rrc-scale-inf", "random_resized_crop: scale must satisfy 0 < min <= max (finite)"}};
  for (const auto& entry : refused) {
    const char* name = entry.first;  // not a binding: CAPTURE's lambda takes it
    CAPTURE(name);
    CHECK_THROWS_WITH_AS(Pipeline::parse(option(name)), Contains(entry.second), Error);
  }
  // "resize:60000" parses; the fuzz target's 1x1 input would become 60000 x 60000.
  const Pipeline resize = Pipeline::parse(option("resize-output-past-pixel-limit"));
  CHECK_THROWS_WITH_AS(resize.output_shape({3, 1, 1}),
                       Contains("resize: resizing a 1x1 image to a shorter side of 60000 makes "
                                "more than the limit"),
                       Error);
  CHECK_THROWS_WITH_AS(Resize(60000).output_shape({1, 1, 100000}),
                       Contains("resize: resizing a 1x100000 image to a shorter side of 60000 "
                                "makes more than the limit"),
                       Error);
  CHECK(Resize(4).output_shape({3, 10, 25}) == ImageShape{3, 4, 10});

  // A scale far past 1 asks for boxes larger than the image every time: the centre fallback.
  Generator gen(1);
  const Pipeline rrc = Pipeline::parse(option("rrc-scale-far-past-one"));
  REQUIRE(rrc.steps().size() == 1);
  const Params p = rrc.steps()[0]->draw({3, 32, 32}, gen);
  CHECK(p == Params{0, 0, 32, 32});
}
