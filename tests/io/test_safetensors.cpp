// safetensors: round trips of every dtype and layout, the exact bytes of the public format in
// both directions, every class of broken file, and the atomic write (a failed write leaves the
// previous file and no temp file).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstring>

#include "engine/fovea.h"
#include "io/io_support.h"
#include "support/fuzz_regressions.h"

using namespace fovea;
using namespace fovea::io;
using test::contains;
using test::identical;
using test::TempDir;
using namespace std::string_literals;

namespace {

std::vector<uint8_t> le_u64(uint64_t v) {
  std::vector<uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(v >> (8 * i)));
  return out;
}

// A file of the given header text (unpadded unless the text is) and `buffer_bytes` zero bytes.
void craft(const std::string& path, const std::string& header, size_t buffer_bytes) {
  std::vector<uint8_t> bytes = le_u64(header.size());
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.resize(bytes.size() + buffer_bytes, 0);
  test::write_bytes(path, bytes);
}

std::vector<std::string> names(const NamedTensors& tensors) {
  std::vector<std::string> out;
  for (const auto& t : tensors) out.push_back(t.first);
  return out;
}

// Lowers the largest file this process may write; a write past it fails with EFBIG. That is a
// real I/O failure in the middle of a save (like a full disk), without any test hook.
struct FileSizeLimit {
  rlimit old{};
  void (*old_handler)(int);
  explicit FileSizeLimit(rlim_t bytes) {
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
    old_handler = signal(SIGXFSZ, SIG_IGN);  // else the kernel kills the process
    rlimit lower = old;
    lower.rlim_cur = bytes;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lower) == 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_handler);
  }
};

}  // namespace

