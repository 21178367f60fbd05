// Image files as the image-folder reader decodes them (decode_image_file in
// engine/data/image_folder.h, through stb_image: JPEG, PNG, BMP, GIF, PNM, TGA and whatever
// else stb recognises in the bytes). The first input byte picks the options: bit 0 one channel
// instead of three, bit 1 a resize to 5 x 7; the rest is the file.
#include "engine/data/image_folder.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fovea;
  if (size == 0) return 0;
  const int64_t channels = (data[0] & 1) ? 1 : 3;
  const bool resize = data[0] & 2;
  const std::string path = fuzz::write_file("image", data + 1, size - 1);
  fuzz::accept_or_reject([&] {
    data::Image img;
    data::decode_image_file(path, channels, resize ? 5 : 0, resize ? 7 : 0, img);
    if (int64_t(img.data.size()) != img.c * img.h * img.w) std::abort();
  });
  return 0;
}
