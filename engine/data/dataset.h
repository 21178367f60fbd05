// Datasets of labelled images for classification.
//
// Dataset is the interface a DataLoader reads: size(), get(i) -> one example, and get_batch
// (indices, key) -> a stacked batch. Images are float32 [C, H, W], labels int64 class indices
// in [0, num_classes()). get_batch has a default that stacks get(i); datasets that hold their
// data in memory override it with a direct gather. Readers of files (idx.h, cifar.h) produce an
// InMemoryDataset; image_folder.h's ImageFolder is an ImageSource of decoded files; and
// transforms.h's TransformedDataset augments any ImageSource.
//
// A batch may depend on the epoch (random augmentation): the DataLoader passes an EpochKey, and
// a dataset must make every example a pure function of (key, index), so that batches do not
// depend on worker threads and a resumed run sees the same data. get_batch is called from
// several threads at once and must be safe for that (it is const).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/data/image.h"

namespace fovea::data {

// s without the leading and trailing characters in `chars` (class-name files, option lists).
std::string trim(const std::string& s, const char* chars = " \t\r");

struct Example {
  Tensor image;  // float32 [C, H, W]
  int64_t label = 0;
};

struct Batch {
  Tensor images;  // float32 [B, C, H, W]
  Tensor labels;  // int64 [B]
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

// Which pass of which run a batch belongs to: the seed of the DataLoader and the epoch number.
struct EpochKey {
  uint64_t seed = 0;
  int64_t epoch = 0;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Example get(int64_t index) const = 0;
  // The examples `indices` as the epoch of `key` sees them, stacked. Overrides repeat the
  // default argument.
  virtual Batch get_batch(const std::vector<int64_t>& indices, EpochKey key = {}) const;
  virtual int64_t num_classes() const = 0;
  virtual ImageShape image_shape() const = 0;  // {C, H, W}, the same for every image
  // One name per class, or none when the data set has no names.
  virtual const std::vector<std::string>& class_names() const;
};

// uint8 images held in memory as [N, C, H, W] bytes, converted to float32 when read:
//   image = (byte / 255 - mean[c]) / std[c]
// (torchvision's ToTensor followed by Normalize). Without set_normalization, mean 0 and std 1.
// It is also an ImageSource (its raw bytes), so a TransformedDataset can augment it; that
// applies its own pipeline's normalisation, not this one.
class InMemoryDataset : public Dataset, public ImageSource {
 public:
  // `pixels` holds N * C * H * W bytes, `labels` N values in [0, num_classes). `name` starts
  // error messages (e.g. the file the data came from).
  InMemoryDataset(std::vector<uint8_t> pixels, std::vector<int64_t> labels,
                  std::array<int64_t, 3> image_shape, int64_t num_classes, std::string name);

  int64_t size() const override { return int64_t(labels_.size()); }
  Example get(int64_t index) const override;
  Batch get_batch(const std::vector<int64_t>& indices, EpochKey key = {}) const override;
  int64_t num_classes() const override { return num_classes_; }
  ImageShape image_shape() const override { return shape_; }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  // num_classes() names (or none).
  void set_class_names(std::vector<std::string> names);

  // ImageSource: the bytes of image `index` and its label.
  int64_t label(int64_t index) const override;
  void read(int64_t index, Image& out) const override;

  // One value per channel (or one value for all), in units of byte / 255.
  void set_normalization(const std::vector<double>& mean, const std::vector<double>& std);
  // Per-channel mean and (population) standard deviation of byte / 255 over the whole dataset:
  // the statistics to normalise it with.
  std::pair<std::vector<double>, std::vector<double>> channel_stats() const;

  const std::vector<uint8_t>& pixels() const { return pixels_; }
  const std::vector<int64_t>& labels() const { return labels_; }

 private:
  void check_index(int64_t index) const;
  void write_image(int64_t index, float* out) const;  // C*H*W normalised floats

  std::vector<uint8_t> pixels_;
  std::vector<int64_t> labels_;
  ImageShape shape_;
  int64_t num_classes_;
  std::string name_;
  std::vector<std::string> class_names_;
  Normalizer normalizer_{{0.0}, {1.0}, "InMemoryDataset"};
};

namespace detail {
// parallel_for (core/parallel.h) for bodies that may throw: an exception leaving an OpenMP
// region ends the program, so the first one is caught there and rethrown on this thread.
void parallel_for_rethrow(int64_t n, int64_t cost_per_item,
                          const std::function<void(int64_t, int64_t)>& body);
}  // namespace detail

}  // namespace fovea::data