TEST_CASE("safetensors: float32, float64 and int64 tensors round trip in order with metadata") {
  TempDir dir;
  const Tensor matrix = from_values({1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float32);
  Tensor param = randn({3, 4}, DType::Float32);
  param.set_requires_grad(true);
  const NamedTensors tensors = {
      {"z.weight", randn({4, 2, 3}, DType::Float64)},
      {"a.bias", from_values({-1.5, 0.25}, {2}, DType::Float32)},
      {"labels", from_vector<int64_t>({-3, 0, int64_t(1) << 60}, {3})},
      {"scalar", scalar_tensor(-7.125, DType::Float64)},
      {"scalar_int", scalar_tensor(42, DType::Int64)},
      {"empty", empty({0}, DType::Float32)},
      {"empty_3d", empty({2, 0, 3}, DType::Int64)},
      {"transposed", matrix.t()},                                 // non-contiguous
      {"strided", arange(10, DType::Float64).slice(0, 1, 9, 3)},  // offset and stride 3
      {"param", param},                                           // requires grad
  };
  const std::map<std::string, std::string> metadata = {{"format", "test"}, {"note", "é ünïcode"}};
  const std::string path = dir.file("t.safetensors");
  save_safetensors(path, tensors, metadata);

  const SafetensorsFile loaded = load_safetensors(path);
  CHECK(names(loaded.tensors) == names(tensors));  // caller order, empty tensors included
  CHECK(loaded.metadata == metadata);
  for (size_t i = 0; i < tensors.size(); ++i) {
    CAPTURE(tensors[i].first);
    const Tensor& got = loaded.tensors[i].second;
    CHECK(identical(got, tensors[i].second));
    // (Tensor::is_contiguous says false for a fresh tensor with a 0 among several dims.)
    if (got.numel() > 0) CHECK(got.is_contiguous());
    CHECK_FALSE(got.requires_grad());
  }
  CHECK(loaded.at("transposed").to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
  CHECK(loaded.at("strided").to_vector<double>() == std::vector<double>{1, 4, 7});
  CHECK(loaded.contains("labels"));
  CHECK_FALSE(loaded.contains("nope"));
  CHECK_THROWS_WITH_AS(loaded.at("nope"), doctest::Contains("SafetensorsFile: no tensor \"nope\""),
                       Error);

  // No metadata: the key is left out, as the reference implementation does.
  save_safetensors(path, {{"x", ones({1})}});
  CHECK(load_safetensors(path).metadata.empty());
  const std::vector<uint8_t> bytes = test::read_bytes(path);
  CHECK(std::string(bytes.begin() + 8, bytes.end()).find("__metadata__") == std::string::npos);
}

TEST_CASE("safetensors: the bytes are exactly the public format") {
  // Built by hand from the specification: u64 LE header length, compact JSON padded with
  // spaces to a multiple of 8, then the little-endian data at the header's offsets.
  const std::string json = R"({"__metadata__":{"format":"test"},)"
                           R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("d":{"dtype":"F64","shape":[1,1],"data_offsets":[8,16]},)"
                           R"("n":{"dtype":"I64","shape":[],"data_offsets":[16,24]}})";
  REQUIRE(json.size() == 197);  // + 3 spaces = 200 = 0xC8
  std::vector<uint8_t> expected = {0xC8, 0, 0, 0, 0, 0, 0, 0};
  expected.insert(expected.end(), json.begin(), json.end());
  expected.insert(expected.end(), {' ', ' ', ' '});
  const std::vector<uint8_t> data = {
      0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC0,  // float32 1.0, -2.5
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xE0, 0x3F,  // float64 0.5
      0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // int64 7
  };
  expected.insert(expected.end(), data.begin(), data.end());
  REQUIRE(expected.size() == 232);

  TempDir dir;
  save_safetensors(dir.file("w.safetensors"),
                   {{"w", from_values({1.0, -2.5}, {2}, DType::Float32)},
                    {"d", from_values({0.5}, {1, 1}, DType::Float64)},
                    {"n", scalar_tensor(7, DType::Int64)}},
                   {{"format", "test"}});
  CHECK(test::read_bytes(dir.file("w.safetensors")) == expected);

  // The same bytes read back; and a file as another writer might lay it out (keys in another
  // order, whitespace, metadata last) reads the same, tensors in buffer order.
  test::write_bytes(dir.file("hand.safetensors"), expected);
  const SafetensorsFile a = load_safetensors(dir.file("hand.safetensors"));
  CHECK(names(a.tensors) == std::vector<std::string>{"w", "d", "n"});
  CHECK(a.at("w").to_vector<float>() == std::vector<float>{1.0f, -2.5f});
  CHECK(a.at("d").shape() == Shape{1, 1});
  CHECK(a.at("d").item() == 0.5);
  CHECK(a.at("n").dim() == 0);
  CHECK(a.at("n").item<int64_t>() == 7);
  CHECK(a.metadata == std::map<std::string, std::string>{{"format", "test"}});

  const std::string other =
      "{ \"n\": {\"data_offsets\": [16, 24], \"shape\": [], \"dtype\": \"I64\"},\n"
      "  \"w\": {\"shape\": [2], \"dtype\": \"F32\", \"data_offsets\": [0, 8]},\n"
      "  \"d\": {\"dtype\": \"F64\", \"data_offsets\": [8, 16], \"shape\": [1, 1]},\n"
      "  \"__metadata__\": {\"format\": \"test\"} }";
  std::vector<uint8_t> reordered = le_u64(other.size());
  reordered.insert(reordered.end(), other.begin(), other.end());
  reordered.insert(reordered.end(), data.begin(), data.end());
  test::write_bytes(dir.file("other.safetensors"), reordered);
  const SafetensorsFile b = load_safetensors(dir.file("other.safetensors"));
  CHECK(names(b.tensors) == std::vector<std::string>{"w", "d", "n"});
  for (const auto& [name, t] : a.tensors) CHECK(identical(b.at(name), t));
  CHECK(b.metadata == a.metadata);
}

TEST_CASE("safetensors: missing, short and truncated files are named errors") {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  CHECK_THROWS_WITH_AS(load_safetensors(path),
                       contains("load_safetensors: " + path + " does not exist"), Error);
  CHECK_THROWS_WITH_AS(load_safetensors(dir.path.string()),
                       contains(dir.path.string() + " is not a regular file"), Error);

  test::write_bytes(path, {1, 0, 0, 0, 0});
  CHECK_THROWS_WITH_AS(load_safetensors(path),
                       contains(path + ": the file is 5 bytes long, too short for the 8-byte"),
                       Error);

  // A file cut short after the header length: the header claims more than there is.
  std::vector<uint8_t> bytes = le_u64(64);
  bytes.insert(bytes.end(), {'{', '}'});
  test::write_bytes(path, bytes);
  CHECK_THROWS_WITH_AS(
      load_safetensors(path),
      contains(path + ": header length 64 is larger than the rest of the file (2 bytes)"), Error);
  test::write_bytes(path, le_u64(~uint64_t(0)));
  CHECK_THROWS_WITH_AS(load_safetensors(path),
                       contains("is larger than the rest of the file (0 bytes)"), Error);

  // A header length within the file but beyond the format's limit is refused before it is
  // read (a sparse file: no disk space is used).
  bytes = le_u64(150'000'000);
  test::write_bytes(path, bytes);
  std::filesystem::resize_file(path, 150'000'100);
  CHECK_THROWS_WITH_AS(load_safetensors(path),
                       contains(path + ": header length 150000000 exceeds the limit of 100000000"),
                       Error);

  // A valid file truncated inside its data.
  save_safetensors(path, {{"x", ones({4}, DType::Float64)}});
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
  CHECK_THROWS_WITH_AS(
      load_safetensors(path),
      contains(path + ": \"x\": data_offsets [0, 32] lie beyond the data buffer (29 bytes)"),
      Error);
}

TEST_CASE("safetensors: every malformed header is a named error") {
  struct Case {
    std::string header;
    size_t buffer_bytes;
    std::string error;
  };
  const std::string ok = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::vector<Case> cases = {
      {"{not json", 0, ": the header is not valid JSON (["},
      {"", 0, ": the header is not valid JSON"},
      {"{\"a\": \"\xff\xfe\"}", 0, ": the header is not valid JSON"},  // invalid UTF-8
      {"{}\0\0"s, 0, ": the header is not valid JSON (a NUL byte at offset 2)"},
      {"[1, 2]", 0, ": the header is JSON but not an object"},
      {"{" + ok + "," + ok + "}", 8, ": the header repeats the key \"a\""},
      {R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8,
       ": the header repeats the key \"dtype\""},
      {R"({"a":[1]})", 0, ": \"a\" is not an object: [1]"},
      {R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8, ": \"a\" has no \"dtype\""},
      {R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8, ": \"a\" has no \"shape\""},
      {R"({"a":{"dtype":"F32","shape":[2]}})", 8, ": \"a\" has no \"data_offsets\""},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8,
       ": \"a\" has an unexpected field \"x\""},
      {R"({"a":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", 8,
       ": \"a\": \"dtype\" must be a string, got 32"},
      {R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4,
       ": \"a\" has dtype F16, which fovea does not support (fovea reads F32, F64 and I64)"},
      {R"({"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})", 4,
       ": \"a\" has dtype BF16, which fovea does not support"},
      {R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8,
       ": \"a\" has dtype F33, which is not a safetensors dtype"},
      {R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8,
       ": \"a\": \"shape\" must be an array, got 2"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8,
       ": \"a\": \"shape\" must hold non-negative integers, got -2"},
      {R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8,
       ": \"a\": \"shape\" must hold non-negative integers, got 2.0"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8,
       ": \"a\": shape [4294967296, 4294967296] has too many elements"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8,
       ": \"a\": \"data_offsets\" must be [begin, end], got [0]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}})", 8,
       ": \"a\": \"data_offsets\" must hold non-negative integers, got \"8\""},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", 12,
       ": \"a\": data_offsets [0, 12] do not hold F32 [2] (8 bytes)"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8,
       ": \"a\": data_offsets [8, 0] do not hold F32 [2] (8 bytes)"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 8,
       ": \"a\": data_offsets [8, 16] lie beyond the data buffer (8 bytes)"},
      {"{" + ok + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8,
       ": \"b\": data_offsets [4, 8] overlap those of \"a\""},
      {R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8,
       ": \"b\": data_offsets [4, 8] leave a gap of 4 bytes before them"},
      {"{" + ok + "}", 11,
       ": 3 bytes of trailing data after the last tensor (the tensors end at byte 8 of a 11-byte"},
      {R"({"__metadata__":[1]})", 0, ": \"__metadata__\" must be an object, got [1]"},
      {R"({"__metadata__":{"epoch":3}})", 0,
       ": \"__metadata__\": the value of \"epoch\" must be a string, got 3"},
  };
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  for (const Case& c : cases) {
    CAPTURE(c.header);
    craft(path, c.header, c.buffer_bytes);
    CHECK_THROWS_WITH_AS(load_safetensors(path), contains("load_safetensors: " + path + c.error),
                         Error);
  }
}

