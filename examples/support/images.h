// The images a network sees, for the pictures of issue 10: a normalised input tensor back to
// the RGB picture it came from, and an image file (any format stb_image reads) brought to a
// network's input: decoded to its channels, resized to its size, normalised as it was trained.
//   input = (byte / 255 - mean[c]) / stddev[c],   picture byte = round(255 (input stddev + mean))
#pragma once

#include <string>
#include <vector>

#include "engine/fovea.h"
#include "support/canvas.h"

namespace fovea::viz {

// [C, H, W] (C = 1 or 3) normalised with mean / stddev (one value per channel) -> the picture,
// grey images as grey RGB. Values outside the byte range are clamped.
plot::Canvas to_picture(const Tensor& image, const std::vector<double>& mean,
                        const std::vector<double>& stddev);

// The image file at `path` as a network input [channels, height, width] (float32), normalised
// with mean / stddev. A file that does not decode, or is not an image, is an error naming it.
Tensor load_input_image(const std::string& path, int64_t channels, int64_t height, int64_t width,
                        const std::vector<double>& mean, const std::vector<double>& stddev);

}  // namespace fovea::viz
