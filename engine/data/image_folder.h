// ImageFolder: a folder of images sorted into one sub-folder per class, as torchvision's
// ImageFolder reads it:
//
//   root/<class>/<...>/<file>.{jpg,jpeg,png,bmp,ppm,pgm,tga,gif}   (extensions in any case)
//
// Classes are the sub-folders of root sorted by name (class k is the k-th); files are found
// recursively and ordered as torchvision orders them (by folder, then by name), so index i is
// the same example in both. Files with other extensions are skipped, as torchvision does (a
// README or a .DS_Store in a class folder is not an error); a class folder without images, or a
// root without class folders, is.
//
// Images are decoded by stb_image when read (by the DataLoader's workers), not up front unless
// `cache` asks for it. They become 3 channels (grayscale replicated, alpha dropped, like PIL's
// convert("RGB")) or 1 (luminance) and, when height and width are set, are resized to that
// size with stb_image_resize's triangle (bilinear) filter; otherwise each keeps its size and a
// transform pipeline crops or resizes it (transforms.h). stb's JPEG decoder may differ from
// libjpeg (PIL) by a few units per pixel.
//
// An image that cannot be decoded is an error naming the file when it is read; with
// skip_unreadable, every file's header is checked at construction instead and files stb cannot
// identify are left out with a warning on stderr (a file whose header is fine but whose data is
// corrupt still fails when read). Indexing and shape_of read only the start of each file (64 KiB,
// more when the header lies further in), not the whole dataset.
//
// Human-readable class names come from a names file (lines "<folder><TAB><name>", e.g. Tiny
// ImageNet's wnids), by default classes.txt in root or in its parent when present.
#pragma once

#include <string>
#include <vector>

#include "engine/data/image.h"

namespace fovea::data {

struct ImageFolderOptions {
  int64_t channels = 3;           // 3 (RGB) or 1 (grayscale)
  int64_t height = 0, width = 0;  // both > 0: resize every image to height x width when decoded
  bool cache = false;             // decode every image at construction and keep the bytes
  bool skip_unreadable = false;   // leave out files whose header stb cannot read, with a warning
  std::string class_names_file = {};  // "": classes.txt in root or its parent, if there is one
};

// Decodes the image file at `path` (any format stb_image reads) into `out`, planar with
// `channels` (1 or 3) channels, resized to height x width when both are > 0 (together at most
// kMaxImagePixels, image.h). Larger images are refused from their header, before decoding: a
// few bytes may declare gigabytes of pixels. What ImageFolder reads each file with; every
// failure is a fovea::Error naming the file.
void decode_image_file(const std::string& path, int64_t channels, int64_t height, int64_t width,
                       Image& out);

class ImageFolder : public ImageSource {
 public:
  explicit ImageFolder(const std::string& root, ImageFolderOptions options = {});

  int64_t size() const override { return int64_t(files_.size()); }
  int64_t label(int64_t index) const override;
  void read(int64_t index, Image& out) const override;
  // {channels, height, width} when resizing, else {channels, 0, 0} (sizes vary).
  ImageShape image_shape() const override;
  // Reads the file's header when images keep their own size and are not cached.
  ImageShape shape_of(int64_t index) const override;
  int64_t num_classes() const override { return int64_t(classes_.size()); }
  // The names file's name for each class, or its folder name.
  const std::vector<std::string>& class_names() const override { return names_; }

  const std::string& root() const { return root_; }
  const std::vector<std::string>& classes() const { return classes_; }  // folder names
  const std::string& path(int64_t index) const;
  const std::vector<std::string>& skipped() const { return skipped_; }  // with skip_unreadable

 private:
  void index_files();  // classes, files, labels and names
  void check_index(int64_t index) const;

  std::string root_;
  ImageFolderOptions options_;
  std::vector<std::string> classes_, names_, files_, skipped_;
  std::vector<int64_t> labels_;
  std::vector<Image> cache_;
};

}  // namespace fovea::data
