#include "engine/data/image.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/core/error.h"

namespace fovea::data {

void Image::reshape(int64_t channels, int64_t height, int64_t width) {
  c = channels, h = height, w = width;
  data.resize(size_t(c * h * w));
}

const std::vector<std::string>& ImageSource::class_names() const {
  static const std::vector<std::string> none;
  return none;
}

Normalizer::Normalizer(std::vector<double> mean, std::vector<double> std, const std::string& who)
    : mean_(std::move(mean)), std_(std::move(std)) {
  const size_t n = std::max(mean_.size(), std_.size());
  auto ok = [&](size_t k) { return k == 1 || k == n; };
  FOVEA_CHECK(n > 0 && ok(mean_.size()) && ok(std_.size()), who, ": mean and std need one value ",
              "per channel (or one for all), got ", mean_.size(), " and ", std_.size());
  lut_.resize(n);
  for (size_t c = 0; c < n; ++c) {
    const double m = mean_[mean_.size() == 1 ? 0 : c], s = std_[std_.size() == 1 ? 0 : c];
    FOVEA_CHECK(s > 0, who, ": std must be positive, got ", s, " for channel ", c);
    for (int v = 0; v < 256; ++v) lut_[c][size_t(v)] = float((v / 255.0 - m) / s);
  }
}

void Normalizer::apply(const uint8_t* src, int64_t channels, int64_t plane, float* out) const {
  for (int64_t c = 0; c < channels; ++c) {
    const float* lut = lut_[lut_.size() == 1 ? 0 : size_t(c)].data();
    const uint8_t* in = src + c * plane;
    float* dst = out + c * plane;
    for (int64_t i = 0; i < plane; ++i) dst[i] = lut[in[i]];
  }
}

void crop(const Image& in, int64_t top, int64_t left, int64_t height, int64_t width, Image& out) {
  FOVEA_CHECK(&in != &out, "crop: the output must be another image than the input");
  FOVEA_CHECK(height > 0 && width > 0, "crop: box size must be positive, got ", height, "x", width);
  out.reshape(in.c, height, width);
  // The part of the box that lies inside `in`, in box coordinates; the rest stays zero.
  const int64_t y0 = std::clamp<int64_t>(-top, 0, height), y1 = std::clamp<int64_t>(in.h - top, y0, height);
  const int64_t x0 = std::clamp<int64_t>(-left, 0, width), x1 = std::clamp<int64_t>(in.w - left, x0, width);
  for (int64_t ch = 0; ch < in.c; ++ch) {
    uint8_t* dst = out.plane(ch);
    const uint8_t* src = in.plane(ch);
    std::memset(dst, 0, size_t(y0 * width));
    for (int64_t y = y0; y < y1; ++y) {
      uint8_t* row = dst + y * width;
      std::memset(row, 0, size_t(x0));
      std::memcpy(row + x0, src + (top + y) * in.w + left + x0, size_t(x1 - x0));
      std::memset(row + x1, 0, size_t(width - x1));
    }
    std::memset(dst + y1 * width, 0, size_t((height - y1) * width));
  }
}

void flip_horizontal(Image& img) {
  for (int64_t r = 0; r < img.c * img.h; ++r) {
    uint8_t* row = img.data.data() + r * img.w;
    std::reverse(row, row + img.w);
  }
}

namespace {

// The weights of one axis of a resize, in PIL's fixed point (ImagingResample with its BILINEAR
// filter; torchvision's _compute_indices_weights_aa computes the same taps): output i is
// clip8(2^21 + sum over k < count[i] of weight[i * taps + k] * input[first[i] + k]), where the
// weights are the normalised taps times 2^22, rounded. Centre (i + 0.5) * scale, support
// max(scale, 1), a triangle of width 1 stretched by the scale when shrinking.
constexpr int kPrecisionBits = 22;

struct AxisFilter {
  int64_t taps = 0;
  std::vector<int64_t> first, count;
  std::vector<int32_t> weight;
};

AxisFilter bilinear_filter(int64_t in_size, int64_t out_size) {
  const double scale = double(in_size) / double(out_size);
  const double support = std::max(scale, 1.0), inv = 1.0 / std::max(scale, 1.0);
  AxisFilter f;
  f.taps = int64_t(std::ceil(support)) * 2 + 1;
  f.first.resize(size_t(out_size));
  f.count.resize(size_t(out_size));
  f.weight.assign(size_t(out_size * f.taps), 0);
  std::vector<double> w(size_t(f.taps));
  for (int64_t i = 0; i < out_size; ++i) {
    const double center = (double(i) + 0.5) * scale;
    // int64_t() truncates toward zero, as PIL's (int) cast does.
    const int64_t lo = std::max<int64_t>(int64_t(center - support + 0.5), 0);
    const int64_t hi = std::min<int64_t>(int64_t(center + support + 0.5), in_size);
    double total = 0;
    for (int64_t j = lo; j < hi; ++j) {
      const double x = std::abs((double(j) - center + 0.5) * inv);
      w[size_t(j - lo)] = x < 1 ? 1 - x : 0;
      total += w[size_t(j - lo)];
    }
    f.first[size_t(i)] = lo;
    f.count[size_t(i)] = hi - lo;
    for (int64_t k = 0; k < hi - lo; ++k) {
      const double v = total > 0 ? w[size_t(k)] / total : 0;
      f.weight[size_t(i * f.taps + k)] = int32_t(std::lround(v * (1 << kPrecisionBits)));
    }
  }
  return f;
}

inline uint8_t clip8(int32_t v) {
  return uint8_t(std::clamp<int32_t>(v >> kPrecisionBits, 0, 255));
}

}  // namespace

void resize_bilinear(const Image& in, int64_t top, int64_t left, int64_t height, int64_t width,
                     int64_t out_h, int64_t out_w, Image& out) {
  FOVEA_CHECK(&in != &out, "resize: the output must be another image than the input");
  FOVEA_CHECK(height > 0 && width > 0 && top >= 0 && left >= 0 && top + height <= in.h &&
                  left + width <= in.w,
              "resize: box (top ", top, ", left ", left, ", ", height, "x", width,
              ") is not inside the ", in.h, "x", in.w, " image");
  FOVEA_CHECK(out_h > 0 && out_w > 0, "resize: output size must be positive, got ", out_h, "x", out_w);
  const AxisFilter fx = bilinear_filter(width, out_w), fy = bilinear_filter(height, out_h);
  // The horizontal pass only needs the rows the vertical one reads.
  const int64_t row_lo = fy.first.front();
  const int64_t row_hi = fy.first.back() + fy.count.back();
  // Per-thread buffers kept across calls: this runs once per image in the loader's workers.
  thread_local std::vector<uint8_t> mid;
  thread_local std::vector<int32_t> acc;
  mid.resize(size_t((row_hi - row_lo) * out_w));
  acc.resize(size_t(out_w));
  out.reshape(in.c, out_h, out_w);
  for (int64_t ch = 0; ch < in.c; ++ch) {
    const uint8_t* src = in.plane(ch) + top * in.w + left;
    for (int64_t y = row_lo; y < row_hi; ++y) {
      const uint8_t* row = src + y * in.w;
      uint8_t* dst = mid.data() + (y - row_lo) * out_w;
      for (int64_t x = 0; x < out_w; ++x) {
        const int32_t* wt = fx.weight.data() + x * fx.taps;
        const uint8_t* p = row + fx.first[size_t(x)];
        int32_t s = 1 << (kPrecisionBits - 1);
        for (int64_t k = 0; k < fx.count[size_t(x)]; ++k) s += wt[k] * int32_t(p[k]);
        dst[x] = clip8(s);
      }
    }
    uint8_t* dst = out.plane(ch);
    for (int64_t y = 0; y < out_h; ++y) {
      std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
      const int32_t* wt = fy.weight.data() + y * fy.taps;
      for (int64_t k = 0; k < fy.count[size_t(y)]; ++k) {
        const uint8_t* row = mid.data() + (fy.first[size_t(y)] + k - row_lo) * out_w;
        for (int64_t x = 0; x < out_w; ++x) acc[size_t(x)] += wt[k] * int32_t(row[x]);
      }
      for (int64_t x = 0; x < out_w; ++x) dst[y * out_w + x] = clip8(acc[size_t(x)]);
    }
  }
}

}  // namespace fovea::data
