// The --augment option: Pipeline::parse (engine/data/transforms.h) of the input as text. A
// pipeline that parses is described, its output shape computed and its parameters drawn for a
// few input shapes, and it is applied to small images whenever every step's output is small
// (a parsed "resize:60000" is legal, but allocating its images is not this target's business).
#include <algorithm>

#include "engine/data/transforms.h"
#include "fuzz_support.h"

namespace {

using namespace fovea::data;

constexpr int64_t kMaxApplySide = 256;

// Whether every step of `p` makes an image of at most kMaxApplySide a side from `in`.
bool small_enough(const Pipeline& p, ImageShape s) {
  for (const auto& step : p.steps()) {
    s = step->output_shape(s);
    if (s[1] > kMaxApplySide || s[2] > kMaxApplySide) return false;
  }
  return true;
}

void exercise(const Pipeline& p, const ImageShape& in) {
  p.output_shape(in);
  fovea::Generator gen(7);
  p.draw(in, gen);
  if (!small_enough(p, in)) return;
  Image img, scratch;
  img.reshape(in[0], in[1], in[2]);
  for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = uint8_t(i * 37);
  p.transform(img, scratch, gen);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string spec(reinterpret_cast<const char*>(data), size);
  fovea::fuzz::accept_or_reject([&] {
    const Pipeline p = Pipeline::parse(spec);
    p.describe();
    for (const ImageShape in : {ImageShape{3, 32, 32}, ImageShape{1, 28, 28}, ImageShape{3, 1, 1},
                                ImageShape{3, 64, 48}})
      fovea::fuzz::accept_or_reject([&] { exercise(p, in); });
  });
  return 0;
}
