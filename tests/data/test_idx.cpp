// IDX reading: synthetic files, gzipped and plain, written here with zlib; every kind of broken
// file gives its named error; the MNIST layout loader; the real Fashion-MNIST when installed.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "engine/fovea.h"
#include "support/idx_files.h"
#include "support/temp_files.h"
#include "support/skip.h"

using namespace fovea;
using namespace fovea::data;
using fovea::test::contains;
using fovea::test::TempDir;
namespace fs = std::filesystem;

namespace {

using test::idx_bytes;

void write_plain(const std::string& path, const std::vector<uint8_t>& bytes) {
  test::write_bytes(path, bytes);
}

void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> read_plain(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::vector<uint8_t> counting(size_t n, int mul = 7) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i * mul);
  return v;
}

// An MNIST-layout directory with n images of h x w and the given labels.
void write_mnist_dir(const TempDir& dir, const std::string& split, uint32_t n, uint32_t h,
                     uint32_t w, const std::vector<uint8_t>& labels, bool gzip = true) {
  const std::string sfx = gzip ? ".gz" : "";
  auto write = gzip ? write_gzip : write_plain;
  write(dir.new_file(split + "-images-idx3-ubyte" + sfx), idx_bytes(8, {n, h, w}, counting(n * h * w)));
  write(dir.new_file(split + "-labels-idx1-ubyte" + sfx),
        idx_bytes(8, {uint32_t(labels.size())}, labels));
}

}  // namespace

TEST_CASE("idx: gzipped and plain files read back with their dims and bytes") {
  TempDir dir;
  const std::vector<uint8_t> data = counting(4 * 3 * 2);
  for (bool gz : {true, false}) {
    CAPTURE(gz);
    const std::string path = dir.new_file(gz ? "a.gz" : "a");
    (gz ? write_gzip : write_plain)(path, idx_bytes(8, {4, 3, 2}, data));
    const IdxArray a = read_idx(path);
    CHECK(a.dims == Shape{4, 3, 2});
    CHECK(a.data == data);
  }
  // a large dim (above 2^16) decodes through all four header bytes
  write_gzip(dir.new_file("big.gz"), idx_bytes(8, {70000}, counting(70000, 3)));
  const IdxArray big = read_idx(dir.new_file("big.gz"));
  CHECK(big.dims == Shape{70000});
  CHECK(big.data == counting(70000, 3));
}

TEST_CASE("idx: each kind of broken file is a named error") {
  TempDir dir;
  const std::string missing = dir.new_file("missing.gz");
  CHECK_THROWS_WITH_AS(read_idx(missing), contains("idx: " + missing + " does not exist"),
                       Error);
  CHECK_THROWS_WITH_AS(read_idx(dir.path.string()), doctest::Contains("is not a regular file"), Error);

  const std::string truncated = dir.new_file("truncated.gz");
  std::vector<uint8_t> cut = idx_bytes(8, {4, 3, 2}, counting(24));
  cut.resize(cut.size() - 14);
  write_gzip(truncated, cut);
  CHECK_THROWS_WITH_AS(read_idx(truncated),
                       contains("idx: " + truncated + " is truncated: expected 24 bytes of "
                                         "data for dims [4, 3, 2], got 10"),
                       Error);
  write_plain(dir.new_file("short_header"), {0, 0, 8});
  CHECK_THROWS_WITH_AS(read_idx(dir.new_file("short_header")),
                       doctest::Contains("is truncated: expected a 4-byte header, got 3 bytes"), Error);
  write_plain(dir.new_file("short_dims"), {0, 0, 8, 2, 0, 0, 0, 4, 0, 0});
  CHECK_THROWS_WITH_AS(read_idx(dir.new_file("short_dims")),
                       doctest::Contains("is truncated: expected 8 bytes of dimensions, got 6"),
                       Error);

  std::vector<uint8_t> longer = idx_bytes(8, {4}, counting(5));
  write_plain(dir.new_file("trailing"), longer);
  CHECK_THROWS_WITH_AS(read_idx(dir.new_file("trailing")),
                       doctest::Contains("has trailing data after the 4 bytes that dims [4] declare"),
                       Error);

  std::vector<uint8_t> magic = idx_bytes(8, {4}, counting(4));
  magic[0] = 0x50, magic[1] = 0x4b;  // a zip file, say
  write_gzip(dir.new_file("magic.gz"), magic);
  CHECK_THROWS_WITH_AS(read_idx(dir.new_file("magic.gz")),
                       doctest::Contains("magic.gz has a wrong magic number (first bytes 80 75, "
                                         "expected 0 0): not an IDX file"),
                       Error);
  write_plain(dir.new_file("float"), idx_bytes(0x0D, {1}, {0, 0, 0, 0}));
  CHECK_THROWS_WITH_AS(read_idx(dir.new_file("float")),
                       doctest::Contains("holds elements of type byte 13 (float32); only 8 (0x08, "
                                         "unsigned byte) is supported"),
                       Error);
  write_plain(dir.new_file("nodims"), {0, 0, 8, 0});
  CHECK_THROWS_WITH_AS(read_idx(dir.new_file("nodims")), doctest::Contains("declares 0 dimensions"), Error);
  write_plain(dir.new_file("huge"), idx_bytes(8, {0x7fffffff, 0x7fffffff}, {}));
  CHECK_THROWS_WITH_AS(read_idx(dir.new_file("huge")), doctest::Contains("declares an implausible size"),
                       Error);

  // gzip streams: garbage after a gzip header, and a valid stream with flipped bytes inside
  write_plain(dir.new_file("garbage.gz"), {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff});
  CHECK_THROWS_WITH_AS(read_idx(dir.new_file("garbage.gz")),
                       doctest::Contains("garbage.gz is not a valid gzip file or is corrupt (zlib: "),
                       Error);
  write_gzip(dir.new_file("flipped.gz"), idx_bytes(8, {2000}, counting(2000, 13)));
  std::vector<uint8_t> gz = read_plain(dir.new_file("flipped.gz"));
  REQUIRE(gz.size() > 40);
  for (size_t i = 15; i < gz.size() - 12; i += 3) gz[i] ^= 0x5a;
  write_plain(dir.new_file("flipped.gz"), gz);
  CHECK_THROWS_WITH_AS(read_idx(dir.new_file("flipped.gz")),
                       doctest::Contains("is not a valid gzip file or is corrupt"), Error);
  // a gzip stream cut short
  write_gzip(dir.new_file("cut.gz"), idx_bytes(8, {2000}, counting(2000, 13)));
  gz = read_plain(dir.new_file("cut.gz"));
  gz.resize(gz.size() / 2);
  write_plain(dir.new_file("cut.gz"), gz);
  CHECK_THROWS_WITH_AS(read_idx(dir.new_file("cut.gz")),
                       contains("idx: " + dir.new_file("cut.gz") + " is truncated: the gzip stream ends "
                                "early (zlib: unexpected end of file)"),
                       Error);
}

