#include "layers/attention_slot.h"

#include <cmath>
#include <map>
#include <mutex>
#include <sstream>

namespace fovea::nn {

namespace {
std::map<std::string, AttentionSpec>& registry() {
  static std::map<std::string, AttentionSpec> specs;
  return specs;
}
std::mutex registry_mutex;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

void set_recording_below(Module& m, bool on) {
  if (auto* a = dynamic_cast<AttentionModule*>(&m)) a->set_recording(on);
  for (auto& child : m.named_children()) set_recording_below(*child.second, on);
}
}  // namespace

// ---- maps ----------------------------------------------------------------------------------------

void AttentionModule::set_recording(bool on) {
  recording_ = on;
  if (!on) maps_.clear();
}

const Tensor& AttentionModule::map(const std::string& name) const {
  for (const auto& item : maps_)
    if (item.first == name) return item.second;
  std::vector<std::string> names;
  for (const auto& item : maps_) names.push_back(item.first);
  FOVEA_FAIL(type_name(), ": no attention map \"", name, "\" (",
             recording_ ? "recorded: " + join(names, ", ") : std::string("recording is off"),
             ")");
}

void AttentionModule::check_input(const Tensor& x, int64_t channels) const {
  FOVEA_CHECK(x.dim() == 4 && x.size(1) == channels, type_name(), ": expected input [N, ", channels,
              ", H, W], got ", x.str());
}

void AttentionModule::check_reduction(int64_t channels, int64_t r, const char* option) const {
  FOVEA_CHECK(r >= 1 && channels >= 1 && channels / r >= 1, type_name(), ": channels ", channels,
              " // ", option, " ", r, " must be >= 1 (spec §21)");
}

void AttentionModule::record_map(const std::string& name, const Tensor& value) {
  if (!recording_) return;
  const Tensor kept = value.detach();
  for (auto& item : maps_)
    if (item.first == name) {
      item.second = kept;
      return;
    }
  maps_.emplace_back(name, kept);
}

void set_map_recording(Module& root, bool on) { set_recording_below(root, on); }

std::shared_ptr<Module> add_group(Module& parent, const std::string& name,
                                  const std::string& type_name) {
  return parent.register_module(name,
                                std::make_shared<Module>(type_name.empty() ? name : type_name));
}

std::vector<std::pair<std::string, Tensor>> attention_maps(const Module& root) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [path, m] : root.named_modules()) {
    const auto* a = dynamic_cast<const AttentionModule*>(m);
    if (!a) continue;
    for (const auto& [name, value] : a->maps()) {
      std::string full = path;
      if (!full.empty()) full.append(".");
      full.append(name);
      out.emplace_back(full, value);
    }
  }
  return out;
}

Tensor FusionModule::fuse_call(const Tensor& residual, const Tensor& identity) {
  run_forward_pre_hooks(residual);
  Tensor y = fuse(residual, identity);
  run_forward_hooks(residual, y);
  return y;
}

Tensor ContextModule::attend_call(const Tensor& x, const Tensor& context) {
  run_forward_pre_hooks(x);
  Tensor y = attend(x, context);
  run_forward_hooks(x, y);
  return y;
}

// ---- options -------------------------------------------------------------------------------------

AttentionOptions::AttentionOptions(std::string module, std::vector<AttentionOption> declared,
                                   const std::string& text)
    : module_(std::move(module)), declared_(std::move(declared)) {
  if (text.empty()) return;
  std::vector<std::string> names;
  for (const auto& d : declared_) names.push_back(d.name);
  const std::string valid = names.empty() ? "it takes none" : "valid: " + join(names, ", ");
  for (const std::string& item : split(text, ',')) {
    const size_t eq = item.find('=');
    FOVEA_CHECK(eq != std::string::npos && eq > 0, "attention ", module_, ": option \"", item,
                "\" is not name=value (", valid, ")");
    const std::string key = item.substr(0, eq);
    bool known = false;
    for (const auto& d : declared_) known = known || d.name == key;
    FOVEA_CHECK(known, "attention ", module_, ": unknown option \"", key, "\" (", valid, ")");
    for (const auto& g : given_)
      FOVEA_CHECK(g.first != key, "attention ", module_, ": option \"", key, "\" given twice");
    given_.emplace_back(key, item.substr(eq + 1));
  }
}

