// Sizes and index ranges of a convolution, shared by the conv2d CPU kernels (engine/cpu/conv.cpp,
// conv_depthwise.cpp) and their CUDA twins (cuda/conv.cu): C++17, FOVEA_HD.
#pragma once

#include <cstdint>

#include "engine/core/hostdevice.h"
#include "engine/core/shape.h"
#include "engine/ops/conv.h"

namespace fovea::conv_detail {

// Sizes of one convolution; x is [n, c, h, w], the output [n, c_out, ho, wo].
struct Geometry {
  int64_t n, c, h, w;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  int64_t ho, wo;
  FOVEA_HD int64_t plane() const { return h * w; }
  FOVEA_HD int64_t out_plane() const { return ho * wo; }
  FOVEA_HD int64_t taps() const { return kh * kw; }
  // 1x1, stride 1, no padding: each image already is its own column matrix [c, h w].
  FOVEA_HD bool direct() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  // Tap (p, q) reads input row i sh + row_shift(p) for output row i (columns alike).
  FOVEA_HD int64_t row_shift(int64_t p) const { return p * dh - ph; }
  FOVEA_HD int64_t col_shift(int64_t q) const { return q * dw - pw; }
};

inline Geometry geometry(const Shape& x, int64_t kh, int64_t kw, const Conv2dOptions& o) {
  Geometry g{x[0], x[1], x[2], x[3], kh, kw, o.stride[0], o.stride[1], o.padding[0],
             o.padding[1], o.dilation[0], o.dilation[1], 0, 0};
  g.ho = (g.h + 2 * g.ph - g.dh * (kh - 1) - 1) / g.sh + 1;
  g.wo = (g.w + 2 * g.pw - g.dw * (kw - 1) - 1) / g.sw + 1;
  return g;
}

// The output positions [lo, hi) of one axis whose input position o * stride + start lies
// inside [0, in); the others read padding.
struct Span {
  int64_t lo, hi;
};
// The smallest o in [0, out] with o * stride + start >= bound.
FOVEA_HD int64_t first_at_least(int64_t bound, int64_t out, int64_t stride, int64_t start) {
  const int64_t need = bound - start;
  const int64_t o = need <= 0 ? 0 : (need + stride - 1) / stride;
  return o < out ? o : out;
}
FOVEA_HD Span inside(int64_t out, int64_t in, int64_t stride, int64_t start) {
  const int64_t lo = first_at_least(0, out, stride, start);
  const int64_t hi = first_at_least(in, out, stride, start);
  return {lo, hi > lo ? hi : lo};
}
// Whether input position `pos` is read, through a tap whose shift is `shift`, by an output
// position o in [0, out) (o stride + shift == pos); *o receives it. The gather-form backward
// kernels walk the taps of an input element with it.
FOVEA_HD bool read_by(int64_t pos, int64_t shift, int64_t stride, int64_t out, int64_t* o) {
  const int64_t t = pos - shift;
  if (t < 0 || t % stride != 0 || t / stride >= out) return false;
  *o = t / stride;
  return true;
}
// The output rows / columns where tap (p, q) reads inside the image.
FOVEA_HD Span tap_rows(const Geometry& g, int64_t p) {
  return inside(g.ho, g.h, g.sh, g.row_shift(p));
}
FOVEA_HD Span tap_cols(const Geometry& g, int64_t q) {
  return inside(g.wo, g.w, g.sw, g.col_shift(q));
}

}  // namespace fovea::conv_detail
