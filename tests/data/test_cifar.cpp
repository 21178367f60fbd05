// CIFAR-10/100 binary readers: synthetic files in both official layouts with odd record counts,
// both directory forms, class names, every kind of broken file; the real CIFAR-10 subset when
// ../shared/data has it.
#include <doctest/doctest.h>

#include <filesystem>
#include <set>

#include "support/temp_files.h"
#include "engine/fovea.h"
#include "support/skip.h"

using namespace fovea;
using namespace fovea::data;
using fovea::test::contains;
using fovea::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Pixel byte k of the record with serial number `serial` (unique across a test's files).
uint8_t pixel(int serial, int k) { return uint8_t(serial * 31 + k * 7 + k / 1024); }

// Records of `label_bytes` label bytes and 3072 pixels; serials start at `first_serial`.
std::vector<uint8_t> records(const std::vector<std::vector<uint8_t>>& labels, int first_serial) {
  std::vector<uint8_t> out;
  for (size_t r = 0; r < labels.size(); ++r) {
    out.insert(out.end(), labels[r].begin(), labels[r].end());
    for (int k = 0; k < 3072; ++k) out.push_back(pixel(first_serial + int(r), k));
  }
  return out;
}

const char* const kCifar10Names =
    "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";

// cifar-10-batches-bin under `dir` with 3, 1, 2, 5, 1 training records (serials 0..11, labels
// serial % 10) and 4 test records (serials 100..103, labels 9, 0, 5, 3).
fs::path write_cifar10(const TempDir& dir) {
  const int counts[5] = {3, 1, 2, 5, 1};
  int serial = 0;
  for (int f = 0; f < 5; ++f) {
    std::vector<std::vector<uint8_t>> labels;
    for (int r = 0; r < counts[f]; ++r) labels.push_back({uint8_t((serial + r) % 10)});
    test::write_bytes(dir.new_file("cifar-10-batches-bin/data_batch_" + std::to_string(f + 1) + ".bin"),
                      records(labels, serial));
    serial += counts[f];
  }
  test::write_bytes(dir.new_file("cifar-10-batches-bin/test_batch.bin"),
                    records({{9}, {0}, {5}, {3}}, 100));
  test::write_text(dir.new_file("cifar-10-batches-bin/batches.meta.txt"), kCifar10Names);
  return dir.path / "cifar-10-batches-bin";
}

// The bytes of example `index` as the dataset reads them.
std::vector<uint8_t> image_bytes(const InMemoryDataset& ds, int64_t index) {
  Image img;
  ds.read(index, img);
  return img.data;
}

std::vector<uint8_t> expected_bytes(int serial) {
  std::vector<uint8_t> v(3072);
  for (int k = 0; k < 3072; ++k) v[size_t(k)] = pixel(serial, k);
  return v;
}

}  // namespace

TEST_CASE("cifar10: the official layout with any record count, from either directory") {
  TempDir dir;
  const fs::path batches = write_cifar10(dir);
  for (const std::string& root : {batches.string(), dir.path.string()}) {
    CAPTURE(root);
    auto train = load_cifar10(root, true);
    REQUIRE(train->size() == 12);
    CHECK(train->image_shape() == ImageShape{3, 32, 32});
    CHECK(train->num_classes() == 10);
    for (int i = 0; i < 12; ++i) {
      CHECK(train->label(i) == i % 10);
      CHECK(image_bytes(*train, i) == expected_bytes(i));  // files in order 1..5, records in order
    }
    // Planes are red, green, blue, each 32 x 32 row-major: byte 1024 + 32 * 5 + 7 is green (5, 7).
    const Example ex = train->get(6);
    CHECK(ex.image.at({1, 5, 7}) == doctest::Approx(pixel(6, 1024 + 32 * 5 + 7) / 255.0));
    CHECK(ex.image.at({2, 31, 31}) == doctest::Approx(pixel(6, 3071) / 255.0));
    CHECK(train->class_names().size() == 10);
    CHECK(train->class_names()[3] == "cat");
    CHECK(train->class_names()[9] == "truck");

    auto test = load_cifar10(root, false);
    REQUIRE(test->size() == 4);
    CHECK(test->labels() == std::vector<int64_t>{9, 0, 5, 3});
    CHECK(image_bytes(*test, 2) == expected_bytes(102));
  }

  // Without batches.meta.txt the classes have no names.
  fs::remove(batches / "batches.meta.txt");
  CHECK(load_cifar10(batches.string(), false)->class_names().empty());
}

TEST_CASE("cifar100: two label bytes (coarse, fine), fine labels by default and coarse on request") {
  TempDir dir;
  const fs::path root = dir.path / "cifar-100-binary";
  test::write_bytes(dir.new_file("cifar-100-binary/train.bin"), records({{4, 30}, {19, 99}, {0, 0}}, 0));
  test::write_bytes(dir.new_file("cifar-100-binary/test.bin"), records({{7, 55}}, 50));
  std::string fine, coarse;
  for (int i = 0; i < 100; ++i) fine += "fine" + std::to_string(i) + "\n";
  for (int i = 0; i < 20; ++i) coarse += "coarse" + std::to_string(i) + "\r\n";
  test::write_text(dir.new_file("cifar-100-binary/fine_label_names.txt"), fine);
  test::write_text(dir.new_file("cifar-100-binary/coarse_label_names.txt"), coarse);

  for (const std::string& d : {root.string(), dir.path.string()}) {
    CAPTURE(d);
    auto train = load_cifar100(d, true);
    REQUIRE(train->size() == 3);
    CHECK(train->num_classes() == 100);
    CHECK(train->labels() == std::vector<int64_t>{30, 99, 0});
    CHECK(image_bytes(*train, 1) == expected_bytes(1));
    CHECK(train->class_names()[99] == "fine99");

    auto by_coarse = load_cifar100(d, true, /*coarse_labels=*/true);
    CHECK(by_coarse->num_classes() == 20);
    CHECK(by_coarse->labels() == std::vector<int64_t>{4, 19, 0});
    CHECK(by_coarse->class_names()[19] == "coarse19");  // the \r is trimmed

    auto test = load_cifar100(d, false);
    CHECK(test->labels() == std::vector<int64_t>{55});
    CHECK(image_bytes(*test, 0) == expected_bytes(50));
  }
}

