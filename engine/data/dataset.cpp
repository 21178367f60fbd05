#include "engine/data/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <mutex>

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/core/parallel.h"

namespace fovea::data {

std::string trim(const std::string& s, const char* chars) {
  const size_t a = s.find_first_not_of(chars), b = s.find_last_not_of(chars);
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

namespace detail {
void parallel_for_rethrow(int64_t n, int64_t cost_per_item,
                          const std::function<void(int64_t, int64_t)>& body) {
  std::exception_ptr first;
  std::mutex m;
  parallel_for(n, cost_per_item, [&](int64_t begin, int64_t end) {
    try {
      body(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(m);
      if (!first) first = std::current_exception();
    }
  });
  if (first) std::rethrow_exception(first);
}
}  // namespace detail

const std::vector<std::string>& Dataset::class_names() const {
  static const std::vector<std::string> none;
  return none;
}

Batch Dataset::get_batch(const std::vector<int64_t>& indices, EpochKey) const {
  const auto [c, h, w] = image_shape();
  const int64_t per_image = c * h * w;
  Batch batch{empty({int64_t(indices.size()), c, h, w}), empty({int64_t(indices.size())}, DType::Int64)};
  float* images = batch.images.data<float>();
  int64_t* labels = batch.labels.data<int64_t>();
  NoGradGuard no_grad;
  for (size_t i = 0; i < indices.size(); ++i) {
    const Example ex = get(indices[i]);
    FOVEA_CHECK(ex.image.dtype() == DType::Float32 && ex.image.shape() == Shape({c, h, w}),
                "Dataset: example ", indices[i], " is ", ex.image.str(), ", expected float32 ",
                shape_str({c, h, w}));
    const Tensor img = ex.image.contiguous();
    std::memcpy(images + int64_t(i) * per_image, img.data<float>(), per_image * sizeof(float));
    labels[i] = ex.label;
  }
  return batch;
}

InMemoryDataset::InMemoryDataset(std::vector<uint8_t> pixels, std::vector<int64_t> labels,
                                 std::array<int64_t, 3> image_shape, int64_t num_classes,
                                 std::string name)
    : pixels_(std::move(pixels)),
      labels_(std::move(labels)),
      shape_(image_shape),
      num_classes_(num_classes),
      name_(std::move(name)) {
  const auto [c, h, w] = shape_;
  FOVEA_CHECK(c > 0 && h > 0 && w > 0, name_, ": image shape must be positive, got ",
              shape_str({c, h, w}));
  FOVEA_CHECK(num_classes_ > 0, name_, ": num_classes must be positive, got ", num_classes_);
  FOVEA_CHECK(int64_t(pixels_.size()) == size() * c * h * w, name_, ": ", pixels_.size(),
              " pixel bytes do not hold ", size(), " images of ", shape_str({c, h, w}));
  for (size_t i = 0; i < labels_.size(); ++i)
    FOVEA_CHECK(labels_[i] >= 0 && labels_[i] < num_classes_, name_, ": label ", labels_[i],
                " of example ", i, " is outside [0, ", num_classes_, ")");
}

void InMemoryDataset::set_normalization(const std::vector<double>& mean,
                                        const std::vector<double>& std) {
  const size_t c = size_t(shape_[0]);
  auto ok = [&](size_t n) { return n == 1 || n == c; };
  FOVEA_CHECK(ok(mean.size()) && ok(std.size()), name_, ": normalisation needs 1 or ", c,
              " values for mean and std, got ", mean.size(), " and ", std.size());
  normalizer_ = Normalizer(mean, std, name_);
}

std::pair<std::vector<double>, std::vector<double>> InMemoryDataset::channel_stats() const {
  const auto [c, h, w] = shape_;
  std::vector<std::array<int64_t, 256>> hist(size_t(c), std::array<int64_t, 256>{});
  for (int64_t n = 0; n < size(); ++n)
    for (int64_t ch = 0; ch < c; ++ch) {
      const uint8_t* p = pixels_.data() + (n * c + ch) * h * w;
      for (int64_t i = 0; i < h * w; ++i) ++hist[size_t(ch)][p[i]];
    }
  std::vector<double> mean(static_cast<size_t>(c)), sd(static_cast<size_t>(c));
  for (size_t ch = 0; ch < size_t(c); ++ch) {
    double count = 0, s = 0, s2 = 0;
    for (int v = 0; v < 256; ++v) {
      const double x = v / 255.0, k = double(hist[ch][size_t(v)]);
      count += k, s += k * x, s2 += k * x * x;
    }
    mean[ch] = count > 0 ? s / count : 0;
    sd[ch] = count > 0 ? std::sqrt(std::max(0.0, s2 / count - mean[ch] * mean[ch])) : 0;
  }
  return {mean, sd};
}

void InMemoryDataset::check_index(int64_t index) const {
  FOVEA_CHECK(index >= 0 && index < size(), name_, ": index ", index, " is out of range for ",
              size(), " examples");
}

void InMemoryDataset::write_image(int64_t index, float* out) const {
  const int64_t plane = shape_[1] * shape_[2];
  normalizer_.apply(pixels_.data() + index * shape_[0] * plane, shape_[0], plane, out);
}

Example InMemoryDataset::get(int64_t index) const {
  check_index(index);
  Example ex{empty({shape_[0], shape_[1], shape_[2]}), labels_[size_t(index)]};
  write_image(index, ex.image.data<float>());
  return ex;
}

void InMemoryDataset::set_class_names(std::vector<std::string> names) {
  FOVEA_CHECK(names.empty() || int64_t(names.size()) == num_classes_, name_, ": ", names.size(),
              " class names for ", num_classes_, " classes");
  class_names_ = std::move(names);
}

int64_t InMemoryDataset::label(int64_t index) const {
  check_index(index);
  return labels_[size_t(index)];
}

void InMemoryDataset::read(int64_t index, Image& out) const {
  check_index(index);
  out.reshape(shape_[0], shape_[1], shape_[2]);
  const size_t n = out.data.size();
  std::memcpy(out.data.data(), pixels_.data() + size_t(index) * n, n);
}

Batch InMemoryDataset::get_batch(const std::vector<int64_t>& indices, EpochKey) const {
  for (int64_t i : indices) check_index(i);
  const int64_t b = int64_t(indices.size()), per_image = shape_[0] * shape_[1] * shape_[2];
  Batch batch{empty({b, shape_[0], shape_[1], shape_[2]}), empty({b}, DType::Int64)};
  float* images = batch.images.data<float>();
  int64_t* labels = batch.labels.data<int64_t>();
  parallel_for(b, per_image, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      write_image(indices[size_t(i)], images + i * per_image);
      labels[i] = labels_[size_t(indices[size_t(i)])];
    }
  });
  return batch;
}

}  // namespace fovea::data
