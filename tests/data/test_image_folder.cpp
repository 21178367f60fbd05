// ImageFolder on a temporary tree written with stb_image_write (PNG RGB, gray and RGBA, BMP,
// JPEG, a file in a sub-folder, a non-image file): torchvision's class and file order, channel
// conversion, resizing, caching, class names, and the errors for corrupt files, empty class
// folders and missing roots; the real Tiny-ImageNet-10 when ../shared/data has it.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "engine/fovea.h"
#include "support/fuzz_regressions.h"
#include "support/skip.h"
#include "support/temp_files.h"

using namespace fovea;
using namespace fovea::data;
using fovea::test::contains;
using fovea::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Interleaved pixels of an h x w image with `comp` channels: byte (y, x, c) = 40 y + 7 x + 90 c.
std::vector<uint8_t> pattern(int h, int w, int comp) {
  std::vector<uint8_t> px(size_t(h * w * comp));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < comp; ++c) px[size_t((y * w + x) * comp + c)] = uint8_t(40 * y + 7 * x + 90 * c);
  return px;
}

void write_png(const std::string& path, int h, int w, int comp) {
  REQUIRE(stbi_write_png(path.c_str(), w, h, comp, pattern(h, w, comp).data(), w * comp) != 0);
}

// The tree used by most cases (files in torchvision's order):
//   cat/a.png (RGB 5x4)  cat/b.bmp (RGB 3x3)  dog/g.png (gray 4x6)  dog/notes.txt (skipped)
//   dog/sub/r.png (RGBA 2x2)  emu/j.jpg (8x8 of one colour)
struct Tree {
  TempDir dir;
  std::string root;
  Tree() {
    root = (dir.path / "train").string();
    write_png(dir.new_file("train/cat/a.png"), 5, 4, 3);
    REQUIRE(stbi_write_bmp(dir.new_file("train/cat/b.bmp").c_str(), 3, 3, 3, pattern(3, 3, 3).data()));
    write_png(dir.new_file("train/dog/g.png"), 4, 6, 1);
    test::write_text(dir.new_file("train/dog/notes.txt"), "not an image");
    write_png(dir.new_file("train/dog/sub/r.png"), 2, 2, 4);
    std::vector<uint8_t> flat(8 * 8 * 3);
    for (size_t i = 0; i < flat.size(); ++i) flat[i] = uint8_t(i % 3 == 0 ? 200 : i % 3 == 1 ? 100 : 50);
    REQUIRE(stbi_write_jpg(dir.new_file("train/emu/j.jpg").c_str(), 8, 8, 3, flat.data(), 95));
  }
};

Image read(const ImageSource& src, int64_t i) {
  Image img;
  src.read(i, img);
  return img;
}

uint8_t at(const Image& img, int64_t c, int64_t y, int64_t x) {
  return img.data[size_t((c * img.h + y) * img.w + x)];
}

}  // namespace

TEST_CASE("image_folder: classes and files in torchvision's order, decoded to planar RGB") {
  Tree t;
  ImageFolder folder(t.root);
  CHECK(folder.classes() == std::vector<std::string>{"cat", "dog", "emu"});
  CHECK(folder.class_names() == folder.classes());  // no classes.txt: the folder names
  REQUIRE(folder.size() == 5);                       // notes.txt is not an image
  const std::vector<std::string> names{"cat/a.png", "cat/b.bmp", "dog/g.png", "dog/sub/r.png",
                                       "emu/j.jpg"};
  for (int64_t i = 0; i < 5; ++i) CHECK(folder.path(i) == (fs::path(t.root) / names[size_t(i)]).string());
  CHECK(std::vector<int64_t>{folder.label(0), folder.label(1), folder.label(2), folder.label(3),
                             folder.label(4)} == std::vector<int64_t>{0, 0, 1, 1, 2});
  CHECK(folder.image_shape() == ImageShape{3, 0, 0});
  CHECK(folder.shape_of(0) == ImageShape{3, 5, 4});  // from the header
  CHECK(folder.shape_of(2) == ImageShape{3, 4, 6});

  const Image rgb = read(folder, 0);  // PNG RGB: exact
  CHECK(rgb.shape() == ImageShape{3, 5, 4});
  CHECK(at(rgb, 0, 0, 0) == 0);
  CHECK(at(rgb, 2, 4, 3) == uint8_t(40 * 4 + 7 * 3 + 180));
  CHECK(at(rgb, 1, 2, 1) == uint8_t(80 + 7 + 90));
  const Image bmp = read(folder, 1);  // BMP: exact
  CHECK(bmp.shape() == ImageShape{3, 3, 3});
  CHECK(at(bmp, 2, 1, 2) == uint8_t(40 + 14 + 180));
  const Image gray = read(folder, 2);  // grayscale replicated into three channels
  CHECK(gray.shape() == ImageShape{3, 4, 6});
  for (int64_t c = 0; c < 3; ++c) CHECK(at(gray, c, 3, 5) == uint8_t(120 + 35));
  const Image rgba = read(folder, 3);  // alpha dropped
  CHECK(rgba.shape() == ImageShape{3, 2, 2});
  CHECK(at(rgba, 0, 1, 1) == uint8_t(47));
  CHECK(at(rgba, 2, 1, 1) == uint8_t(47 + 180));
  const Image jpg = read(folder, 4);  // lossy, but a flat colour survives within a unit or two
  CHECK(jpg.shape() == ImageShape{3, 8, 8});
  CHECK(std::abs(int(at(jpg, 0, 3, 3)) - 200) <= 3);
  CHECK(std::abs(int(at(jpg, 1, 7, 0)) - 100) <= 3);
  CHECK(std::abs(int(at(jpg, 2, 0, 7)) - 50) <= 3);
}