const std::string& AttentionOptions::raw(const std::string& name) const {
  for (const auto& g : given_)
    if (g.first == name) return g.second;
  for (const auto& d : declared_)
    if (d.name == name) return d.default_value;
  FOVEA_FAIL("attention ", module_, ": reads option \"", name, "\" that it does not declare");
}

void AttentionOptions::bad_value(const std::string& name, const std::string& expected) const {
  FOVEA_FAIL("attention ", module_, ": option ", name, "=", raw(name), " is not ", expected);
}

std::string AttentionOptions::text(const std::string& name) const { return raw(name); }

double AttentionOptions::number(const std::string& name) const {
  const std::string& s = raw(name);
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || !std::isfinite(v)) bad_value(name, "a finite number");
  return v;
}

int64_t AttentionOptions::integer(const std::string& name) const {
  const std::string& s = raw(name);
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size()) bad_value(name, "an integer");
  return int64_t(v);
}

int64_t AttentionOptions::integer(const std::string& name, int64_t lo, int64_t hi) const {
  const int64_t v = integer(name);
  if (v < lo || v > hi) {
    std::ostringstream range;
    range << "an integer in " << lo << ".." << hi;
    bad_value(name, range.str());
  }
  return v;
}

bool AttentionOptions::flag(const std::string& name) const {
  const std::string& s = raw(name);
  if (s == "true" || s == "1") return true;
  if (s == "false" || s == "0") return false;
  bad_value(name, "true or false");
}

std::string AttentionOptions::choice(const std::string& name,
                                     const std::vector<std::string>& allowed) const {
  const std::string& s = raw(name);
  for (const auto& a : allowed)
    if (s == a) return s;
  bad_value(name, "one of " + join(allowed, ", "));
}

std::vector<std::string> AttentionOptions::list(const std::string& name,
                                                const std::vector<std::string>& allowed) const {
  std::vector<std::string> items = split(raw(name), '+');
  for (size_t i = 0; i < items.size(); ++i) {
    bool ok = false;
    for (const auto& a : allowed) ok = ok || items[i] == a;
    for (size_t j = 0; j < i; ++j) ok = ok && items[j] != items[i];
    if (!ok) bad_value(name, "a '+'-separated list of distinct items from " + join(allowed, ", "));
  }
  return items;
}

std::string AttentionOptions::given() const {
  std::vector<std::string> items;
  for (const auto& d : declared_)
    for (const auto& g : given_)
      if (g.first == d.name) items.push_back(g.first + "=" + g.second);
  return join(items, ",");
}

// ---- registry ------------------------------------------------------------------------------------

void register_attention(const std::string& name, AttentionSpec spec) {
  FOVEA_CHECK(name != "none" && !name.empty() && name.find_first_of(":,=") == std::string::npos,
              "register_attention: \"", name, "\" is reserved, empty or holds ':', ',' or '='");
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
  std::vector<std::string> known{"none"};
  for (const auto& entry : registry()) known.push_back(entry.first);
  FOVEA_FAIL("attention: unknown module \"", name, "\" (known: ", join(known, ", "), ")");
}

std::vector<std::string> attention_names() {
  std::lock_guard<std::mutex> lock(registry_mutex);
  std::vector<std::string> names{"none"};
  for (const auto& entry : registry()) names.push_back(entry.first);
  return names;
}

ParsedAttention parse_attention(const std::string& name_and_options) {
  const size_t colon = name_and_options.find(':');
  const std::string name = name_and_options.substr(0, colon);
  const std::string text = colon == std::string::npos ? "" : name_and_options.substr(colon + 1);
  ParsedAttention p;
  p.spec = find_attention(name);
  FOVEA_CHECK(p.spec || text.empty(), "attention: \"none\" takes no options, got \"", text, "\"");
  if (p.spec) p.options = AttentionOptions(name, p.spec->options, text);
  return p;
}

}  // namespace fovea::nn
