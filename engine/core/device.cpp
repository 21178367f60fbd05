#include "engine/core/device.h"

#include "engine/core/error.h"

namespace fovea {

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    const std::string idx = text.substr(5);
    FOVEA_CHECK(!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos,
                "Device: cannot parse \"", text, "\" (expected cpu, cuda or cuda:N)");
    return cuda(std::stoi(idx));
  }
  FOVEA_FAIL("Device: cannot parse \"", text, "\" (expected cpu, cuda or cuda:N)");
}

}  // namespace fovea
