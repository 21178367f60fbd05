#include "layers/checkpoint.h"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string_view>

#include "engine/core/random.h"
#include "engine/io/atomic_file.h"
#include "engine/io/json_depth.h"
#include "engine/io/safetensors.h"

namespace fovea::nn {

namespace {

namespace fs = std::filesystem;
using Metadata = std::map<std::string, std::string>;

constexpr const char* kModelPrefix = "model.";
constexpr const char* kOptimPrefix = "optim.";
constexpr const char* kChecksumKey = "checksum";
constexpr int kFirstVersionWithChecksum = 2;

std::string dump_json(const nlohmann::json& j, const std::string& path, const char* what) {
  try {
    return j.dump();
  } catch (const nlohmann::json::exception& e) {
    FOVEA_FAIL("save_checkpoint: ", path, ": ", what, " cannot be written as JSON (", e.what(),
               ")");
  }
}

// ---- reading the metadata ---------------------------------------------------------------------

const std::string& field(const Metadata& meta, const std::string& path, const std::string& key) {
  auto it = meta.find(key);
  FOVEA_CHECK(it != meta.end(), "load_checkpoint: ", path, ": the metadata has no \"", key, "\"");
  return it->second;
}

int64_t int_field(const Metadata& meta, const std::string& path, const std::string& key) {
  const std::string& text = field(meta, path, key);
  int64_t v = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  FOVEA_CHECK(ec == std::errc() && end == text.data() + text.size() && v >= 0,
              "load_checkpoint: ", path, ": \"", key, "\" is \"", text,
              "\", not a non-negative integer");
  return v;
}

nlohmann::json json_field(const Metadata& meta, const std::string& path, const std::string& key) {
  // Bounded depth (json_depth.h): the value is dumped again in messages and the next save.
  auto bounded = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    FOVEA_CHECK(depth <= io::kMaxJsonDepth, "load_checkpoint: ", path, ": \"", key,
                "\" nests deeper than ", io::kMaxJsonDepth, " levels");
    return true;
  };
  try {
    return nlohmann::json::parse(field(meta, path, key), bounded);
  } catch (const nlohmann::json::exception& e) {
    FOVEA_FAIL("load_checkpoint: ", path, ": \"", key, "\" is not valid JSON (", e.what(), ")");
  }
}

// Format and version come first: a file that is not a fovea checkpoint (or is from a newer
// fovea) gets that error, not a confusing one about a missing field or checksum.
void check_format(const Metadata& meta, const std::string& path) {
  auto format = meta.find("format");
  FOVEA_CHECK(format != meta.end() && format->second == kCheckpointFormat,
              "load_checkpoint: ", path, " is not a fovea checkpoint (its metadata has ",
              format == meta.end() ? "no \"format\"" : "\"format\": \"" + format->second + "\"",
              ", expected \"", kCheckpointFormat, "\")");
  const std::string& version = field(meta, path, "format_version");
  FOVEA_CHECK(version == "1" || version == std::to_string(kCheckpointFormatVersion),
              "load_checkpoint: ", path, " has format_version \"", version,
              "\"; this build reads versions 1 to ", kCheckpointFormatVersion);
}

TrainingState parse_state(const Metadata& meta, const std::string& path) {
  TrainingState state;
  state.model_desc = field(meta, path, "model");
  state.epoch = int_field(meta, path, "epoch");
  state.step = int_field(meta, path, "step");
  state.extra = json_field(meta, path, "extra");
  const nlohmann::json rng = json_field(meta, path, "rng");
  FOVEA_CHECK(rng.is_object(), "load_checkpoint: ", path, ": \"rng\" must be a JSON object, got ",
              rng.dump());
  for (const auto& [name, value] : rng.items()) {
    FOVEA_CHECK(value.is_string(), "load_checkpoint: ", path, ": rng \"", name,
                "\" must be a string, got ", value.dump());
    Generator probe;  // checked here so that restoring it later cannot fail
    try {
      probe.set_state(value.get<std::string>());
    } catch (const Error& e) {
      FOVEA_FAIL("load_checkpoint: ", path, ": rng \"", name, "\": ", e.what());
    }
    state.rng.emplace(name, value.get<std::string>());
  }
  return state;
}

// ---- the checksum -------------------------------------------------------------------------------

// crc32 of a sequence of fields; each variable-length one is preceded by its length, so that
// moving bytes from one field to the next changes the sum.
class Crc32 {
 public:
  void bytes(const void* data, size_t n) {
    const auto* p = static_cast<const Bytef*>(data);
    for (; n > 0;) {
      const uInt chunk = uInt(std::min<size_t>(n, 1u << 30));
      crc_ = ::crc32(crc_, p, chunk);
      p += chunk;
      n -= chunk;
    }
  }
  void number(uint64_t v) {
    uint8_t le[8];
    for (int i = 0; i < 8; ++i) le[i] = uint8_t(v >> (8 * i));
    bytes(le, 8);
  }
  void text(std::string_view s) {
    number(s.size());
    bytes(s.data(), s.size());
  }
  std::string hex() const {
    char out[16];
    std::snprintf(out, sizeof out, "crc32:%08lx", static_cast<unsigned long>(crc_));
    return out;
  }

