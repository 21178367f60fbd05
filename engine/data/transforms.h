// Data augmentation: torchvision's image transforms on 8-bit images, composed into a Pipeline
// that ends in per-channel normalisation to float32; TransformedDataset applies a Pipeline to an
// ImageSource.
//
// Reproducible randomness. Every random parameter of example `index` in epoch `epoch` of a run
// with seed `seed` is drawn, in pipeline order, from one Generator made by
// sample_generator(seed, epoch, index), so an augmented example is a pure function of those
// three numbers: it does not depend on which worker thread builds it, on the batch it lands in,
// or on the shuffled order, a resumed run repeats it exactly, and the parameters can be listed
// without touching pixels (TransformedDataset::params, plan.h's epoch plan), for a PyTorch
// script to replay them.
//
// Parameters (Params) are recorded in the convention of torchvision.transforms.functional, so a
// replay applies them directly: a box is (top, left, height, width) in the step's INPUT image,
// applied as F.crop(img, top, left, height, width) (which zero-fills outside the image) or
// F.resized_crop(img, top, left, height, width, size, BILINEAR, antialias=True); a flip as
// F.hflip(img).
//
//   step                        torchvision                        draws (from the generator)
//   RandomCrop(size, pad)       RandomCrop(size, padding=pad)      top, left (0 draws when the
//                                                                  padded image is the crop size)
//   RandomResizedCrop(size, ..) RandomResizedCrop(size, scale,     up to 10 x (area, log ratio)
//                                ratio, BILINEAR, antialias=True)  then top, left; else centre box
//   HorizontalFlip(p)           RandomHorizontalFlip(p)            one uniform u; flip = u < p
//   CenterCrop(size)            CenterCrop(size)                   none (the box is recorded)
//   Resize(size) / (h, w)       Resize(size / (h, w), BILINEAR,    none
//                                antialias=True)
// RandomCrop's box starts at (top - pad, left - pad) relative to the unpadded input, i.e.
// torchvision's RandomCrop.get_params on the padded image returns (top + pad, left + pad).
// Resizing matches PIL bit for bit (see resize_bilinear), so a replay on PIL images of the same
// pixels gives the same bytes (JPEG decoders differ, though: see image_folder.h); torchvision's
// tensor path may differ by a unit after a resize.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/random.h"
#include "engine/data/dataset.h"
#include "engine/data/image.h"

namespace fovea::data {

// The generator for example `index` of epoch `epoch` of a run seeded with `seed`:
//   mix(z) = splitmix64's finaliser (z ^= z >> 30; z *= 0xbf58476d1ce4e5b9; z ^= z >> 27;
//            z *= 0x94d049bb133111eb; z ^= z >> 31)
//   Generator(mix(mix(mix(seed ^ 0xa5a5c0ffee0fd47a) ^ epoch) ^ index))
// Each mix is a bijection, so two examples of one epoch never share a stream.
Generator sample_generator(uint64_t seed, int64_t epoch, int64_t index);

// What one step drew (or computed) for one image; which fields mean something depends on the
// step's kind().
struct Params {
  int64_t top = 0, left = 0, height = 0, width = 0;  // a box in the step's input
  bool flip = false;
  bool operator==(const Params& o) const {
    return top == o.top && left == o.left && height == o.height && width == o.width &&
           flip == o.flip;
  }
};

// One step of a pipeline. Transforms are used from several threads at once, so they keep no
// changing state: what varies per image comes from draw().
class Transform {
 public:
  enum class Kind { Box, Flip, None };  // which Params fields it records

