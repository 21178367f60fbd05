#include "engine/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>

namespace fovea::data {

namespace {

constexpr uint8_t kUnsignedByte = 0x08;
constexpr int64_t kMaxBytes = int64_t(1) << 36;  // 64 GiB: beyond that the header is garbage

const char* idx_type_name(uint8_t t) {
  switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

// A gzip (or, transparently, plain) file open for reading; closes itself.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    FOVEA_CHECK(std::filesystem::is_regular_file(path), "idx: ", path,
                std::filesystem::exists(path) ? " is not a regular file" : " does not exist");
    file_ = gzopen(path.c_str(), "rb");
    FOVEA_CHECK(file_ != nullptr, "idx: cannot open ", path, ": ", std::strerror(errno));
    gzbuffer(file_, 1 << 18);
  }
  ~GzFile() { gzclose(file_); }
  const std::string& path() const { return path_; }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to n bytes; returns how many there were. Corrupt compressed data is an error.
  int64_t read(void* dst, int64_t n) {
    int64_t got = 0;
    while (got < n) {
      const unsigned chunk = unsigned(std::min<int64_t>(n - got, 1 << 30));
      const int r = gzread(file_, static_cast<char*>(dst) + got, chunk);
      if (r < 0) fail_corrupt();
      if (r == 0) break;
      got += r;
    }
    // zlib reports a stream cut short (or a bad CRC at its end) through gzerror, not gzread.
    int code = Z_OK;
    gzerror(file_, &code);
    if (code != Z_OK) fail_corrupt();
    return got;
  }

 private:
  [[noreturn]] void fail_corrupt() {
    int code = Z_OK;
    const char* raw = gzerror(file_, &code);
    std::string msg = raw ? raw : "unknown error";
    if (msg.rfind(path_ + ": ", 0) == 0) msg.erase(0, path_.size() + 2);  // zlib repeats the path
    FOVEA_CHECK(code != Z_BUF_ERROR, "idx: ", path_, " is truncated: the gzip stream ends early (zlib: ",
                msg, ")");
    FOVEA_FAIL("idx: ", path_, " is not a valid gzip file or is corrupt (zlib: ", msg, ")");
  }

  std::string path_;
  gzFile file_ = nullptr;
};

// Up to n bytes, in chunks that double, so that a header declaring more data than the file holds
// is reported as truncated without first allocating what it declares. read_idx has checked n
// against the available memory; a vector is not tensor memory, so the allocator's guard does not
// see it, and a refused allocation is an error naming the file instead of std::bad_alloc.
std::vector<uint8_t> read_growing(GzFile& file, int64_t n) {
  std::vector<uint8_t> out;
  int64_t got = 0;
  try {
    while (got < n) {
      const int64_t want = std::min(n - got, std::max<int64_t>(got, 1 << 20));
      out.resize(size_t(got + want));
      const int64_t r = file.read(out.data() + got, want);
      got += r;
      if (r < want) break;
    }
  } catch (const std::bad_alloc&) {
    FOVEA_FAIL("idx: ", file.path(), ": out of memory reading ", n, " bytes of data (", got,
               " read)");
  }
  out.resize(size_t(got));
  return out;
}

}  // namespace