TEST_CASE("image_folder: fixed-size resizing, one channel, and the cache") {
  Tree t;
  ImageFolder resized(t.root, {.height = 4, .width = 4});
  CHECK(resized.image_shape() == ImageShape{3, 4, 4});
  CHECK(resized.shape_of(2) == ImageShape{3, 4, 4});
  for (int64_t i = 0; i < resized.size(); ++i) CHECK(read(resized, i).shape() == ImageShape{3, 4, 4});
  // An image already of the size is not resampled; a flat one stays flat.
  ImageFolder plain(t.root);
  const Image a = read(plain, 0), a4 = read(resized, 0);
  CHECK(a4.data != a.data);  // 5x4 -> 4x4 changes it
  ImageFolder eight(t.root, {.height = 8, .width = 8});
  CHECK(read(eight, 4).data == read(plain, 4).data);

  ImageFolder mono(t.root, {.channels = 1});
  const Image g = read(mono, 2);
  CHECK(g.shape() == ImageShape{1, 4, 6});
  CHECK(at(g, 0, 2, 3) == uint8_t(80 + 21));

  ImageFolder cached(t.root, {.cache = true});
  for (int64_t i = 0; i < plain.size(); ++i) {
    CHECK(read(cached, i).data == read(plain, i).data);
    CHECK(cached.shape_of(i) == read(plain, i).shape());
  }

  CHECK_THROWS_WITH_AS(ImageFolder(t.root, {.channels = 4}),
                       doctest::Contains("image_folder: channels must be 1 or 3, got 4"), Error);
  CHECK_THROWS_WITH_AS(ImageFolder(t.root, {.height = 4}),
                       doctest::Contains("image_folder: height and width must both be positive"),
                       Error);
}

TEST_CASE("image_folder: human-readable class names from classes.txt") {
  Tree t;
  // In the parent of the root (Tiny ImageNet's layout), with a class it does not list.
  test::write_text(t.dir.new_file("classes.txt"), "cat\tFelis catus\n\ndog\tCanis familiaris, dog\n");
  ImageFolder folder(t.root);
  CHECK(folder.class_names() == std::vector<std::string>{"Felis catus", "Canis familiaris, dog", "emu"});
  CHECK(folder.classes() == std::vector<std::string>{"cat", "dog", "emu"});
  // In the root itself (a file, not a class), which wins; a trailing slash on the root is fine.
  test::write_text(t.dir.new_file("train/classes.txt"), "emu Dromaius\n");
  CHECK(ImageFolder(t.root + "/").class_names() == std::vector<std::string>{"cat", "dog", "Dromaius"});
  // Named explicitly.
  const std::string other = t.dir.new_file("names.tsv");
  test::write_text(other, "dog\tHound\n");
  CHECK(ImageFolder(t.root, {.class_names_file = other}).class_names()[1] == "Hound");
  test::write_text(other, "dog\tHound\nbroken-line\n");
  CHECK_THROWS_WITH_AS(ImageFolder(t.root, {.class_names_file = other}),
                       contains("image_folder: " + other + " line 2: expected '<folder><TAB><name>', "
                                "got 'broken-line'"),
                       Error);
  CHECK_THROWS_WITH_AS(ImageFolder(t.root, {.class_names_file = other + ".missing"}),
                       doctest::Contains("image_folder: cannot open the class names file"), Error);
}

