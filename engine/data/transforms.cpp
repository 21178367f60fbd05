#include "engine/data/transforms.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/core/factory.h"

namespace fovea::data {

namespace {

// Python's round(): halves go to the even neighbour (the default floating-point rounding mode).
int64_t round_half_even(double x) { return int64_t(std::nearbyint(x)); }

void check_size(const char* what, int64_t h, int64_t w) {
  FOVEA_CHECK(h > 0 && w > 0, what, ": size must be positive, got ", h, "x", w);
  FOVEA_CHECK(h <= kMaxImagePixels / w, what, ": size ", h, "x", w, " is more than the limit of ",
              kMaxImagePixels, " pixels");
}

void check_range(const char* what, const char* name, const std::array<double, 2>& r) {
  FOVEA_CHECK(std::isfinite(r[0]) && std::isfinite(r[1]) && r[0] > 0 && r[0] <= r[1], what, ": ",
              name, " must satisfy 0 < min <= max (finite), got (", r[0], ", ", r[1], ")");
}

// round_half_even(x) when it lies in [1, limit], else 0: x may be huge or not finite, where
// converting it to an integer would be undefined.
int64_t round_in_range(double x, int64_t limit) {
  const double r = std::nearbyint(x);
  return r >= 1 && r <= double(limit) ? int64_t(r) : 0;
}

std::string dump(const nlohmann::json& j) { return j.dump(); }

}  // namespace

Generator sample_generator(uint64_t seed, int64_t epoch, int64_t index) {
  return Generator(mix64(mix64(mix64(seed ^ 0xa5a5c0ffee0fd47aULL) ^ uint64_t(epoch)) ^ uint64_t(index)));
}

// ---- RandomCrop ------------------------------------------------------------------------------

RandomCrop::RandomCrop(int64_t height, int64_t width, int64_t padding)
    : height_(height), width_(width), padding_(padding) {
  check_size("random_crop", height, width);
  FOVEA_CHECK(padding >= 0, "random_crop: padding must be >= 0, got ", padding);
  FOVEA_CHECK(padding <= kMaxImagePixels, "random_crop: padding ", padding,
              " is more than the limit of ", kMaxImagePixels);
}

std::string RandomCrop::describe() const {
  return dump({{"name", name()}, {"size", {height_, width_}}, {"padding", padding_}});
}

ImageShape RandomCrop::output_shape(const ImageShape& in) const { return {in[0], height_, width_}; }

Params RandomCrop::draw(const ImageShape& in, Generator& gen) const {
  const int64_t h = in[1] + 2 * padding_, w = in[2] + 2 * padding_;
  FOVEA_CHECK(h >= height_ && w >= width_, "random_crop: crop ", height_, "x", width_,
              " is larger than the padded image ", h, "x", w, " (", in[1], "x", in[2],
              " padded by ", padding_, ")");
  Params p{-padding_, -padding_, height_, width_};
  if (h == height_ && w == width_) return p;  // torchvision draws nothing then
  p.top += gen.randint(h - height_ + 1);
  p.left += gen.randint(w - width_ + 1);
  return p;
}

void RandomCrop::apply(Image& in, const Params& p, Image& out) const {
  crop(in, p.top, p.left, p.height, p.width, out);
}

// ---- RandomResizedCrop -----------------------------------------------------------------------

RandomResizedCrop::RandomResizedCrop(int64_t height, int64_t width, std::array<double, 2> scale,
                                     std::array<double, 2> ratio)
    : height_(height), width_(width), scale_(scale), ratio_(ratio) {
  check_size("random_resized_crop", height, width);
  check_range("random_resized_crop", "scale", scale);
  check_range("random_resized_crop", "ratio", ratio);
}

std::string RandomResizedCrop::describe() const {
  return dump({{"name", name()},
               {"size", {height_, width_}},
               {"scale", {scale_[0], scale_[1]}},
               {"ratio", {ratio_[0], ratio_[1]}},
               {"interpolation", "bilinear"},
               {"antialias", true}});
}

ImageShape RandomResizedCrop::output_shape(const ImageShape& in) const {
  return {in[0], height_, width_};
}

// torchvision's RandomResizedCrop.get_params, draw for draw.
Params RandomResizedCrop::draw(const ImageShape& in, Generator& gen) const {
  const int64_t height = in[1], width = in[2];
  const double area = double(height * width);
  const double log_lo = std::log(ratio_[0]), log_hi = std::log(ratio_[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * (scale_[0] + (scale_[1] - scale_[0]) * gen.uniform());
    const double aspect = std::exp(log_lo + (log_hi - log_lo) * gen.uniform());
    // A scale past 1 asks for more than the image (torchvision then draws again), so w and h
    // are compared before they become integers.
    const int64_t w = round_in_range(std::sqrt(target * aspect), width);
    const int64_t h = round_in_range(std::sqrt(target / aspect), height);
    if (w > 0 && h > 0) {
      const int64_t top = gen.randint(height - h + 1);
      return {top, gen.randint(width - w + 1), h, w};
    }
  }
  // Fallback: the central box of the whole image, narrowed to the nearest allowed ratio.
  const double in_ratio = double(width) / double(height);
  int64_t w = width, h = height;
  if (in_ratio < ratio_[0])
    h = round_half_even(double(w) / ratio_[0]);
  else if (in_ratio > ratio_[1])
    w = round_half_even(double(h) * ratio_[1]);
  return {(height - h) / 2, (width - w) / 2, h, w};
}

void RandomResizedCrop::apply(Image& in, const Params& p, Image& out) const {
  resize_bilinear(in, p.top, p.left, p.height, p.width, height_, width_, out);
}

// ---- HorizontalFlip --------------------------------------------------------------------------

HorizontalFlip::HorizontalFlip(double p) : p_(p) {
  FOVEA_CHECK(p >= 0 && p <= 1, "horizontal_flip: p must be in [0, 1], got ", p);
}

std::string HorizontalFlip::describe() const { return dump({{"name", name()}, {"p", p_}}); }

Params HorizontalFlip::draw(const ImageShape&, Generator& gen) const {
  Params p;
  p.flip = gen.uniform() < p_;
  return p;
}

void HorizontalFlip::apply(Image& in, const Params& p, Image&) const {
  if (p.flip) flip_horizontal(in);
}

// ---- CenterCrop ------------------------------------------------------------------------------

CenterCrop::CenterCrop(int64_t height, int64_t width) : height_(height), width_(width) {
  check_size("center_crop", height, width);
}

std::string CenterCrop::describe() const {
  return dump({{"name", name()}, {"size", {height_, width_}}});
}

ImageShape CenterCrop::output_shape(const ImageShape& in) const { return {in[0], height_, width_}; }

// torchvision's center_crop: a crop larger than the image pads it by (crop - size) / 2 before
// (rounded down) and the rest after; otherwise the offset is round((size - crop) / 2).
Params CenterCrop::draw(const ImageShape& in, Generator&) const {
  auto offset = [](int64_t size, int64_t crop) {
    return crop > size ? -((crop - size) / 2) : round_half_even(double(size - crop) / 2.0);
  };
  return {offset(in[1], height_), offset(in[2], width_), height_, width_};
}

void CenterCrop::apply(Image& in, const Params& p, Image& out) const {
  crop(in, p.top, p.left, p.height, p.width, out);
}

// ---- Resize ----------------------------------------------------------------------------------

Resize::Resize(int64_t shorter_side) : shorter_(shorter_side) {
  FOVEA_CHECK(shorter_side > 0 && shorter_side <= kMaxImagePixels, "resize: size must be in 1..",
              kMaxImagePixels, ", got ", shorter_side);
}

Resize::Resize(int64_t height, int64_t width) : height_(height), width_(width) {
  check_size("resize", height, width);
}

std::string Resize::describe() const {
  nlohmann::json j = {{"name", name()}, {"interpolation", "bilinear"}, {"antialias", true}};
  if (shorter_ > 0)
    j["size"] = shorter_;
  else
    j["size"] = {height_, width_};
  return dump(j);
}

// torchvision's _compute_resized_output_size for an int size.
ImageShape Resize::output_shape(const ImageShape& in) const {
  if (shorter_ == 0) return {in[0], height_, width_};
  const int64_t h = in[1], w = in[2];
  if (h == 0 || w == 0) return {in[0], 0, 0};
  const int64_t shorter = std::min(h, w), longer = std::max(h, w);
  // In double: shorter_ * longer may not fit an int64 for a long, thin image.
  const double new_long = std::floor(double(shorter_) * double(longer) / double(shorter));
  FOVEA_CHECK(new_long <= double(kMaxImagePixels / shorter_), "resize: resizing a ", h, "x", w,
              " image to a shorter side of ", shorter_, " makes more than the limit of ",
              kMaxImagePixels, " pixels");
  return w <= h ? ImageShape{in[0], int64_t(new_long), shorter_}
                : ImageShape{in[0], shorter_, int64_t(new_long)};
}

void Resize::apply(Image& in, const Params&, Image& out) const {
  const ImageShape s = output_shape(in.shape());
  resize_bilinear(in, 0, 0, in.h, in.w, s[1], s[2], out);
}

// ---- Pipeline --------------------------------------------------------------------------------

Pipeline& Pipeline::add(std::shared_ptr<const Transform> step) {
  FOVEA_CHECK(step != nullptr, "Pipeline: a step is null");
  steps_.push_back(std::move(step));
  return *this;
}

Pipeline& Pipeline::random_crop(int64_t size, int64_t padding) {
  return add(std::make_shared<RandomCrop>(size, size, padding));
}
Pipeline& Pipeline::random_resized_crop(int64_t size, std::array<double, 2> scale,
                                        std::array<double, 2> ratio) {
  return add(std::make_shared<RandomResizedCrop>(size, size, scale, ratio));
}
Pipeline& Pipeline::horizontal_flip(double p) { return add(std::make_shared<HorizontalFlip>(p)); }
Pipeline& Pipeline::center_crop(int64_t size) {
  return add(std::make_shared<CenterCrop>(size, size));
}
Pipeline& Pipeline::resize(int64_t shorter_side) {
  return add(std::make_shared<Resize>(shorter_side));
}
Pipeline& Pipeline::resize(int64_t height, int64_t width) {
  return add(std::make_shared<Resize>(height, width));
}

Pipeline& Pipeline::normalize(std::vector<double> mean, std::vector<double> std) {
  normalizer_ = Normalizer(std::move(mean), std::move(std), "normalize");
  return *this;
}

ImageShape Pipeline::output_shape(const ImageShape& in) const {
  ImageShape s = in;
  for (const auto& step : steps_) s = step->output_shape(s);
  return s;
}

std::vector<Params> Pipeline::draw(const ImageShape& in, Generator& gen) const {
  std::vector<Params> out;
  ImageShape s = in;
  for (const auto& step : steps_) {
    out.push_back(step->draw(s, gen));
    s = step->output_shape(s);
  }
  return out;
}

const Image& Pipeline::transform(Image& img, Image& scratch, Generator& gen,
                                 std::vector<Params>* drawn) const {
  Image* cur = &img;
  Image* other = &scratch;
  for (const auto& step : steps_) {
    const Params p = step->draw(cur->shape(), gen);
    if (drawn) drawn->push_back(p);
    step->apply(*cur, p, *other);
    if (!step->in_place()) std::swap(cur, other);
  }
  return *cur;
}

void Pipeline::to_float(const Image& img, float* out) const {
  FOVEA_CHECK(normalizer_.channels() == 1 || normalizer_.channels() == img.c, "normalize: ",
              normalizer_.channels(), " values of mean and std for an image of ", img.c, " channels");
  normalizer_.apply(img.data.data(), img.c, img.h * img.w, out);
}

std::string Pipeline::describe() const {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : steps_) steps.push_back(nlohmann::json::parse(s->describe()));
  return steps.dump();
}

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t end = s.find(sep, start);
    std::string part = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    out.push_back(trim(part, " \t"));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

double parse_number(const std::string& text, const std::string& spec) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  FOVEA_CHECK(used == text.size() && !text.empty(), "Pipeline::parse: '", text,
              "' is not a number in '", spec, "'");
  return v;
}