TEST_CASE("cifar: broken files and directories are errors that name them") {
  TempDir dir;
  const fs::path batches = write_cifar10(dir);
  const std::string b3 = (batches / "data_batch_3.bin").string();

  // 2 records and 100 bytes more
  std::vector<uint8_t> bytes = records({{1}, {2}}, 0);
  bytes.resize(bytes.size() + 100, 0);
  test::write_bytes(b3, bytes);
  CHECK_THROWS_WITH_AS(load_cifar10(batches.string(), true),
                       contains("cifar10: " + b3 + " is truncated: its size 6246 bytes is not a "
                                "whole number of 3073-byte records (2 records and 100 bytes)"),
                       Error);
  test::write_bytes(b3, {});
  CHECK_THROWS_WITH_AS(load_cifar10(batches.string(), true), contains("cifar10: " + b3 + " is empty"),
                       Error);
  // a label of 10 in the second record
  test::write_bytes(b3, records({{1}, {10}, {2}}, 0));
  CHECK_THROWS_WITH_AS(load_cifar10(batches.string(), true),
                       contains("cifar10: " + b3 + ": record 1 has label 10, outside 0..9"), Error);
  test::write_bytes(b3, records({{1}}, 0));
  CHECK(load_cifar10(batches.string(), true)->size() == 11);

  fs::remove(batches / "data_batch_4.bin");
  CHECK_THROWS_WITH_AS(load_cifar10(batches.string(), true),
                       contains("cifar10: " + (batches / "data_batch_4.bin").string() +
                                " does not exist (the data directory should be the "
                                "cifar-10-batches-bin folder or the folder that holds it)"),
                       Error);
  // a directory that holds neither the files nor the folder: the first file is missing
  const std::string empty = dir.new_file("empty/x");
  const std::string empty_dir = fs::path(empty).parent_path().string();
  CHECK_THROWS_WITH_AS(load_cifar10(empty_dir, false),
                       contains("cifar10: " + empty_dir + "/test_batch.bin does not exist"), Error);
  CHECK_THROWS_WITH_AS(load_cifar10((dir.path / "nowhere").string(), false),
                       contains("cifar10: data directory " + (dir.path / "nowhere").string() +
                                " does not exist"),
                       Error);
  test::write_text(dir.new_file("a_file"), "x");
  CHECK_THROWS_WITH_AS(load_cifar10(dir.new_file("a_file"), false),
                       doctest::Contains("is not a directory"), Error);

  test::write_text((batches / "batches.meta.txt").string(), "a\nb\nc\nd\ne\nf\ng\nh\ni\n");
  CHECK_THROWS_WITH_AS(load_cifar10(batches.string(), false),
                       contains("cifar10: " + (batches / "batches.meta.txt").string() +
                                " lists 9 class names, expected 10"),
                       Error);

  // CIFAR-100: 3074-byte records, both label bytes checked.
  const std::string train100 = dir.new_file("c100/train.bin");
  test::write_bytes(train100, records({{0, 5}, {3, 100}}, 0));
  CHECK_THROWS_WITH_AS(load_cifar100(fs::path(train100).parent_path().string(), true),
                       contains("cifar100: " + train100 + ": record 1 has fine label 100, outside 0..99"),
                       Error);
  test::write_bytes(train100, records({{20, 5}}, 0));
  CHECK_THROWS_WITH_AS(load_cifar100(fs::path(train100).parent_path().string(), true),
                       contains("cifar100: " + train100 + ": record 0 has coarse label 20, outside 0..19"),
                       Error);
  test::write_bytes(train100, std::vector<uint8_t>(3073 * 2));  // CIFAR-10 sized records
  CHECK_THROWS_WITH_AS(load_cifar100(fs::path(train100).parent_path().string(), true),
                       contains("cifar100: " + train100 + " is truncated: its size 6146 bytes is "
                                "not a whole number of 3074-byte records (1 records and 3072 bytes)"),
                       Error);
}

TEST_CASE("cifar10: the real subset in ../shared/data") {
  const std::string dir = std::string(FOVEA_SHARED_DATA) + "/cifar-10-subset";
  if (!fs::is_directory(dir)) return test::skip_test("no CIFAR-10 data at " + dir);
  auto train = load_cifar10(dir, true);  // the parent of cifar-10-batches-bin
  auto test = load_cifar10(dir + "/cifar-10-batches-bin", false);
  CHECK(train->size() == 5 * 1017);
  CHECK(test->size() == 1017);
  CHECK(train->class_names() ==
        std::vector<std::string>{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                 "horse", "ship", "truck"});
  CHECK(std::set<int64_t>(train->labels().begin(), train->labels().end()).size() == 10);
  // Natural images: channel means near CIFAR-10's published (0.491, 0.482, 0.447).
  const auto [mean, sd] = train->channel_stats();
  CHECK(mean[0] == doctest::Approx(0.491).epsilon(0.03));
  CHECK(mean[2] == doctest::Approx(0.447).epsilon(0.03));
  CHECK(sd[1] == doctest::Approx(0.24).epsilon(0.1));
}
