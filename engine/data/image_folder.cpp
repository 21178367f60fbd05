#include "engine/data/image_folder.h"

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include "engine/core/error.h"
#include "engine/data/dataset.h"
#include "engine/data/image_bytes.h"

namespace fovea::data {

namespace fs = std::filesystem;

namespace {

const char* const kExtensions[] = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tga", ".gif"};
constexpr const char* kExtensionList = ".jpg, .jpeg, .png, .bmp, .ppm, .pgm, .tga, .gif";

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return std::find(std::begin(kExtensions), std::end(kExtensions), ext) != std::end(kExtensions);
}

std::string failure_reason() {
  const char* why = stbi_failure_reason();
  return why ? why : "unknown error";
}

// stb accepts a PNM header of width or height 0 and returns an empty image, which the resize
// (and every transform after it) would read outside of.
void check_has_pixels(const std::string& path, int w, int h) {
  FOVEA_CHECK(w > 0 && h > 0, "image_folder: ", path, " is ", h, "x", w,
              ": an image without pixels");
}

// How much of a file indexing (skip_unreadable) and shape_of read first. The header of a PNG,
// GIF, BMP, PNM or TGA is in its first bytes; a JPEG's frame header comes after its metadata
// (EXIF, ICC profile, XMP), which is rarely more. Decoding reads the whole file.
constexpr uint64_t kHeaderBytes = uint64_t(64) << 10;
constexpr uint64_t kWholeFile = UINT64_MAX;

// The first bytes of an image file (`head`: a prefix, or the whole file when decoding), checked
// by check_image_bytes (an Error when refused), with the size stb finds in them; ok is false when
// stb cannot read that (failure_reason() says why). Shapes come from here too, not from
// stbi_info on the path: stb parses a JPEG's Huffman tables before its size, so even reading a
// header needs the checks.
struct ImageHeader {
  std::vector<uint8_t> head;
  uint64_t file_size = 0;
  int w = 0, h = 0, channels = 0;
  bool ok = false;
};

// Reads the first `first_bytes` of the file (all of it when smaller) and runs the checks and
// stbi_info on them. When stb finds no header there, four times as much is read, up to the whole
// file, so that a header after much metadata is still found (and a file stb cannot identify is
// read whole, once). The checks see only the head: on a prefix, the JPEG tables and PNG chunks in
// it, which is all stbi_info reads; on the whole file (kWholeFile, before decoding), everything.
// Not io::read_file (engine/io/file.h), which reads whole files: this one reads a bounded prefix
// that grows, and needs the file's size first (the PNG check measures chunks against it).
ImageHeader read_header(const std::string& path, uint64_t first_bytes) {
  ImageHeader out;
  std::error_code ec;
  out.file_size = fs::file_size(path, ec);
  FOVEA_CHECK(!ec, "image_folder: cannot read ", path, ": ", ec.message());
  FOVEA_CHECK(out.file_size <= uint64_t(INT_MAX), "image_folder: ", path, " is ", out.file_size,
              " bytes, more than an image file may be (2 GiB)");
  std::ifstream f(path, std::ios::binary);
  FOVEA_CHECK(f.good(), "image_folder: cannot read ", path, ": ", std::strerror(errno));
  for (uint64_t want = std::min(first_bytes, out.file_size);;
       want = std::min(want * 4, out.file_size)) {
    const size_t have = out.head.size();
    out.head.resize(size_t(want));
    f.read(reinterpret_cast<char*>(out.head.data() + have), std::streamsize(want - have));
    FOVEA_CHECK(f.gcount() == std::streamsize(want - have), "image_folder: cannot read ", path,
                ": got ", have + size_t(f.gcount()), " of its ", out.file_size, " bytes");
    check_image_bytes(out.head, out.file_size, path);
    out.ok = stbi_info_from_memory(out.head.data(), int(out.head.size()), &out.w, &out.h,
                                   &out.channels) != 0;
    if (out.ok || want == out.file_size) break;
  }
  if (out.ok) check_has_pixels(path, out.w, out.h);
  return out;
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
      for (int64_t i = begin; i < end; ++i)
        decode_image_file(files_[size_t(i)], options_.channels, options_.height, options_.width,
                          cache[size_t(i)]);
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
        std::string why;
        try {
          if (!read_header(f, kHeaderBytes).ok) why = failure_reason();
        } catch (const Error& e) {
          why = e.what();
        }
        if (why.empty()) {
          kept.push_back(f);
        } else {
          std::cerr << "image_folder: warning: skipping " << f << ": " << why << "\n";
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
  const ImageHeader header = read_header(f, kHeaderBytes);
  FOVEA_CHECK(header.ok, "image_folder: cannot read the header of ", f, ": ", failure_reason());
  return {options_.channels, header.h, header.w};
}

void ImageFolder::read(int64_t index, Image& out) const {
  check_index(index);
  if (cache_.empty()) {
    decode_image_file(files_[size_t(index)], options_.channels, options_.height, options_.width,
                      out);
  } else {
    const Image& img = cache_[size_t(index)];
    out.reshape(img.c, img.h, img.w);
    std::copy(img.data.begin(), img.data.end(), out.data.begin());
  }
}

void decode_image_file(const std::string& path, int64_t channels, int64_t height, int64_t width,
                       Image& out) {
  FOVEA_CHECK(channels == 1 || channels == 3, "image_folder: channels must be 1 or 3, got ",
              channels);
  FOVEA_CHECK(height >= 0 && width >= 0 && height <= kMaxImagePixels && width <= kMaxImagePixels &&
                  height * width <= kMaxImagePixels,
              "image_folder: cannot resize to ", height, "x", width, " (at most ", kMaxImagePixels,
              " pixels)");
  const ImageHeader file = read_header(path, kWholeFile);
  FOVEA_CHECK(file.ok, "image_folder: cannot decode ", path, ": ", failure_reason());
  check_pixel_count(file.head, file.file_size, int64_t(file.w) * file.h, path);
  const int c = int(channels);
  int w = 0, h = 0, file_channels = 0;
  std::unique_ptr<uint8_t, void (*)(void*)> px(
      stbi_load_from_memory(file.head.data(), int(file.head.size()), &w, &h, &file_channels, c),
      stbi_image_free);
  FOVEA_CHECK(px != nullptr, "image_folder: cannot decode ", path, ": ", failure_reason());
  check_has_pixels(path, w, h);
  const uint8_t* hwc = px.get();
  std::vector<uint8_t> resized;
  if (height > 0 && width > 0 && (h != height || w != width)) {
    const int oh = int(height), ow = int(width);
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