  virtual ~Transform() = default;
  virtual std::string name() const = 0;  // "random_crop", ...
  // Its settings as a JSON object, e.g. {"name":"random_crop","size":[32,32],"padding":4}.
  virtual std::string describe() const = 0;
  virtual Kind kind() const = 0;
  // The shape it makes from an input of shape `in`; H or W 0 means "varies by image" (in `in`
  // and in the result).
  virtual ImageShape output_shape(const ImageShape& in) const = 0;
  // Its parameters for an input of shape `in` (a fixed shape), drawn from `gen`.
  virtual Params draw(const ImageShape& in, Generator& gen) const = 0;
  // Writes the transformed `in` to `out` (another image), or, when in_place(), transforms
  // `in` itself and leaves `out` alone.
  virtual void apply(Image& in, const Params& p, Image& out) const = 0;
  virtual bool in_place() const { return false; }
};

// Pads by `padding` zeros on every side, then takes a random height x width crop.
class RandomCrop : public Transform {
 public:
  RandomCrop(int64_t height, int64_t width, int64_t padding = 0);
  std::string name() const override { return "random_crop"; }
  std::string describe() const override;
  Kind kind() const override { return Kind::Box; }
  ImageShape output_shape(const ImageShape& in) const override;
  Params draw(const ImageShape& in, Generator& gen) const override;
  void apply(Image& in, const Params& p, Image& out) const override;

 private:
  int64_t height_, width_, padding_;
};

// A random box of area scale * image area and aspect (w/h) ratio, resized to height x width.
class RandomResizedCrop : public Transform {
 public:
  RandomResizedCrop(int64_t height, int64_t width, std::array<double, 2> scale = {0.08, 1.0},
                    std::array<double, 2> ratio = {3.0 / 4.0, 4.0 / 3.0});
  std::string name() const override { return "random_resized_crop"; }
  std::string describe() const override;
  Kind kind() const override { return Kind::Box; }
  ImageShape output_shape(const ImageShape& in) const override;
  Params draw(const ImageShape& in, Generator& gen) const override;
  void apply(Image& in, const Params& p, Image& out) const override;

 private:
  int64_t height_, width_;
  std::array<double, 2> scale_, ratio_;
};

class HorizontalFlip : public Transform {
 public:
  explicit HorizontalFlip(double p = 0.5);
  std::string name() const override { return "horizontal_flip"; }
  std::string describe() const override;
  Kind kind() const override { return Kind::Flip; }
  ImageShape output_shape(const ImageShape& in) const override { return in; }
  Params draw(const ImageShape& in, Generator& gen) const override;
  void apply(Image& in, const Params& p, Image& out) const override;
  bool in_place() const override { return true; }

 private:
  double p_;
};

// The central height x width box (zero-padded where it is larger than the image).
class CenterCrop : public Transform {
 public:
  CenterCrop(int64_t height, int64_t width);
  std::string name() const override { return "center_crop"; }
  std::string describe() const override;
  Kind kind() const override { return Kind::Box; }
  ImageShape output_shape(const ImageShape& in) const override;
  Params draw(const ImageShape& in, Generator& gen) const override;
  void apply(Image& in, const Params& p, Image& out) const override;

 private:
  int64_t height_, width_;
};

// Resize(size): the shorter side becomes `size`, the longer int(size * long / short) (so the
// output shape varies with the input's aspect ratio); Resize(h, w): exactly h x w.
class Resize : public Transform {
 public:
  explicit Resize(int64_t shorter_side);
  Resize(int64_t height, int64_t width);
  std::string name() const override { return "resize"; }
  std::string describe() const override;
  Kind kind() const override { return Kind::None; }
  ImageShape output_shape(const ImageShape& in) const override;
  Params draw(const ImageShape& in, Generator& gen) const override { return {}; }
  void apply(Image& in, const Params& p, Image& out) const override;

