// The window and bin math of the 2-D pools (the semantics are in engine/ops/pool.h), written
// once for the CPU kernels (engine/cpu/pool.cpp) and their CUDA twins (cuda/pool.cu).
// C++17 and FOVEA_HD throughout, no std:: calls, no allocation: nvcc compiles it for the device.
//
// One axis of a pool (rows or columns) is a PoolAxis: input size `in`, output size `out`, and
// either the window parameters (max_pool2d / avg_pool2d) or `adaptive` bins. It answers
//   span(o)     which input positions output o reads (its taps), as PyTorch clips them;
//   covering(i) the outputs [first, last) whose windows may read input position i: the range
//               a backward pass in gather form (one thread per input element) loops over.
// The window of output o along an axis of a max / avg pool starts at o * stride - padding and
// has taps start + j * dilation, j < kernel; taps outside [0, in) are padding. Adaptive bin o
// is [floor(o * in / out), ceil((o + 1) * in / out)).
#pragma once

#include <cmath>  // INFINITY, NAN: constants both compilers accept in device code
#include <cstdint>

#include "engine/core/hostdevice.h"

namespace fovea::pool {

// The taps of one output along one axis: begin, begin + step, ... < end, all inside the input;
// `padded` is the window's extent clipped to the padded input [-padding, in + padding), the
// count_include_pad factor of the avg divisor (end - begin for adaptive bins). An empty span
// (begin >= end) is a window whose taps all fall into the padding (dilated max pools only).
struct Span {
  int64_t begin, end, step, padded;
};

// Output positions [first, last) along one axis.
struct OutRange {
  int64_t first, last;
};

FOVEA_HD int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
FOVEA_HD int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }

// Whether span s has a tap at input position i.
FOVEA_HD bool has_tap(const Span& s, int64_t i) {
  return i >= s.begin && i < s.end && (i - s.begin) % s.step == 0;
}

struct PoolAxis {
  int64_t in = 0, out = 0;
  int64_t kernel = 1, stride = 1, padding = 0, dilation = 1;  // unused when adaptive
  bool adaptive = false;

  FOVEA_HD Span span(int64_t o) const {
    if (adaptive) {
      const int64_t begin = o * in / out, end = ((o + 1) * in + out - 1) / out;
      return {begin, end, 1, end - begin};
    }
    const int64_t start = o * stride - padding, stop = start + (kernel - 1) * dilation + 1;
    // The first tap at or after 0 (taps left of the input are padding).
    const int64_t begin =
        start < 0 ? start + (-start + dilation - 1) / dilation * dilation : start;
    return {begin, min_i64(stop, in), dilation, min_i64(stop, in + padding) - start};
  }

  // Every output whose span has a tap at i lies in the range (the converse need not hold:
  // a dilated window can step over i; callers test has_tap or compare the stored index).
  FOVEA_HD OutRange covering(int64_t i) const {
    if (adaptive) {
      // floor(o in / out) <= i  <=>  o < ceil((i + 1) out / in), and
      // ceil((o + 1) in / out) > i  <=>  o >= floor(i out / in): the bin formula, in and out
      // swapped.
      return {i * out / in, min_i64(((i + 1) * out + in - 1) / in, out)};
    }
    // Window o spans [o * stride - padding, o * stride - padding + (kernel - 1) * dilation]:
    // it reaches i when o <= (i + padding) / stride and
    // o >= ceil((i + padding - (kernel - 1) * dilation) / stride).
    const int64_t lo = i + padding - (kernel - 1) * dilation, hi = i + padding;  // hi >= 0
    const int64_t first = lo <= 0 ? 0 : (lo + stride - 1) / stride;
    return {first, min_i64(hi / stride + 1, out)};
  }
};

// The axis of a max_pool2d / avg_pool2d with these window parameters.
FOVEA_HD PoolAxis window_axis(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                              int64_t padding, int64_t dilation) {
  PoolAxis a;
  a.in = in, a.out = out, a.kernel = kernel, a.stride = stride, a.padding = padding;
  a.dilation = dilation;
  return a;
}