int64_t parse_int(const std::string& text, const std::string& spec) {
  const double v = parse_number(text, spec);
  FOVEA_CHECK(v == std::floor(v), "Pipeline::parse: '", text, "' is not an integer in '", spec, "'");
  // Beyond 2^53 a double is no longer every integer (and beyond 2^63 no int64 holds it); the
  // steps' own limits are far lower.
  FOVEA_CHECK(std::abs(v) <= 0x1p53, "Pipeline::parse: '", text, "' is out of range in '", spec,
              "'");
  return int64_t(v);
}

}  // namespace

Pipeline Pipeline::parse(const std::string& spec) {
  Pipeline p;
  if (spec.find_first_not_of(" \t") == std::string::npos || spec == "none") return p;
  for (const std::string& token : split(spec, ',')) {
    const std::vector<std::string> f = split(token, ':');
    const std::string& name = f[0];
    const size_t args = f.size() - 1;
    auto need = [&](size_t lo, size_t hi) {
      FOVEA_CHECK(args >= lo && args <= hi, "Pipeline::parse: '", token, "' takes ", lo,
                  lo == hi ? "" : " to " + std::to_string(hi), " arguments, got ", args, " (in '",
                  spec, "')");
    };
    if (name == "crop" || name == "random_crop") {
      need(1, 2);
      p.random_crop(parse_int(f[1], spec), args == 2 ? parse_int(f[2], spec) : 0);
    } else if (name == "rrc" || name == "random_resized_crop") {
      need(1, 3);
      std::array<double, 2> scale{0.08, 1.0};
      if (args >= 2) scale[0] = parse_number(f[2], spec);
      if (args >= 3) scale[1] = parse_number(f[3], spec);
      p.random_resized_crop(parse_int(f[1], spec), scale);
    } else if (name == "flip" || name == "hflip" || name == "horizontal_flip") {
      need(0, 1);
      p.horizontal_flip(args == 1 ? parse_number(f[1], spec) : 0.5);
    } else if (name == "center" || name == "center_crop") {
      need(1, 1);
      p.center_crop(parse_int(f[1], spec));
    } else if (name == "resize") {
      need(1, 1);
      const std::vector<std::string> hw = split(f[1], 'x');
      FOVEA_CHECK(hw.size() <= 2, "Pipeline::parse: '", f[1], "' is not SIZE or HxW in '", spec, "'");
      if (hw.size() == 2)
        p.resize(parse_int(hw[0], spec), parse_int(hw[1], spec));
      else
        p.resize(parse_int(f[1], spec));
    } else {
      FOVEA_FAIL("Pipeline::parse: unknown step '", name, "' in '", spec,
                 "' (known: crop, rrc, flip, center, resize)");
    }
  }
  return p;
}

