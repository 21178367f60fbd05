// Datasets of labelled images for classification.
//
// Dataset is the interface a DataLoader reads: size(), get(i) -> one example, and get_batch
// (indices) -> a stacked batch. Images are float32 [C, H, W], labels int64 class indices in
// [0, num_classes()). get_batch has a default that stacks get(i); datasets that hold their data
// in memory override it with a direct gather. Readers of files (IDX here; CIFAR binaries and
// image folders later) produce an InMemoryDataset or implement Dataset themselves.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/tensor.h"

namespace fovea::data {

struct Example {
  Tensor image;  // float32 [C, H, W]
  int64_t label = 0;
};

struct Batch {
  Tensor images;  // float32 [B, C, H, W]
  Tensor labels;  // int64 [B]
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Example get(int64_t index) const = 0;
  virtual Batch get_batch(const std::vector<int64_t>& indices) const;
  virtual int64_t num_classes() const = 0;
  virtual std::array<int64_t, 3> image_shape() const = 0;  // {C, H, W}, the same for every image
};

// uint8 images held in memory as [N, C, H, W] bytes, converted to float32 when read:
//   image = (byte / 255 - mean[c]) / std[c]
// (torchvision's ToTensor followed by Normalize). Without set_normalization, mean 0 and std 1.
class InMemoryDataset : public Dataset {
 public:
  // `pixels` holds N * C * H * W bytes, `labels` N values in [0, num_classes). `name` starts
  // error messages (e.g. the file the data came from).
  InMemoryDataset(std::vector<uint8_t> pixels, std::vector<int64_t> labels,
                  std::array<int64_t, 3> image_shape, int64_t num_classes, std::string name);

  int64_t size() const override { return int64_t(labels_.size()); }
  Example get(int64_t index) const override;
  Batch get_batch(const std::vector<int64_t>& indices) const override;
  int64_t num_classes() const override { return num_classes_; }
  std::array<int64_t, 3> image_shape() const override { return shape_; }

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
  std::array<int64_t, 3> shape_;
  int64_t num_classes_;
  std::string name_;
  std::vector<std::array<float, 256>> lut_;  // per channel: byte -> normalised value
};

}  // namespace fovea::data