TEST_CASE("idx: MNIST layout, gzipped or plain, becomes a 1-channel dataset") {
  TempDir dir;
  write_mnist_dir(dir, "train", 3, 4, 5, {7, 0, 9});
  write_mnist_dir(dir, "t10k", 2, 4, 5, {1, 2}, /*gzip=*/false);
  auto train = load_fashion_mnist(dir.path.string(), true);
  CHECK(train->size() == 3);
  CHECK(train->num_classes() == 10);
  CHECK(train->image_shape() == std::array<int64_t, 3>{1, 4, 5});
  CHECK(train->labels() == std::vector<int64_t>{7, 0, 9});
  CHECK(train->pixels() == counting(60));
  const Example ex = train->get(1);
  CHECK(ex.label == 0);
  CHECK(ex.image.shape() == Shape{1, 4, 5});
  CHECK(ex.image.at({0, 0, 1}) == doctest::Approx(uint8_t(21 * 7) / 255.0));
  auto test = load_mnist(dir.path.string(), false);
  CHECK(test->size() == 2);
  CHECK(test->labels() == std::vector<int64_t>{1, 2});
}

TEST_CASE("idx: MNIST layout errors name the files") {
  TempDir dir;
  CHECK_THROWS_WITH_AS(load_fashion_mnist(dir.new_file("nowhere"), true),
                       contains("fashion-mnist: data directory " + dir.new_file("nowhere") +
                                         " does not exist"),
                       Error);
  CHECK_THROWS_WITH_AS(load_fashion_mnist(dir.path.string(), true),
                       doctest::Contains("train-images-idx3-ubyte.gz does not exist"), Error);
  write_mnist_dir(dir, "train", 3, 2, 2, {1, 2, 3, 4});
  CHECK_THROWS_WITH_AS(load_fashion_mnist(dir.path.string(), true),
                       contains("train-images-idx3-ubyte.gz holds 3 images but " +
                                         dir.new_file("train-labels-idx1-ubyte.gz") + " holds 4 labels"),
                       Error);
  write_mnist_dir(dir, "train", 3, 2, 2, {1, 10, 3});
  CHECK_THROWS_WITH_AS(load_fashion_mnist(dir.path.string(), true),
                       doctest::Contains("label 10 of example 1 is not a class of 0..9"), Error);
  write_gzip(dir.new_file("train-images-idx3-ubyte.gz"), idx_bytes(8, {3, 4}, counting(12)));
  write_gzip(dir.new_file("train-labels-idx1-ubyte.gz"), idx_bytes(8, {3}, {1, 2, 3}));
  CHECK_THROWS_WITH_AS(load_fashion_mnist(dir.path.string(), true),
                       doctest::Contains("should hold images [N, H, W], has dims [3, 4]"), Error);
}