TEST_CASE("safetensors: invalid tensors and names are refused before any file is written") {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  const Tensor x = ones({2});
  CHECK_THROWS_WITH_AS(
      save_safetensors(path, {{"a", x}, {"a", x}}),
      contains("save_safetensors: " + path + ": the tensor name \"a\" appears twice"), Error);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"a", Tensor()}}),
                       contains(path + ": \"a\" is undefined"), Error);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"", x}}),
                       contains(path + ": \"\" is not a valid tensor name"), Error);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"__metadata__", x}}),
                       contains(path + ": \"__metadata__\" is not a valid tensor name"), Error);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"bad\xff", x}}),
                       contains(path + ": a tensor name or metadata string is not valid UTF-8"),
                       Error);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"a", x}}, {{"k", "bad\xff"}}),
                       contains(path + ": a tensor name or metadata string is not valid UTF-8"),
                       Error);
  CHECK(dir.listing().empty());
}

TEST_CASE("safetensors: writes are atomic, a failed write keeps the old file and no temp file") {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  const Tensor old_value = from_values({1, 2, 3}, {3});
  save_safetensors(path, {{"x", old_value}}, {{"version", "old"}});
  const std::vector<uint8_t> old_bytes = test::read_bytes(path);
  const std::vector<std::string> only_file = {"ckpt.safetensors"};
  CHECK(dir.listing() == only_file);

  SUBCASE("an overwrite replaces the file and leaves nothing else") {
    save_safetensors(path, {{"y", ones({5})}}, {{"version", "new"}});
    CHECK(dir.listing() == only_file);
    CHECK(load_safetensors(path).metadata.at("version") == "new");
  }
  SUBCASE("an I/O error in the middle of the data (file size limit: EFBIG)") {
    {
      FileSizeLimit limit(4096);
      CHECK_THROWS_WITH_AS(save_safetensors(path, {{"big", zeros({100000})}}),
                           contains("save_safetensors: writing " + path + ".tmp."), Error);
    }
    CHECK(test::read_bytes(path) == old_bytes);
    CHECK(identical(load_safetensors(path).at("x"), old_value));
    CHECK(dir.listing() == only_file);
  }
  SUBCASE("a tensor that cannot be written") {
    CHECK_THROWS_AS(save_safetensors(path, {{"x", ones({2})}, {"bad", Tensor()}}), Error);
    CHECK(test::read_bytes(path) == old_bytes);
    CHECK(dir.listing() == only_file);
  }
  SUBCASE("the rename fails (the target is a directory): the temp file is removed") {
    const std::string target = dir.file("sub");
    std::filesystem::create_directories(std::filesystem::path(target) / "inside");
    CHECK_THROWS_WITH_AS(save_safetensors(target, {{"x", ones({2})}}),
                         contains("save_safetensors: cannot rename " + target + ".tmp."), Error);
    CHECK(dir.listing() == std::vector<std::string>{"ckpt.safetensors", "sub"});
  }
  SUBCASE("a missing directory") {
    const std::string missing = dir.file("no/such/dir/c.safetensors");
    CHECK_THROWS_WITH_AS(save_safetensors(missing, {{"x", ones({2})}}),
                         contains("save_safetensors: cannot write " + missing + ": the directory " +
                                  dir.file("no/such/dir") + " does not exist"),
                         Error);
    CHECK_THROWS_WITH_AS(save_safetensors(path + "/c.safetensors", {{"x", ones({2})}}),
                         contains("the directory " + path + " is not a directory"), Error);
    CHECK(dir.listing() == only_file);
  }
}

