#include "engine/data/image_folder.h"

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include "engine/core/error.h"
#include "engine/data/dataset.h"

namespace fovea::data {

namespace fs = std::filesystem;

namespace {

const char* const kExtensions[] = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tga", ".gif"};
constexpr const char* kExtensionList = ".jpg, .jpeg, .png, .bmp, .ppm, .pgm, .tga, .gif";

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::find(std::begin(kExtensions), std::end(kExtensions), ext) != std::end(kExtensions);
}

std::string failure_reason() {
  const char* why = stbi_failure_reason();
  return why ? why : "unknown error";
}

// The image files under `dir`, in torchvision's order: sorted(os.walk(dir)), then sorted names
// within each folder, i.e. by (folder, name).
std::vector<std::string> image_files(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> found;
  const auto opts = fs::directory_options::follow_directory_symlink;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir, opts))
    if (e.is_regular_file() && is_image_file(e.path()))
      found.emplace_back(e.path().parent_path().string(), e.path().filename().string());
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  out.reserve(found.size());
  for (const auto& [folder, name] : found) out.push_back((fs::path(folder) / name).string());
  return out;
}

// folder -> human-readable name, from lines "<folder><TAB><name>".
std::map<std::string, std::string> read_names_file(const fs::path& path) {
  std::ifstream f(path);
  FOVEA_CHECK(f.good(), "image_folder: cannot open the class names file ", path.string());
  std::map<std::string, std::string> names;
  int line_no = 0;
  for (std::string line; std::getline(f, line);) {
    ++line_no;
    const std::string t = trim(line);
    if (t.empty()) continue;
    size_t sep = t.find('\t');
    if (sep == std::string::npos) sep = t.find(' ');
    FOVEA_CHECK(sep != std::string::npos, "image_folder: ", path.string(), " line ", line_no,
                ": expected '<folder><TAB><name>', got '", t, "'");
    names[trim(t.substr(0, sep))] = trim(t.substr(sep + 1));
  }
  return names;
}

fs::path default_names_file(const fs::path& root) {
  fs::path r = root;
  if (!r.has_filename()) r = r.parent_path();  // "a/b/" names the folder b
  for (const fs::path& candidate : {r / "classes.txt", r.parent_path() / "classes.txt"})
    if (fs::is_regular_file(candidate)) return candidate;
  return {};
}

}  // namespace

ImageFolder::ImageFolder(const std::string& root, ImageFolderOptions options)
    : root_(root), options_(std::move(options)) {
  try {
    index_files();
  } catch (const fs::filesystem_error& e) {  // e.g. a folder it may not read
    FOVEA_FAIL("image_folder: cannot list ", root, ": ", e.what());
  }
  if (options_.cache) {
    std::vector<Image> cache(files_.size());
    detail::parallel_for_rethrow(size(), 1 << 20, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) decode(files_[size_t(i)], cache[size_t(i)]);
    });
    cache_ = std::move(cache);
  }
}

void ImageFolder::index_files() {
  FOVEA_CHECK(options_.channels == 1 || options_.channels == 3,
              "image_folder: channels must be 1 or 3, got ", options_.channels);
  FOVEA_CHECK((options_.height > 0) == (options_.width > 0) && options_.height >= 0 &&
                  options_.width >= 0,
              "image_folder: height and width must both be positive (resize) or both 0 (keep ",
              "each image's size), got ", options_.height, " and ", options_.width);
  FOVEA_CHECK(fs::is_directory(root_), "image_folder: ", root_,
              fs::exists(root_) ? " is not a directory" : " does not exist");

  for (const fs::directory_entry& e : fs::directory_iterator(root_))
    if (e.is_directory()) classes_.push_back(e.path().filename().string());
  std::sort(classes_.begin(), classes_.end());
  FOVEA_CHECK(!classes_.empty(), "image_folder: ", root_, " has no class folders (expected ",
              "<root_>/<class>/<image>)");

  for (size_t c = 0; c < classes_.size(); ++c) {
    const fs::path dir = fs::path(root_) / classes_[c];
    std::vector<std::string> files = image_files(dir);
    if (options_.skip_unreadable) {
      std::vector<std::string> kept;
      for (const std::string& f : files) {
        int w = 0, h = 0, n = 0;
        if (stbi_info(f.c_str(), &w, &h, &n)) {
          kept.push_back(f);
        } else {
          std::cerr << "image_folder: warning: skipping " << f << ": " << failure_reason() << "\n";
          skipped_.push_back(f);
        }
      }
      files = std::move(kept);
    }
    FOVEA_CHECK(!files.empty(), "image_folder: class folder ", dir.string(), " holds no ",
                options_.skip_unreadable ? "readable " : "", "images (", kExtensionList, ")");
    files_.insert(files_.end(), files.begin(), files.end());
    labels_.insert(labels_.end(), files.size(), int64_t(c));
  }

  const fs::path names_file = options_.class_names_file.empty()
                                  ? default_names_file(root_)
                                  : fs::path(options_.class_names_file);
  std::map<std::string, std::string> names;
  if (!names_file.empty()) names = read_names_file(names_file);
  for (const std::string& c : classes_) names_.push_back(names.count(c) ? names[c] : c);
}