// ---- TransformedDataset ----------------------------------------------------------------------

TransformedDataset::TransformedDataset(std::shared_ptr<const ImageSource> source, Pipeline pipeline)
    : source_(std::move(source)), pipeline_(std::move(pipeline)) {
  FOVEA_CHECK(source_ != nullptr, "TransformedDataset: the source is null");
  const ImageShape in = source_->image_shape();
  shape_ = pipeline_.output_shape(in);
  FOVEA_CHECK(shape_[1] > 0 && shape_[2] > 0, "TransformedDataset: the pipeline ",
              pipeline_.describe(), " gives images of varying size from a source whose images ",
              in[1] > 0 ? "are " + shape_str({in[0], in[1], in[2]}) : std::string("vary in size"),
              "; end it with a crop or a fixed-size resize");
  const size_t norm = std::max(pipeline_.mean().size(), pipeline_.stddev().size());
  FOVEA_CHECK(norm == 1 || int64_t(norm) == shape_[0], "TransformedDataset: normalisation has ",
              norm, " values for images of ", shape_[0], " channels");
}

void TransformedDataset::check_index(int64_t index) const {
  FOVEA_CHECK(index >= 0 && index < size(), "TransformedDataset: index ", index,
              " is out of range for ", size(), " examples");
}

void TransformedDataset::write(int64_t index, EpochKey key, Image& img, Image& scratch,
                               float* out) const {
  source_->read(index, img);
  Generator gen = sample_generator(key.seed, key.epoch, index);
  const Image& result = pipeline_.transform(img, scratch, gen);
  FOVEA_CHECK(result.shape() == shape_, "TransformedDataset: example ", index, " of shape ",
              shape_str({img.c, img.h, img.w}), " became ",
              shape_str({result.c, result.h, result.w}), ", expected ",
              shape_str({shape_[0], shape_[1], shape_[2]}));
  pipeline_.to_float(result, out);
}

