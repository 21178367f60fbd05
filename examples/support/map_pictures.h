// What a picture of an attention map shows (issue 10: visualize_attention). Modules record maps
// of many layouts (layers/attention_slot.h, attention/README.md); one image's map is read by
// its shape against the [1, C, H, W] input the module saw (L = H W positions):
//
//   [..., a, b], a in {H, 1}, b in {W, 1}   spatial: one value per position (a row or column
//                                          profile is spread along the other axis), the mean
//                                          over the leading axes (groups, heads, channels)
//   [..., L, L]                            attention matrix: the row of one query position,
//                                          shown over the positions it attends to, mean over
//                                          heads
//   [K, ..., L]                            per-position weights, mean over the leading axes
//                                          (when the mean is flat but a map is not, maps
//                                          normalised across K, that map)
//   [C] (size-1 axes dropped)              channel weights: bars (the 64 largest when C > 64)
//   any other, two axes or more            a matrix (branch x channel, key x key), the mean
//                                          over all but the last two axes, drawn on its own
//   one value                              not drawn: its value in the caption
//
// `how` says in words what was done, for the caption.
#pragma once

#include <string>
#include <vector>

#include "engine/fovea.h"
#include "support/heatmap.h"

namespace fovea::viz {

enum class MapKind { spatial, matrix, channel, value };

struct MapPicture {
  MapKind kind = MapKind::value;
  Map map;                      // spatial: [H, W]; matrix: [rows, columns]
  std::vector<double> weights;  // channel: one per channel; value: the one value
  std::string how;              // "mean over 8 maps", "attention of position (3, 5), mean over
                                // 2 heads", "one value: 0.42"
};

// The picture of `value` ([1, ...]: one image; a first axis of G > 1 is read as G groups that
// the module folded into the batch, as Shuffle Attention does) recorded by a module whose input was
// [1, C, height, width]. The query of an attention matrix is (query_y, query_x), the centre
// when negative; outside the map it is an error.
MapPicture picture_of_map(const Tensor& value, int64_t height, int64_t width,
                          int64_t query_y = -1, int64_t query_x = -1);

// Writes the picture as a PNG: spatial over `image` (may be null), a matrix on its own, channel
// weights as bars; `title` above. A value has no picture (an error: check kind first).
void write_map_png(const std::string& path, const MapPicture& picture, const plot::Canvas* image,
                   const std::string& title, const HeatmapStyle& style);

}  // namespace fovea::viz
