#include "layers/checkpoint.h"

#include <charconv>
#include <string_view>

#include "engine/core/random.h"
#include "engine/io/safetensors.h"

namespace fovea::nn {

namespace {

using Metadata = std::map<std::string, std::string>;

constexpr const char* kModelPrefix = "model.";
constexpr const char* kOptimPrefix = "optim.";

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
  try {
    return nlohmann::json::parse(field(meta, path, key));
  } catch (const nlohmann::json::exception& e) {
    FOVEA_FAIL("load_checkpoint: ", path, ": \"", key, "\" is not valid JSON (", e.what(), ")");
  }
}

// Format and version first: a file that is not a fovea checkpoint (or is from a newer fovea)
// gets that error, not a confusing one about a missing field.
TrainingState parse_state(const Metadata& meta, const std::string& path) {
  auto format = meta.find("format");
  FOVEA_CHECK(format != meta.end() && format->second == kCheckpointFormat,
              "load_checkpoint: ", path, " is not a fovea checkpoint (its metadata has ",
              format == meta.end() ? "no \"format\"" : "\"format\": \"" + format->second + "\"",
              ", expected \"", kCheckpointFormat, "\")");
  const std::string& version = field(meta, path, "format_version");
  FOVEA_CHECK(version == std::to_string(kCheckpointFormatVersion), "load_checkpoint: ", path,
              " has format_version \"", version, "\"; this build reads version ",
              kCheckpointFormatVersion);

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

// Copies `dict` into `model`, or changes nothing and names the file in the error.
void load_model(const std::string& path, Module& model, const StateDict& dict) {
  try {
    model.load_state_dict(dict, /*strict=*/true);
  } catch (const Error& e) {
    FOVEA_FAIL("load_checkpoint: ", path, ": ", e.what());
  }
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
  io::save_safetensors(path, tensors, meta);
}

TrainingState read_checkpoint_state(const std::string& path) {
  return parse_state(io::load_safetensors(path).metadata, path);
}

TrainingState load_checkpoint(const std::string& path, const std::string& model_desc, Module& model,
                              optim::Optimizer* optimizer) {
  const io::SafetensorsFile file = io::load_safetensors(path);
  TrainingState state = parse_state(file.metadata, path);
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

}  // namespace fovea::nn