 private:
  uLong crc_ = ::crc32(0, nullptr, 0);
};

// Covers everything a load uses: each tensor's name, dtype, shape and bytes in file order, and
// every metadata entry but the checksum itself.
std::string checksum(const io::NamedTensors& tensors, const Metadata& meta) {
  Crc32 crc;
  crc.number(tensors.size());
  for (const auto& [name, t] : tensors) {
    crc.text(name);
    crc.text(io::safetensors_dtype_name(t.dtype()));
    crc.number(t.shape().size());
    for (int64_t d : t.shape()) crc.number(uint64_t(d));
    const Tensor bytes = t.detach().to(Device::cpu()).contiguous();
    if (bytes.numel() > 0)
      crc.bytes(bytes.raw_data(), size_t(bytes.numel()) * dtype_size(bytes.dtype()));
  }
  for (const auto& [key, value] : meta)
    if (key != kChecksumKey) {
      crc.text(key);
      crc.text(value);
    }
  return crc.hex();
}

// Version 1 files (written before checksums) have none; later ones must have a matching one.
void verify_checksum(const io::SafetensorsFile& file, const std::string& path) {
  const auto stored = file.metadata.find(kChecksumKey);
  if (stored == file.metadata.end()) {
    FOVEA_CHECK(file.metadata.at("format_version") == "1", "load_checkpoint: ", path,
                " is damaged: its metadata has no \"", kChecksumKey,
                "\" (every checkpoint since format_version ", kFirstVersionWithChecksum,
                " has one)");
    return;
  }
  const std::string actual = checksum(file.tensors, file.metadata);
  FOVEA_CHECK(stored->second == actual, "load_checkpoint: ", path,
              " is damaged: its contents give checksum ", actual, ", the file records ",
              stored->second, " (a torn or corrupted copy)");
}

struct CheckedFile {
  io::SafetensorsFile file;
  TrainingState state;
};

// The whole file, checked and its state parsed before anything is changed. The checksum comes
// before the fields, so that damage reads as such rather than as a malformed field.
CheckedFile read_checked(const std::string& path) {
  io::SafetensorsFile file = io::load_safetensors(path);
  check_format(file.metadata, path);
  verify_checksum(file, path);
  TrainingState state = parse_state(file.metadata, path);
  return {std::move(file), std::move(state)};
}

// Copies `dict` into `model`, or changes nothing and names the file in the error.
void load_model(const std::string& path, Module& model, const StateDict& dict) {
  try {
    model.load_state_dict(dict, /*strict=*/true);
  } catch (const Error& e) {
    FOVEA_FAIL("load_checkpoint: ", path, ": ", e.what());
  }
}

// ---- a run's folder -----------------------------------------------------------------------------

// The step of the good checkpoint at `path`; none when it is missing or damaged.
std::optional<int64_t> good_step(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  try {
    return read_checked(path).state.step;
  } catch (const Error&) {
    return std::nullopt;
  }
}

// Before the newest checkpoint is replaced by one at `new_step`: it becomes the previous one when
// it is good and an earlier point of the run. Otherwise returns whether the previous one is
// stale, to be removed once the new checkpoint is in place: damaged, or not earlier than the new
// one (left by another run in this folder), which a folder resume would prefer. Not before:
// until the new checkpoint is renamed into place, it may be the folder's only good one (when
// the newest is damaged).
bool rotate_previous(const std::string& latest, const std::string& previous, int64_t new_step) {
  const std::optional<int64_t> latest_step = good_step(latest);
  if (latest_step && *latest_step < new_step) {
    io::link_file_atomically(latest, previous, "save_checkpoint");
    return false;
  }
  const std::optional<int64_t> previous_step = good_step(previous);
  return !(previous_step && *previous_step < new_step);
}

bool is_checkpoint_name(const std::string& name) {
  return name.starts_with("checkpoint") && name.ends_with(".safetensors");
}

// What a folder holds, for the error that finds no checkpoint in it.
std::string listing(const fs::path& folder) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
    names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "nothing" : out;
}

}  // namespace

void save_checkpoint(const std::string& path, const Module& model,
                     const optim::Optimizer* optimizer, const TrainingState& state) {
  FOVEA_CHECK(!state.model_desc.empty(), "save_checkpoint: ", path,
              ": the model description is empty (it is what tells checkpoints of different "
              "models apart)");
  FOVEA_CHECK(state.epoch >= 0 && state.step >= 0, "save_checkpoint: ", path,
              ": epoch and step must be non-negative, got epoch ", state.epoch, ", step ",
              state.step);
  io::NamedTensors tensors;
  for (const auto& [key, t] : model.state_dict()) tensors.emplace_back(kModelPrefix + key, t);

  Metadata meta = {{"format", kCheckpointFormat},
                   {"format_version", std::to_string(kCheckpointFormatVersion)},
                   {"model", state.model_desc},
                   {"epoch", std::to_string(state.epoch)},
                   {"step", std::to_string(state.step)},
                   {"rng", dump_json(nlohmann::json(state.rng), path, "the rng states")},
                   {"extra", dump_json(state.extra, path, "\"extra\"")}};
  if (optimizer != nullptr) {
    const optim::OptimizerState optim_state = optimizer->state_dict();
    for (const auto& [key, t] : optim_state.tensors) tensors.emplace_back(kOptimPrefix + key, t);
    meta["optim"] = dump_json(optim_state.meta, path, "the optimiser state");
  }
  meta[kChecksumKey] = checksum(tensors, meta);
  io::save_safetensors(path, tensors, meta);
}

