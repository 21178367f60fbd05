// The options of the programs that look at a trained network (visualize_attention, gradcam),
// declared once: the run, the images, the colour map, the picture size and the output folder.
// Header-only: the programs link CLI11, the support library does not.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace fovea::viz {

struct LookOptions {
  std::string checkpoint, data;
  std::vector<int64_t> indices;
  std::vector<std::string> images;
  std::string colormap = "viridis";
  int size = 224;
  std::string out = "runs/look";
};

inline void add_look_options(CLI::App& app, LookOptions& o) {
  app.add_option("--checkpoint", o.checkpoint, "run folder or checkpoint of examples/train")
      ->required();
  app.add_option("--data", o.data, "the data folder, when it moved since training");
  app.add_option("--index", o.indices, "test-set images by index");
  app.add_option("--image", o.images, "image files (any format stb_image reads)");
  app.add_option("--colormap", o.colormap, "viridis or jet")->capture_default_str();
  app.add_option("--size", o.size, "pixels of each picture's longer side")
      ->check(CLI::Range(8, 8192))
      ->capture_default_str();
  app.add_option("--out", o.out, "output folder")->capture_default_str();
}

}  // namespace fovea::viz