// The axis of an adaptive pool.
FOVEA_HD PoolAxis adaptive_axis(int64_t in, int64_t out) {
  PoolAxis a;
  a.in = in, a.out = out, a.adaptive = true;
  return a;
}

// ---- average ---------------------------------------------------------------------------------

// Sum of n contiguous values in double, in four independent partial sums (the order of
// engine/cpu/accumulate.h's sum4: one chain of dependent double adds is latency-bound). Both
// devices add in this order, so their averages agree to the bit.
template <typename T>
FOVEA_HD double run_sum(const T* p, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    s0 += double(p[k]);
    s1 += double(p[k + 1]);
    s2 += double(p[k + 2]);
    s3 += double(p[k + 3]);
  }
  for (; k < n; ++k) s0 += double(p[k]);
  return (s0 + s1) + (s2 + s3);
}

// Sum of a dense (step 1) window of a plane of width w; a full-width window is one run (the
// whole of a global average pool).
template <typename T>
FOVEA_HD double window_sum(const T* x, int64_t w, const Span& r, const Span& c) {
  if (c.begin == 0 && c.end == w) return run_sum(x + r.begin * w, (r.end - r.begin) * w);
  double s = 0;
  for (int64_t ih = r.begin; ih < r.end; ++ih) s += run_sum(x + ih * w + c.begin, c.end - c.begin);
  return s;
}

// count_include_pad: the window's area clipped to the padded input; otherwise its real taps.
FOVEA_HD double avg_divisor(const Span& r, const Span& c, bool count_include_pad) {
  return count_include_pad ? double(r.padded * c.padded)
                           : double((r.end - r.begin) * (c.end - c.begin));
}

// One output of an average pool.
template <typename T>
FOVEA_HD T window_avg(const T* x, int64_t w, const Span& r, const Span& c,
                      bool count_include_pad) {
  return T(window_sum(x, w, r, c) / avg_divisor(r, c, count_include_pad));
}

// What output gradient g adds to each tap of its window (rounded to T once, then added in T).
template <typename T>
FOVEA_HD T avg_share(T g, const Span& r, const Span& c, bool count_include_pad) {
  return T(double(g) / avg_divisor(r, c, count_include_pad));
}

// ---- max -------------------------------------------------------------------------------------

template <typename T>
struct MaxTap {
  T value;
  int64_t index;  // ih * w + iw within the plane; -1 for a window without taps
};

// PyTorch's rule: a tap replaces the best so far when it is larger or NaN, so the first of
// equal maxima (row-major scan order) stays and the last NaN wins. The index starts at the
// first tap, which an all -inf window keeps; a window without taps gives (-inf, -1). The NaN
// case is a second scan, taken only when the window holds a NaN: testing for NaN on every tap
// inside the max chain made the CPU kernel about three times slower.
template <typename T>
FOVEA_HD MaxTap<T> window_max(const T* x, int64_t w, const Span& r, const Span& c) {
  T best = -T(INFINITY);
  int64_t at = r.begin < r.end && c.begin < c.end ? r.begin * w + c.begin : -1;
  bool nan = false;
  for (int64_t ih = r.begin; ih < r.end; ih += r.step)
    for (int64_t iw = c.begin; iw < c.end; iw += c.step) {
      const T v = x[ih * w + iw];
      if (v > best) best = v, at = ih * w + iw;
      nan |= v != v;
    }
  if (nan) {
    best = T(NAN);
    for (int64_t ih = r.begin; ih < r.end; ih += r.step)
      for (int64_t iw = c.begin; iw < c.end; iw += c.step)
        if (x[ih * w + iw] != x[ih * w + iw]) at = ih * w + iw;
  }
  return {best, at};
}

}  // namespace fovea::pool
