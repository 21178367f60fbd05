#include "support/images.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/data/image_folder.h"

namespace fovea::viz {

namespace {

void check_normalisation(int64_t channels, const std::vector<double>& mean,
                         const std::vector<double>& stddev, const char* who) {
  FOVEA_CHECK((channels == 1 || channels == 3) && mean.size() == size_t(channels) &&
                  stddev.size() == size_t(channels),
              who, ": ", channels, " channels with ", mean.size(), " means and ", stddev.size(),
              " standard deviations (1 or 3 channels, one of each per channel)");
}

}  // namespace

plot::Canvas to_picture(const Tensor& image, const std::vector<double>& mean,
                        const std::vector<double>& stddev) {
  FOVEA_CHECK(image.defined() && image.dim() == 3, "to_picture: expected an image [C, H, W], got ",
              image.defined() ? shape_str(image.shape()) : std::string("an undefined tensor"));
  const int64_t c = image.size(0), h = image.size(1), w = image.size(2);
  check_normalisation(c, mean, stddev, "to_picture");
  const std::vector<double> v = image.to_vector<double>();
  plot::Canvas cv(static_cast<int>(w), static_cast<int>(h));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      uint32_t rgb = 0;
      for (int k = 0; k < 3; ++k) {
        const int64_t ch = c == 1 ? 0 : k;
        const double value =
            v[size_t((ch * h + y) * w + x)] * stddev[size_t(ch)] + mean[size_t(ch)];
        rgb = rgb << 8 | plot::to_byte(255 * value);
      }
      cv.dot(int(x), int(y), rgb);
    }
  return cv;
}

Tensor load_input_image(const std::string& path, int64_t channels, int64_t height, int64_t width,
                        const std::vector<double>& mean, const std::vector<double>& stddev) {
  check_normalisation(channels, mean, stddev, "load_input_image");
  data::Image decoded;
  data::decode_image_file(path, channels, height, width, decoded);
  std::vector<float> values(decoded.data.size());
  const int64_t plane = height * width;
  for (size_t i = 0; i < values.size(); ++i) {
    const size_t ch = i / size_t(plane);
    values[i] = float((decoded.data[i] / 255.0 - mean[ch]) / stddev[ch]);
  }
  return from_vector(values, {channels, height, width});
}

}  // namespace fovea::viz