IdxArray read_idx(const std::string& path, CpuCachingAllocator::MemoryProbe available_memory) {
  GzFile file(path);
  uint8_t header[4];
  const int64_t got_header = file.read(header, 4);
  FOVEA_CHECK(got_header == 4, "idx: ", path, " is truncated: expected a 4-byte header, got ",
              got_header, " bytes");
  FOVEA_CHECK(header[0] == 0 && header[1] == 0, "idx: ", path, " has a wrong magic number (",
              "first bytes ", int(header[0]), " ", int(header[1]), ", expected 0 0): not an IDX file");
  FOVEA_CHECK(header[2] == kUnsignedByte, "idx: ", path, " holds elements of type byte ",
              int(header[2]), " (", idx_type_name(header[2]),
              "); only 8 (0x08, unsigned byte) is supported");
  const int ndim = header[3];
  FOVEA_CHECK(ndim >= 1, "idx: ", path, " declares 0 dimensions");

  std::vector<uint8_t> raw(size_t(4 * ndim));
  const int64_t got_dims = file.read(raw.data(), 4 * ndim);
  FOVEA_CHECK(got_dims == 4 * ndim, "idx: ", path, " is truncated: expected ", 4 * ndim,
              " bytes of dimensions, got ", got_dims);
  IdxArray out;
  // The product of the dims with a 0 counted as 1 bounds every size and stride computed from
  // them; it is checked before each multiplication so that it cannot overflow.
  int64_t extent = 1;
  bool empty = false;
  for (int d = 0; d < ndim; ++d) {
    const uint8_t* b = raw.data() + 4 * d;
    const int64_t size = (int64_t(b[0]) << 24) | (int64_t(b[1]) << 16) | (int64_t(b[2]) << 8) | b[3];
    FOVEA_CHECK(std::max<int64_t>(size, 1) <= kMaxBytes / extent, "idx: ", path,
                " declares an implausible size (dims so far ", shape_str(out.dims), " then ", size,
                ")");
    extent *= std::max<int64_t>(size, 1);
    empty = empty || size == 0;
    out.dims.push_back(size);
  }
  const int64_t total = empty ? 0 : extent;
  // A gzip file of a few KiB may declare (and hold) gigabytes; Linux would hand them out and the
  // OOM killer end the process while they are filled.
  const size_t available = available_memory();
  FOVEA_CHECK(uint64_t(total) <= available, "idx: ", path, " declares ", total,
              " bytes of data (dims ", shape_str(out.dims), "), more than the ", available,
              " bytes of memory available");

  out.data = read_growing(file, total);
  FOVEA_CHECK(int64_t(out.data.size()) == total, "idx: ", path, " is truncated: expected ", total,
              " bytes of data for dims ", shape_str(out.dims), ", got ", out.data.size());
  uint8_t extra[1];
  FOVEA_CHECK(file.read(extra, 1) == 0, "idx: ", path, " has trailing data after the ", total,
              " bytes that dims ", shape_str(out.dims), " declare");
  return out;
}

namespace {

// "<dir>/<stem>.gz" when it exists, else "<dir>/<stem>" (read_idx reports which is missing).
std::string find_file(const std::string& dir, const std::string& stem) {
  const std::filesystem::path base = std::filesystem::path(dir) / stem;
  const std::string gz = base.string() + ".gz";
  return std::filesystem::exists(gz) || !std::filesystem::exists(base) ? gz : base.string();
}

std::shared_ptr<InMemoryDataset> load_mnist_layout(const std::string& dir, bool train,
                                                   const char* what) {
  FOVEA_CHECK(std::filesystem::is_directory(dir), what, ": data directory ", dir,
              " does not exist");
  const std::string split = train ? "train" : "t10k";
  const std::string image_path = find_file(dir, split + "-images-idx3-ubyte");
  const std::string label_path = find_file(dir, split + "-labels-idx1-ubyte");
  IdxArray images = read_idx(image_path);
  IdxArray labels = read_idx(label_path);
  FOVEA_CHECK(images.dims.size() == 3, "idx: ", image_path, " should hold images [N, H, W], has dims ",
              shape_str(images.dims));
  FOVEA_CHECK(labels.dims.size() == 1, "idx: ", label_path, " should hold labels [N], has dims ",
              shape_str(labels.dims));
  FOVEA_CHECK(images.dims[0] == labels.dims[0], "idx: ", image_path, " holds ", images.dims[0],
              " images but ", label_path, " holds ", labels.dims[0], " labels");
  std::vector<int64_t> label_values(labels.data.begin(), labels.data.end());
  for (size_t i = 0; i < label_values.size(); ++i)
    FOVEA_CHECK(label_values[i] < 10, "idx: ", label_path, ": label ", label_values[i],
                " of example ", i, " is not a class of 0..9");
  return std::make_shared<InMemoryDataset>(std::move(images.data), std::move(label_values),
                                           std::array<int64_t, 3>{1, images.dims[1], images.dims[2]},
                                           10, std::string(what) + " " + split);
}

}  // namespace

std::shared_ptr<InMemoryDataset> load_mnist(const std::string& dir, bool train) {
  return load_mnist_layout(dir, train, "mnist");
}

std::shared_ptr<InMemoryDataset> load_fashion_mnist(const std::string& dir, bool train) {
  return load_mnist_layout(dir, train, "fashion-mnist");
}

}  // namespace fovea::data