void ImageFolder::check_index(int64_t index) const {
  FOVEA_CHECK(index >= 0 && index < size(), "image_folder: index ", index, " is out of range for ",
              size(), " images in ", root_);
}

int64_t ImageFolder::label(int64_t index) const {
  check_index(index);
  return labels_[size_t(index)];
}

const std::string& ImageFolder::path(int64_t index) const {
  check_index(index);
  return files_[size_t(index)];
}

ImageShape ImageFolder::image_shape() const {
  return {options_.channels, options_.height, options_.width};
}

ImageShape ImageFolder::shape_of(int64_t index) const {
  check_index(index);
  if (options_.height > 0) return image_shape();
  if (!cache_.empty()) return cache_[size_t(index)].shape();
  const std::string& f = files_[size_t(index)];
  int w = 0, h = 0, n = 0;
  FOVEA_CHECK(stbi_info(f.c_str(), &w, &h, &n), "image_folder: cannot read the header of ", f,
              ": ", failure_reason());
  return {options_.channels, h, w};
}

void ImageFolder::read(int64_t index, Image& out) const {
  check_index(index);
  if (cache_.empty()) {
    decode(files_[size_t(index)], out);
  } else {
    const Image& img = cache_[size_t(index)];
    out.reshape(img.c, img.h, img.w);
    std::copy(img.data.begin(), img.data.end(), out.data.begin());
  }
}

void ImageFolder::decode(const std::string& path, Image& out) const {
  const int c = int(options_.channels);
  int w = 0, h = 0, file_channels = 0;
  std::unique_ptr<uint8_t, void (*)(void*)> px(stbi_load(path.c_str(), &w, &h, &file_channels, c),
                                              stbi_image_free);
  FOVEA_CHECK(px != nullptr, "image_folder: cannot decode ", path, ": ", failure_reason());
  const uint8_t* hwc = px.get();
  std::vector<uint8_t> resized;
  if (options_.height > 0 && (h != options_.height || w != options_.width)) {
    const int oh = int(options_.height), ow = int(options_.width);
    resized.resize(size_t(oh) * size_t(ow) * size_t(c));
    const int ok = stbir_resize_uint8_generic(
        hwc, w, h, 0, resized.data(), ow, oh, 0, c, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
        STBIR_FILTER_TRIANGLE, STBIR_COLORSPACE_LINEAR, nullptr);
    FOVEA_CHECK(ok, "image_folder: cannot resize ", path, " from ", h, "x", w, " to ", oh, "x", ow);
    hwc = resized.data();
    h = oh, w = ow;
  }
  // Interleaved (H, W, C) -> planar (C, H, W).
  out.reshape(c, h, w);
  const int64_t plane = int64_t(h) * w;
  for (int ch = 0; ch < c; ++ch) {
    uint8_t* dst = out.plane(ch);
    for (int64_t i = 0; i < plane; ++i) dst[i] = hwc[i * c + ch];
  }
}

}  // namespace fovea::data