Example TransformedDataset::get(int64_t index, EpochKey key) const {
  check_index(index);
  Example ex{empty({shape_[0], shape_[1], shape_[2]}), source_->label(index)};
  Image img, scratch;
  write(index, key, img, scratch, ex.image.data<float>());
  return ex;
}

Batch TransformedDataset::get_batch(const std::vector<int64_t>& indices, EpochKey key) const {
  for (int64_t i : indices) check_index(i);
  const int64_t b = int64_t(indices.size()), per_image = shape_[0] * shape_[1] * shape_[2];
  Batch batch{empty({b, shape_[0], shape_[1], shape_[2]}), empty({b}, DType::Int64)};
  float* images = batch.images.data<float>();
  int64_t* labels = batch.labels.data<int64_t>();
  // Each thread keeps two image buffers for all its examples, so steady state allocates nothing.
  detail::parallel_for_rethrow(b, per_image * 4, [&](int64_t begin, int64_t end) {
    Image img, scratch;
    for (int64_t i = begin; i < end; ++i) {
      write(indices[size_t(i)], key, img, scratch, images + i * per_image);
      labels[i] = source_->label(indices[size_t(i)]);
    }
  });
  return batch;
}

std::vector<Params> TransformedDataset::params(int64_t index, EpochKey key) const {
  check_index(index);
  Generator gen = sample_generator(key.seed, key.epoch, index);
  return pipeline_.draw(source_->shape_of(index), gen);
}

}  // namespace fovea::data