TrainingState read_checkpoint_state(const std::string& path) { return read_checked(path).state; }

TrainingState load_checkpoint(const std::string& path, const std::string& model_desc, Module& model,
                              optim::Optimizer* optimizer) {
  auto [file, state] = read_checked(path);
  FOVEA_CHECK(state.model_desc == model_desc, "load_checkpoint: ", path,
              " is a checkpoint of another model: it holds \"", state.model_desc,
              "\", this run builds \"", model_desc, "\"");

  StateDict model_dict;
  optim::OptimizerState optim_state;
  for (const auto& [name, t] : file.tensors) {
    if (name.starts_with(kModelPrefix))
      model_dict.insert(name.substr(std::string_view(kModelPrefix).size()), t);
    else if (name.starts_with(kOptimPrefix))
      optim_state.tensors.emplace_back(name.substr(std::string_view(kOptimPrefix).size()), t);
    else
      FOVEA_FAIL("load_checkpoint: ", path, ": unexpected tensor \"", name,
                 "\" (names start with \"", kModelPrefix, "\" or \"", kOptimPrefix, "\")");
  }
  if (optimizer == nullptr) {
    load_model(path, model, model_dict);
    return state;
  }
  FOVEA_CHECK(file.metadata.count("optim") != 0, "load_checkpoint: ", path,
              " holds no optimiser state (it was saved without an optimiser)");
  optim_state.meta = json_field(file.metadata, path, "optim");

  // Each load is all or nothing by itself; should the optimiser refuse its state after the model
  // took its own, the model goes back to what it was, so a failed load changes nothing.
  StateDict model_before;
  for (const auto& [key, t] : model.state_dict()) model_before.insert(key, t.clone());
  load_model(path, model, model_dict);
  try {
    optimizer->load_state_dict(optim_state);
  } catch (const Error& e) {
    model.load_state_dict(model_before);
    FOVEA_FAIL("load_checkpoint: ", path, ": ", e.what());
  }
  return state;
}

void save_run_checkpoint(const std::string& folder, const Module& model,
                         const optim::Optimizer* optimizer, const TrainingState& state) {
  const fs::path dir(folder);
  const std::string latest = (dir / kLatestCheckpointName).string();
  const std::string previous = (dir / kPreviousCheckpointName).string();
  const bool previous_is_stale = rotate_previous(latest, previous, state.step);
  save_checkpoint(latest, model, optimizer, state);
  std::error_code ec;
  if (previous_is_stale) fs::remove(previous, ec);  // should it fail, the new one is in place
}

LatestCheckpoint find_latest_checkpoint(const std::string& folder) {
  std::error_code ec;
  FOVEA_CHECK(fs::is_directory(folder, ec), "find_latest_checkpoint: ", folder,
              fs::exists(folder, ec) ? " is not a folder" : " does not exist");
  std::vector<std::string> candidates;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
    if (is_checkpoint_name(it->path().filename().string()) && it->is_regular_file(ec))
      candidates.push_back(it->path().string());
  FOVEA_CHECK(!ec, "find_latest_checkpoint: cannot list ", folder, ": ", ec.message());
  std::sort(candidates.begin(), candidates.end());

  LatestCheckpoint best;
  bool found = false;
  for (const std::string& path : candidates) {
    try {
      TrainingState state = read_checked(path).state;
      const bool newer =
          std::pair(state.epoch, state.step) > std::pair(best.state.epoch, best.state.step);
      if (!found || newer) {
        best.path = path;
        best.state = std::move(state);
        found = true;
      }
    } catch (const Error& e) {
      best.skipped.push_back({path, e.what()});
    }
  }
  if (found) return best;
  FOVEA_CHECK(!candidates.empty(), "find_latest_checkpoint: no checkpoint in ", folder,
              " (no checkpoint*.safetensors file; the folder holds ", listing(folder), ")");
  std::string why;
  for (const auto& [path, reason] : best.skipped) why += "; " + reason;
  FOVEA_FAIL("find_latest_checkpoint: no good checkpoint in ", folder, ", all ", candidates.size(),
             " are damaged", why);
}

std::string resolve_checkpoint(const std::string& path, std::ostream& notes) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return path;
  const LatestCheckpoint latest = find_latest_checkpoint(path);
  for (const auto& [skipped, why] : latest.skipped)
    notes << "resume: skipping " << fs::path(skipped).filename().string() << ": " << why << "\n";
  return latest.path;
}

}  // namespace fovea::nn