TEST_CASE("idx: the installed Fashion-MNIST (skipped when absent)") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir + "/train-images-idx3-ubyte.gz")) {
    return test::skip_test("Fashion-MNIST is not installed at " + dir +
                           " (Debian package dataset-fashion-mnist)");
  }
  auto train = load_fashion_mnist(dir, true);
  auto test = load_fashion_mnist(dir, false);
  CHECK(train->size() == 60000);
  CHECK(test->size() == 10000);
  CHECK(train->image_shape() == std::array<int64_t, 3>{1, 28, 28});
  std::vector<int64_t> counts(10, 0);
  for (int64_t l : train->labels()) ++counts[size_t(l)];
  CHECK(counts == std::vector<int64_t>(10, 6000));  // balanced classes
  const auto [mean, sd] = train->channel_stats();
  CHECK(mean[0] == doctest::Approx(0.2860).epsilon(1e-3));  // the published statistics
  CHECK(sd[0] == doctest::Approx(0.3530).epsilon(1e-3));
}

// Two dims of 2^32 - 1 multiplied past int64 (undefined behaviour) and ended in a
// std::length_error; the product is now bounded before each multiplication, a 0 dim included
// (the strides of [0, 2^32 - 1, 2^32 - 1] overflow as well).
TEST_CASE("idx: dims whose product overflows are an implausible size naming the file") {
  TempDir dir;
  for (const std::vector<uint32_t>& dims :
       {std::vector<uint32_t>{0xFFFFFFFF, 0xFFFFFFFF}, {0, 0xFFFFFFFF, 0xFFFFFFFF},
        {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 2}}) {
    const std::string path = dir.new_file("overflow");
    write_plain(path, idx_bytes(8, dims, {}));
    CHECK_THROWS_WITH_AS(read_idx(path), contains("idx: " + path + " declares an implausible size"),
                         Error);
  }
}

// A header may declare up to 64 GiB; the data is read in growing chunks, so a 16-byte file that
// declares 60 GiB is truncated without 60 GiB being allocated first (which threw
// std::bad_alloc, or took the memory, before). On a machine with the memory for it, that is:
// read_idx refuses more than is available first (the next test).
TEST_CASE("idx: a header declaring more data than the file holds is truncated without allocating it") {
  TempDir dir;
  const std::vector<uint8_t> bytes = idx_bytes(8, {0x10000, 0x10000, 15}, {1, 2, 3});
  const std::string plain = dir.new_file("big"), gz = dir.new_file("big.gz");
  write_plain(plain, bytes);
  write_gzip(gz, bytes);
  const auto large_machine = [] { return size_t(1) << 40; };
  for (const std::string& path : {plain, gz})
    CHECK_THROWS_WITH_AS(read_idx(path, large_machine),
                         contains("idx: " + path + " is truncated: expected 64424509440 bytes of "
                                  "data for dims [65536, 65536, 15], got 3"),
                         Error);
  // Data larger than the first chunk still reads whole.
  const std::vector<uint8_t> data = counting(3 << 20, 11);
  write_gzip(gz, idx_bytes(8, {3, 1 << 20}, data));
  CHECK(read_idx(gz).data == data);
}

// A gzip bomb: a small .gz may hold gigabytes, which the growing reads would take (outside the
// CPU allocator's out-of-memory guard) until the OOM killer ended the process. The declared
// size is now compared with the available memory before anything is read: 2 MiB of zeros that
// compress to a few KiB, on a machine with 1 MiB free, are refused naming the file; with 2 MiB
// free they read.
TEST_CASE("idx: data larger than the available memory is refused before it is read") {
  TempDir dir;
  const std::string gz = dir.new_file("bomb.gz");
  write_gzip(gz, idx_bytes(8, {2, 1 << 20}, std::vector<uint8_t>(2 << 20, 0)));
  CHECK(fs::file_size(gz) < 16 << 10);
  const auto one_mib = [] { return size_t(1) << 20; };
  CHECK_THROWS_WITH_AS(read_idx(gz, one_mib),
                       contains("idx: " + gz + " declares 2097152 bytes of data (dims [2, " +
                                "1048576]), more than the 1048576 bytes of memory available"),
                       Error);
  const auto two_mib = [] { return size_t(2) << 20; };
  CHECK(read_idx(gz, two_mib).data.size() == size_t(2) << 20);
}
