#include "engine/data/cifar.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace fovea::data {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

struct Layout {
  std::string what;                 // error prefix and dataset name
  std::string folder;               // the batches folder's official name
  std::vector<std::string> train, test;
  int64_t label_byte;               // which label byte is the label used
  std::string names_file;
  // Every label byte's name and range, in record order (CIFAR-100 checks both labels,
  // whichever is used).
  std::vector<std::pair<std::string, int64_t>> label_ranges;

  int64_t label_bytes() const { return int64_t(label_ranges.size()); }  // before the pixels
  int64_t classes() const { return label_ranges[size_t(label_byte)].second; }
};

Layout cifar10_layout() {
  return {"cifar10", "cifar-10-batches-bin",
          {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
           "data_batch_5.bin"},
          {"test_batch.bin"}, 0, "batches.meta.txt", {{"label", 10}}};
}

Layout cifar100_layout(bool coarse) {
  return {"cifar100", "cifar-100-binary", {"train.bin"}, {"test.bin"}, coarse ? 0 : 1,
          coarse ? "coarse_label_names.txt" : "fine_label_names.txt",
          {{"coarse label", 20}, {"fine label", 100}}};
}

// `dir` itself when it holds the split's first file, else its child with the official name
// when there is one, else `dir` (whose missing files are then reported).
fs::path batches_folder(const std::string& dir, const Layout& L, bool train) {
  FOVEA_CHECK(fs::is_directory(dir), L.what, ": data directory ", dir,
              fs::exists(dir) ? " is not a directory" : " does not exist");
  const fs::path d(dir);
  const std::string& first = train ? L.train.front() : L.test.front();
  if (!fs::exists(d / first) && fs::is_directory(d / L.folder)) return d / L.folder;
  return d;
}

void read_records(const fs::path& path, const Layout& L, std::vector<uint8_t>& pixels,
                  std::vector<int64_t>& labels) {
  const std::string p = path.string();
  FOVEA_CHECK(fs::exists(path), L.what, ": ", p, " does not exist (the data directory should be ",
              "the ", L.folder, " folder or the folder that holds it)");
  FOVEA_CHECK(fs::is_regular_file(path), L.what, ": ", p, " is not a regular file");
  const int64_t record = L.label_bytes() + kPixels;
  const int64_t size = int64_t(fs::file_size(path));
  FOVEA_CHECK(size > 0, L.what, ": ", p, " is empty");
  FOVEA_CHECK(size % record == 0, L.what, ": ", p, " is truncated: its size ", size,
              " bytes is not a whole number of ", record, "-byte records (", size / record,
              " records and ", size % record, " bytes)");
  std::vector<uint8_t> buf(size_t(size), 0);
  std::ifstream f(path, std::ios::binary);
  FOVEA_CHECK(f.good(), L.what, ": cannot open ", p, ": ", std::strerror(errno));
  f.read(reinterpret_cast<char*>(buf.data()), std::streamsize(size));
  FOVEA_CHECK(f.gcount() == size, L.what, ": ", p, " is truncated: read ", f.gcount(), " of ",
              size, " bytes");

  const int64_t n = size / record;
  const size_t at = pixels.size();
  pixels.resize(at + size_t(n * kPixels));
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* rec = buf.data() + r * record;
    for (int64_t k = 0; k < L.label_bytes(); ++k) {
      const auto& [name, limit] = L.label_ranges[size_t(k)];
      FOVEA_CHECK(rec[k] < limit, L.what, ": ", p, ": record ", r, " has ", name, " ", int(rec[k]),
                  ", outside 0..", limit - 1);
    }
    labels.push_back(rec[L.label_byte]);
    std::memcpy(pixels.data() + at + size_t(r * kPixels), rec + L.label_bytes(), size_t(kPixels));
  }
}

// The non-empty lines of the names file, or none when it is absent.
std::vector<std::string> read_names(const fs::path& path, const Layout& L) {
  if (!fs::exists(path)) return {};
  std::ifstream f(path);
  FOVEA_CHECK(f.good(), L.what, ": cannot open ", path.string(), ": ", std::strerror(errno));
  std::vector<std::string> names;
  for (std::string line; std::getline(f, line);) {
    const std::string name = trim(line);
    if (!name.empty()) names.push_back(name);
  }
  FOVEA_CHECK(int64_t(names.size()) == L.classes(), L.what, ": ", path.string(), " lists ",
              names.size(), " class names, expected ", L.classes());
  return names;
}

std::shared_ptr<InMemoryDataset> load(const std::string& dir, bool train, const Layout& L) {
  const fs::path folder = batches_folder(dir, L, train);
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const std::string& file : train ? L.train : L.test)
    read_records(folder / file, L, pixels, labels);
  auto ds = std::make_shared<InMemoryDataset>(std::move(pixels), std::move(labels),
                                              ImageShape{3, 32, 32}, L.classes(),
                                              L.what + (train ? " train" : " test"));
  ds->set_class_names(read_names(folder / L.names_file, L));
  return ds;
}

}  // namespace

std::shared_ptr<InMemoryDataset> load_cifar10(const std::string& dir, bool train) {
  return load(dir, train, cifar10_layout());
}

std::shared_ptr<InMemoryDataset> load_cifar100(const std::string& dir, bool train,
                                               bool coarse_labels) {
  return load(dir, train, cifar100_layout(coarse_labels));
}

}  // namespace fovea::data
