// The size of a PNG (or any picture stb_image reads) for tests of the programs that write them.
#pragma once

#include <stb/stb_image.h>

#include <string>
#include <utility>

namespace fovea::test {

// {width, height}; {0, 0} when the file does not decode.
inline std::pair<int, int> png_size(const std::string& path) {
  int w = 0, h = 0, c = 0;
  unsigned char* img = stbi_load(path.c_str(), &w, &h, &c, 3);
  if (!img) return {0, 0};
  stbi_image_free(img);
  return {w, h};
}

}  // namespace fovea::test
