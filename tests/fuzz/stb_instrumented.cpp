// stb_image and stb_image_resize, compiled from Debian's libstb-dev headers with the fuzz build's
// instrumentation (CMakeLists.txt says why). Nothing of stb's source is copied here.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
