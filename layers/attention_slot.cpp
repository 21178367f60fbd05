#include "layers/attention_slot.h"

#include <map>
#include <mutex>

namespace fovea::nn {

namespace {
std::map<std::string, AttentionSpec>& registry() {
  static std::map<std::string, AttentionSpec> specs;
  return specs;
}
std::mutex registry_mutex;
}  // namespace

Tensor FusionModule::fuse_call(const Tensor& residual, const Tensor& identity) {
  Tensor y = fuse(residual, identity);
  run_forward_hooks(residual, y);
  return y;
}

void register_attention(const std::string& name, AttentionSpec spec) {
  FOVEA_CHECK(name != "none" && !name.empty(), "register_attention: \"", name,
              "\" is reserved or empty");
  FOVEA_CHECK(spec.make != nullptr, "register_attention: \"", name, "\" has no factory");
  if (spec.child_name.empty()) spec.child_name = name;
  std::lock_guard<std::mutex> lock(registry_mutex);
  registry()[name] = std::move(spec);
}

const AttentionSpec* find_attention(const std::string& name) {
  if (name == "none") return nullptr;
  std::lock_guard<std::mutex> lock(registry_mutex);
  auto it = registry().find(name);
  if (it != registry().end()) return &it->second;
  std::string known = "none";
  for (const auto& [n, spec] : registry()) known += ", " + n;
  FOVEA_FAIL("attention: unknown module \"", name, "\" (known: ", known, ")");
}

std::vector<std::string> attention_names() {
  std::lock_guard<std::mutex> lock(registry_mutex);
  std::vector<std::string> names{"none"};
  for (const auto& [n, spec] : registry()) names.push_back(n);
  return names;
}

}  // namespace fovea::nn