 private:
  int64_t shorter_ = 0, height_ = 0, width_ = 0;
};

// Steps applied in order, then the conversion of bytes to float32:
//   value = (byte / 255 - mean[c]) / std[c]
// (torchvision's ToTensor and Normalize; without normalize(), mean 0 and std 1).
//
//   Pipeline train = Pipeline().random_crop(32, 4).horizontal_flip().normalize(mean, std);
//   Pipeline train = Pipeline::parse("crop:32:4,flip").normalize(mean, std);
class Pipeline {
 public:
  Pipeline& add(std::shared_ptr<const Transform> step);
  Pipeline& random_crop(int64_t size, int64_t padding = 0);
  Pipeline& random_resized_crop(int64_t size, std::array<double, 2> scale = {0.08, 1.0},
                                std::array<double, 2> ratio = {3.0 / 4.0, 4.0 / 3.0});
  Pipeline& horizontal_flip(double p = 0.5);
  Pipeline& center_crop(int64_t size);
  Pipeline& resize(int64_t shorter_side);
  Pipeline& resize(int64_t height, int64_t width);
  // One value per channel, or one for all, in units of byte / 255.
  Pipeline& normalize(std::vector<double> mean, std::vector<double> std);

  // Steps from a comma-separated list, for command lines ("crop:32:4,flip"):
  //   crop:SIZE[:PAD]              random_crop          flip[:P]        horizontal_flip
  //   rrc:SIZE[:SCALE_MIN[:MAX]]   random_resized_crop  center:SIZE     center_crop
  //   resize:SIZE | resize:HxW     resize               ("" or none: no steps)
  static Pipeline parse(const std::string& spec);

  const std::vector<std::shared_ptr<const Transform>>& steps() const { return steps_; }
  const std::vector<double>& mean() const { return normalizer_.mean(); }
  const std::vector<double>& stddev() const { return normalizer_.stddev(); }
  ImageShape output_shape(const ImageShape& in) const;
  // The parameters of every step for an input of shape `in`, drawn from `gen` in order.
  std::vector<Params> draw(const ImageShape& in, Generator& gen) const;
  // Applies the steps to `img`, drawing their parameters from `gen` (and appending them to
  // `drawn` when given). `scratch` is a second buffer; the result is whichever of the two is
  // returned. Reusing both between calls avoids allocating.
  const Image& transform(Image& img, Image& scratch, Generator& gen,
                         std::vector<Params>* drawn = nullptr) const;
  // The normalisation alone: out = (byte / 255 - mean[c]) / std[c].
  void to_float(const Image& img, float* out) const;
  std::string describe() const;  // JSON array of the steps' describe()

 private:
  std::vector<std::shared_ptr<const Transform>> steps_;
  Normalizer normalizer_{{0.0}, {1.0}, "normalize"};
};

// An ImageSource seen through a Pipeline: the Dataset a DataLoader reads for augmented
// training. Example `index` of the batch for EpochKey {seed, epoch} is
// pipeline.transform(source.read(index), sample_generator(seed, epoch, index)), normalised;
// get(index) is epoch 0 of seed 0. Batches are built in parallel over images (OpenMP threads
// on the calling thread; one thread inside a DataLoader worker).
class TransformedDataset : public Dataset {
 public:
  // The pipeline must make every image the same shape (a crop or a fixed resize when the
  // source's images vary), and normalise 1 or C channels.
  TransformedDataset(std::shared_ptr<const ImageSource> source, Pipeline pipeline);

  int64_t size() const override { return source_->size(); }
  Example get(int64_t index) const override { return get(index, EpochKey{}); }
  Example get(int64_t index, EpochKey key) const;
  Batch get_batch(const std::vector<int64_t>& indices, EpochKey key = {}) const override;
  int64_t num_classes() const override { return source_->num_classes(); }
  ImageShape image_shape() const override { return shape_; }
  const std::vector<std::string>& class_names() const override { return source_->class_names(); }

  // The parameters example `index` gets in the epoch of `key`, one per pipeline step, without
  // decoding it (the source reports its shape).
  std::vector<Params> params(int64_t index, EpochKey key) const;
  const Pipeline& pipeline() const { return pipeline_; }
  const ImageSource& source() const { return *source_; }

 private:
  void check_index(int64_t index) const;
  void write(int64_t index, EpochKey key, Image& img, Image& scratch, float* out) const;
  std::shared_ptr<const ImageSource> source_;
  Pipeline pipeline_;
  ImageShape shape_;
};

}  // namespace fovea::data