TEST_CASE("safetensors: corrupted bytes and truncations give fovea::Error or valid tensors") {
  TempDir dir;
  const std::string path = dir.file("fuzz.safetensors");
  save_safetensors(path,
                   {{"a", from_values({1, 2, 3, 4}, {2, 2}, DType::Float64)},
                    {"b", from_vector<int64_t>({5, 6}, {2})},
                    {"c", empty({0}, DType::Float32)}},
                   {{"k", "v"}});
  const std::vector<uint8_t> good = test::read_bytes(path);
  // Anything but a fovea::Error (a crash, std::bad_alloc, a json exception) fails the test.
  auto survives = [&](const std::vector<uint8_t>& bytes) {
    test::write_bytes(path, bytes);
    try {
      for (const auto& [name, t] : load_safetensors(path).tensors) t.to_vector<double>();
    } catch (const Error&) {
    }
  };
  for (size_t n = 0; n < good.size(); ++n)
    survives(std::vector<uint8_t>(good.begin(), good.begin() + std::ptrdiff_t(n)));
  Generator gen(17);
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<uint8_t> bytes = good;
    const int flips = 1 + int(gen.randint(3));
    for (int f = 0; f < flips; ++f)
      bytes[size_t(gen.randint(int64_t(bytes.size())))] = uint8_t(gen.randint(256));
    survives(bytes);
  }
}