TEST_CASE("image_folder: corrupt images, empty class folders and missing roots are named errors") {
  Tree t;
  const std::string bad = t.dir.new_file("train/dog/bad.png");
  test::write_bytes(bad, {0x89, 'P', 'N', 'G', 1, 2, 3, 4, 5, 6, 7});
  ImageFolder folder(t.root);
  REQUIRE(folder.size() == 6);
  REQUIRE(folder.path(2) == bad);
  CHECK_THROWS_WITH_AS(read(folder, 2), contains("image_folder: cannot decode " + bad + ": "), Error);
  CHECK_THROWS_WITH_AS(folder.shape_of(2), contains("image_folder: cannot read the header of " + bad),
                       Error);
  // ... also through a TransformedDataset and a DataLoader's worker, unchanged.
  auto ds = std::make_shared<TransformedDataset>(std::make_shared<ImageFolder>(t.root),
                                                 Pipeline().center_crop(2));
  DataLoader loader(ds, {.batch_size = 2, .num_workers = 2});
  auto consume = [&] {
    for (const Batch& b : loader) CHECK(b.size() == 2);
  };
  CHECK_THROWS_WITH_AS(consume(), contains("image_folder: cannot decode " + bad), Error);
  CHECK_THROWS_WITH_AS(ImageFolder(t.root, {.cache = true}),
                       contains("image_folder: cannot decode " + bad), Error);

  // skip_unreadable checks every header up front and leaves the bad file out.
  ImageFolder skipping(t.root, {.skip_unreadable = true});
  CHECK(skipping.size() == 5);
  CHECK(skipping.skipped() == std::vector<std::string>{bad});
  for (int64_t i = 0; i < skipping.size(); ++i) CHECK(read(skipping, i).c == 3);

  fs::create_directories(fs::path(t.root) / "fox");
  test::write_text(t.dir.new_file("train/fox/readme.md"), "no images here");
  CHECK_THROWS_WITH_AS(ImageFolder(t.root),
                       contains("image_folder: class folder " + (fs::path(t.root) / "fox").string() +
                                " holds no images (.jpg, .jpeg, .png"),
                       Error);
  fs::remove_all(fs::path(t.root) / "fox");
  fs::remove_all(fs::path(t.root) / "emu");
  fs::remove_all(fs::path(t.root) / "cat");
  fs::remove(bad);
  test::write_bytes(t.dir.new_file("train/dog/only.png"), {1, 2, 3});
  fs::remove(t.dir.new_file("train/dog/g.png"));
  fs::remove_all(fs::path(t.root) / "dog" / "sub");
  CHECK_THROWS_WITH_AS(ImageFolder(t.root, {.skip_unreadable = true}),
                       doctest::Contains("holds no readable images"), Error);

  const std::string empty_root = fs::path(t.dir.new_file("empty/x")).parent_path().string();
  CHECK_THROWS_WITH_AS(ImageFolder{empty_root},
                       contains("image_folder: " + empty_root + " has no class folders"), Error);
  CHECK_THROWS_WITH_AS(ImageFolder{empty_root + "/nothing"}, doctest::Contains("does not exist"),
                       Error);
  CHECK_THROWS_WITH_AS(read(ImageFolder(t.root), 7),
                       doctest::Contains("image_folder: index 7 is out of range for 1 images"), Error);
}

TEST_CASE("image_folder: the real Tiny-ImageNet-10 in ../shared/data") {
  const std::string dir = std::string(FOVEA_SHARED_DATA) + "/tiny-imagenet-10";
  if (!fs::is_directory(dir)) return test::skip_test("no Tiny-ImageNet-10 at " + dir);
  ImageFolder train(dir + "/train"), val(dir + "/val", {.cache = true});
  CHECK(train.size() == 5000);
  CHECK(val.size() == 500);
  CHECK(train.num_classes() == 10);
  CHECK(train.classes() == val.classes());
  CHECK(train.classes()[0] == "n01443537");
  CHECK(train.class_names()[0] == "goldfish, Carassius auratus");  // from ../classes.txt
  // Every image decodes to 3 x 64 x 64, the grayscale ones included.
  std::set<int64_t> labels;
  Image img;
  for (int64_t i = 0; i < train.size(); i += 7) {
    train.read(i, img);
    CHECK(img.shape() == ImageShape{3, 64, 64});
    labels.insert(train.label(i));
  }
  CHECK(labels.size() == 10);
  for (int64_t i = 0; i < val.size(); ++i) CHECK(val.shape_of(i) == ImageShape{3, 64, 64});
}

