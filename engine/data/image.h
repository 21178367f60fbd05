// 8-bit images and the sources that produce them, plus the pixel operations transforms are
// built from.
//
// Augmentation runs on bytes, not floats: a crop or a flip moves a quarter of the memory, and
// the one conversion to float (with normalisation, through a 256-entry table per channel)
// happens last, straight into the batch. Images are planar, [C, H, W] like the tensors they
// become; decoders that produce interleaved pixels convert once when they read.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace fovea::data {

using ImageShape = std::array<int64_t, 3>;  // {C, H, W}

// The most pixels (H x W) of an image that fovea decodes or a transform makes: 2^26, 8192 x 8192
// (PIL refuses images past 2^27 pixels as decompression bombs). It keeps every size computed
// from image sides far from overflowing and a bad header or option from allocating gigabytes.
constexpr int64_t kMaxImagePixels = int64_t(1) << 26;

struct Image {
  int64_t c = 0, h = 0, w = 0;
  std::vector<uint8_t> data;  // c * h * w bytes, planar

  // Sets the shape and sizes `data` (keeping its capacity, so a reused Image stops allocating).
  void reshape(int64_t channels, int64_t height, int64_t width);
  ImageShape shape() const { return {c, h, w}; }
  uint8_t* plane(int64_t ch) { return data.data() + ch * h * w; }
  const uint8_t* plane(int64_t ch) const { return data.data() + ch * h * w; }
};

// Labelled 8-bit images: what a transform pipeline (transforms.h) reads. InMemoryDataset
// (CIFAR, MNIST) and ImageFolder (JPEG/PNG/BMP files) are ImageSources.
class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t index) const = 0;
  // Image `index` into `out` (reshaped as needed). Called from several threads at once.
  virtual void read(int64_t index, Image& out) const = 0;
  // {C, H, W}; H and W are 0 when the images differ in size.
  virtual ImageShape image_shape() const = 0;
  // The shape of image `index`, without decoding it where the format allows.
  virtual ImageShape shape_of(int64_t index) const { return image_shape(); }
  virtual int64_t num_classes() const = 0;
  // One name per class, or none when the source has no names.
  virtual const std::vector<std::string>& class_names() const;
};

// Bytes to normalised floats, value = (byte / 255 - mean[c]) / std[c] (torchvision's ToTensor
// then Normalize), through a 256-entry table per channel: one table for all channels when mean
// and std have one value each.
class Normalizer {
 public:
  // `who` starts error messages. mean and std have 1 value each, or n and (1 or n).
  Normalizer(std::vector<double> mean, std::vector<double> std, const std::string& who);
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& stddev() const { return std_; }
  int64_t channels() const { return int64_t(lut_.size()); }  // 1: the same for every channel
  // Writes the normalised floats of `channels` planes of `plane` bytes each.
  void apply(const uint8_t* src, int64_t channels, int64_t plane, float* out) const;

 private:
  std::vector<double> mean_, std_;
  std::vector<std::array<float, 256>> lut_;
};

// out = the box (top, left, height, width) of `in`; rows and columns outside `in` are zero
// (so a box that starts at -p is a crop of the image zero-padded by p, as torchvision's pad
// followed by crop, and F.crop of a box that leaves the image).
void crop(const Image& in, int64_t top, int64_t left, int64_t height, int64_t width, Image& out);

// Mirrors every row in place (left <-> right).
void flip_horizontal(Image& img);

// out = the box (top, left, height, width) of `in` (inside it) resized to out_h x out_w with
// bilinear interpolation, antialiased when shrinking: PIL's BILINEAR resize of the cropped box,
// bit for bit (its fixed-point arithmetic, rows then columns with an 8-bit result after each),
// which is what torchvision's resized_crop does to a PIL image. A triangle filter whose support
// widens by the scale factor when shrinking; plain bilinear (align_corners=False) when growing.
void resize_bilinear(const Image& in, int64_t top, int64_t left, int64_t height, int64_t width,
                     int64_t out_h, int64_t out_w, Image& out);

}  // namespace fovea::data