// An empty tensor whose other dims multiply past int64 overflowed computing its strides
// (undefined behaviour, found by reading the code behind tests/fuzz/fuzz_safetensors.cpp);
// a header of a million '[' overflowed the stack when dumped into an error message. The files
// are also the target's saved inputs (tests/fuzz/regressions/fuzz_safetensors/; the deep one
// nests 4000 levels, to fit the fuzz runs' 8 KiB inputs).
TEST_CASE("safetensors: empty shapes whose strides overflow and deep headers are named errors") {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  test::write_bytes(path, test::fuzz_input("fuzz_safetensors", "empty-shape-strides-overflow"));
  CHECK_THROWS_WITH_AS(load_safetensors(path),
                       contains(path + ": \"a\": shape [0, 4611686018427387904, 4] has too many "
                                       "elements"),
                       Error);
  craft(path, R"({"a":{"dtype":"F32","shape":[0,2,3],"data_offsets":[0,0]}})", 0);
  CHECK(load_safetensors(path).at("a").shape() == Shape{0, 2, 3});

  test::write_bytes(path, test::fuzz_input("fuzz_safetensors", "header-nested-4000-deep"));
  CHECK_THROWS_WITH_AS(load_safetensors(path),
                       contains(path + ": the header nests deeper than 64 levels"), Error);
  const size_t depth = 1'000'000;
  craft(path, "{\"a\":" + std::string(depth, '[') + std::string(depth, ']') + "}", 0);
  CHECK_THROWS_WITH_AS(load_safetensors(path),
                       contains(path + ": the header nests deeper than 64 levels"), Error);
}