// The JPEG checks run before stb (image_bytes.cpp) must pass real files: a baseline JPEG and a
// progressive one whose Huffman tables come between its ten scans, both written by libjpeg
// (tests/fixtures/images/make_jpegs.py), decode to the gradient they were made from.
TEST_CASE("image_folder: baseline and progressive JPEGs pass the checks and decode") {
  for (const char* name : {"gradient_baseline.jpg", "gradient_progressive.jpg"}) {
    CAPTURE(name);
    Image img;
    decode_image_file(std::string(FOVEA_TEST_FIXTURES) + "/images/" + name, 3, 0, 0, img);
    REQUIRE(img.shape() == ImageShape{3, 16, 24});
    double error = 0;
    for (int64_t y = 0; y < 16; ++y)
      for (int64_t x = 0; x < 24; ++x) {
        const int64_t expected[3] = {10 * x, 15 * y, 5 * (x + y)};
        for (int64_t c = 0; c < 3; ++c)
          error += std::abs(double(img.plane(c)[y * 24 + x]) - double(expected[c]));
      }
    CHECK(error / (3 * 16 * 24) < 3.0);  // quality 95, no subsampling: a few levels at most
  }
}

// Files found by tests/fuzz/fuzz_image.cpp that made stb_image 2.27 write past its Huffman
// tables (a JPEG) or past a 16-bit PPM it converted, allocate 1.8 GB for a 97-byte file (a PNG)
// or decode 49 million pixels from 33 bytes (a TGA), a header declaring 100 million pixels, and
// the formats image folders do not hold: each is refused before stb decodes it.
TEST_CASE("image_folder: files that broke stb in fuzzing and oversized images are named errors") {
  TempDir dir;
  auto decode = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = dir.new_file(name);
    test::write_bytes(path, bytes);
    Image img;
    decode_image_file(path, 3, 0, 0, img);
  };
  const std::string jpeg = dir.file("dht.jpg"), png = dir.file("chunk.png");
  CHECK_THROWS_WITH_AS(decode("dht.jpg", test::fuzz_file_bytes("fuzz_image", "jpeg-dht-too-many-codes")),
                       contains("image_folder: " + jpeg + " is a corrupt JPEG: a Huffman table at "
                                "byte "),
                       Error);
  // A scan that decodes with a Huffman table no DHT segment defined: stb reads uninitialised
  // memory and indexes past its symbol table.
  CHECK_THROWS_WITH_AS(
      decode("scan.jpg",
             test::fuzz_file_bytes("fuzz_image", "jpeg-scan-uses-undefined-huffman-table")),
      doctest::Contains("scan.jpg is a corrupt JPEG: the scan at byte "), Error);
  // The same behind FF fill bytes before the JPEG's first marker, which stb skips.
  CHECK_THROWS_WITH_AS(
      decode("fill.jpg", test::fuzz_file_bytes("fuzz_image", "jpeg-dht-after-fill-bytes")),
      doctest::Contains("fill.jpg is a corrupt JPEG: a Huffman table at byte "), Error);
  CHECK_THROWS_WITH_AS(
      decode("chunk.png", test::fuzz_file_bytes("fuzz_image", "png-chunk-longer-than-file")),
      contains("image_folder: " + png + " is a truncated or corrupt PNG: the chunk at byte "),
      Error);

  const std::string header = "P5\n10000 10000\n255\n";
  CHECK_THROWS_WITH_AS(decode("huge.pgm", std::vector<uint8_t>(header.begin(), header.end())),
                       contains("huge.pgm has 100000000 pixels, more than the limit of 67108864"),
                       Error);
  // 1028 x 48131 run-length pixels from 33 bytes: stb allocated 200 MB and decoded for seconds.
  const std::string tga = dir.file("rle.tga");
  CHECK_THROWS_WITH_AS(
      decode("rle.tga", test::fuzz_file_bytes("fuzz_image", "tga-49-megapixels-in-33-bytes")),
      contains("image_folder: " + tga + " declares 49478668 pixels, more than its 33 bytes can "
               "hold: the file is truncated or corrupt"),
      Error);
  // A 16-bit PPM read as one channel: stb converted it as 8-bit data, then read past the result.
  CHECK_THROWS_WITH_AS(
      decode("deep.ppm", test::fuzz_file_bytes("fuzz_image", "pnm-16-bit-one-channel")),
      contains("image_folder: " + dir.file("deep.ppm") + " is a 16-bit PNM (maxval 640), which is "
               "not supported"),
      Error);
  const std::string psd = "8BPS\x00\x01";
  CHECK_THROWS_WITH_AS(decode("layers.png", std::vector<uint8_t>(psd.begin(), psd.end())),
                       doctest::Contains("layers.png is a Photoshop image; image folders hold JPEG"),
                       Error);

  // Through an ImageFolder: reading, the shape from the header, and skip_unreadable.
  write_png(dir.new_file("root/cat/ok.png"), 2, 3, 3);
  test::write_bytes(dir.new_file("root/cat/z.jpg"),
                    test::fuzz_file_bytes("fuzz_image", "jpeg-dht-too-many-codes"));
  ImageFolder folder(dir.file("root"));
  CHECK_THROWS_WITH_AS(read(folder, 1), doctest::Contains("is a corrupt JPEG"), Error);
  CHECK_THROWS_WITH_AS(folder.shape_of(1), doctest::Contains("is a corrupt JPEG"), Error);
  CHECK(ImageFolder(dir.file("root"), {.skip_unreadable = true}).size() == 1);
}

// Found by tests/fuzz/fuzz_image.cpp: stb decodes a PNM header of height 0 to an empty image,
// which the resize then read outside of (a heap-buffer-overflow under ASan).
TEST_CASE("image_folder: an image of width or height 0 is a named error") {
  TempDir dir;
  const std::string path = dir.new_file("empty.ppm");
  test::write_bytes(path, test::fuzz_file_bytes("fuzz_image", "pnm-zero-height-resized"));
  for (const int64_t size : {0, 5}) {
    Image img;
    CHECK_THROWS_WITH_AS(decode_image_file(path, 3, size, size, img),
                         contains("image_folder: " + path + " is 0x40: an image without pixels"),
                         Error);
  }
}

// Indexing with skip_unreadable and shape_of read every file whole before (a 140 GB dataset at
// startup); they now read its first 64 KiB, four times more while stb finds no header there.
// A PNG whose header is fine but whose chunk past 1 MiB is longer than the file is indexed and
// has a shape (the tail is not read) and fails only when decoded; a JPEG with 256 KiB of
// metadata before its frame header is still indexed.
TEST_CASE("image_folder: indexing and shape_of read a file's start and decoding reads it all") {
  TempDir dir;
  write_png(dir.new_file("root/cat/c.png"), 2, 3, 3);

  const std::string png = dir.new_file("root/cat/a.png");
  write_png(png, 5, 6, 3);
  std::vector<uint8_t> bytes = test::read_bytes(png);
  const size_t after_ihdr = 8 + 25, text_bytes = size_t(1) << 20;
  std::vector<uint8_t> text = {0, 0x10, 0, 0, 't', 'E', 'X', 't'};  // length 2^20
  text.resize(text.size() + text_bytes + 4, 'x');                   // data, then a CRC stb skips
  bytes.insert(bytes.begin() + std::ptrdiff_t(after_ihdr), text.begin(), text.end());
  const size_t bad_chunk = after_ihdr + text.size();
  bytes[bad_chunk] = 0x7F;  // the next chunk (IDAT) now declares 2 GB
  test::write_bytes(png, bytes);

  const std::string jpg = dir.new_file("root/cat/b.jpg");
  std::vector<uint8_t> flat(8 * 8 * 3, 120);
  REQUIRE(stbi_write_jpg(jpg.c_str(), 8, 8, 3, flat.data(), 95));
  bytes = test::read_bytes(jpg);
  std::vector<uint8_t> app = {0xFF, 0xEF, 0xFF, 0xFF};  // an APP15 segment of 65535 bytes
  app.resize(2 + 65535, 0);
  for (int i = 0; i < 4; ++i) bytes.insert(bytes.begin() + 2, app.begin(), app.end());
  test::write_bytes(jpg, bytes);

  for (const bool skip : {false, true}) {
    ImageFolder folder(dir.file("root"), {.skip_unreadable = skip});
    REQUIRE(folder.size() == 3);
    CHECK(folder.skipped().empty());
    CHECK(folder.shape_of(0) == ImageShape{3, 5, 6});
    CHECK(folder.shape_of(1) == ImageShape{3, 8, 8});
    CHECK_THROWS_WITH_AS(read(folder, 0),
                         contains("image_folder: " + png + " is a truncated or corrupt PNG: the " +
                                  "chunk at byte " + std::to_string(bad_chunk) + " declares"),
                         Error);
    const Image img = read(folder, 1);
    CHECK(img.shape() == ImageShape{3, 8, 8});
    CHECK(int(at(img, 0, 4, 4)) == doctest::Approx(120).epsilon(0.02));
  }
}
