// Training checkpoints: everything a run needs to continue where it stopped, in one safetensors
// file (engine/io/safetensors.h), so the weights also load in PyTorch
// (examples/safetensors_to_torch.py).
//
//   tensors      "model.<key>"  Module::state_dict() (parameters and buffers)
//                "optim.<key>"  Optimizer::state_dict().tensors (when an optimiser is saved)
//   __metadata__ "format": "fovea-checkpoint", "format_version": "1",
//                "model": the caller's description of the architecture, e.g.
//                         "resnet20(num_classes=10, attention=none)",
//                "epoch", "step": decimal integers,
//                "rng": JSON object, generator name -> Generator::state(),
//                "extra": JSON (metrics so far, the run's configuration, ...),
//                "optim": the optimiser's JSON meta (when an optimiser is saved)
//
// The file is written atomically (a crash leaves the previous checkpoint). Loading checks the
// format and version, that the checkpoint is of the same model (its description, then every
// tensor's name, shape and dtype via Module::load_state_dict's strict checks) and parses every
// field before it changes anything: a failed load leaves the model and optimiser as they were.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/optim/optimizer.h"
#include "layers/module.h"

namespace fovea::nn {

constexpr const char* kCheckpointFormat = "fovea-checkpoint";
constexpr int kCheckpointFormatVersion = 1;

// What a checkpoint holds besides tensors.
struct TrainingState {
  int64_t epoch = 0;                       // completed epochs
  int64_t step = 0;                        // optimiser steps taken
  std::string model_desc;                  // identifies the architecture; must match on load
  std::map<std::string, std::string> rng;  // name -> Generator::state()
  nlohmann::json extra = nlohmann::json::object();
};

// Writes model (and optimiser, unless null) state and `state` to `path`. The description must be
// non-empty; epoch and step non-negative.
void save_checkpoint(const std::string& path, const Module& model,
                     const optim::Optimizer* optimizer, const TrainingState& state);

// Loads a checkpoint written for `model_desc` into `model` and, unless null, `optimizer` (the
// checkpoint must then hold optimiser state). Returns the stored state; restoring the generators
// from its rng strings is the caller's (they were checked to parse).
TrainingState load_checkpoint(const std::string& path, const std::string& model_desc, Module& model,
                              optim::Optimizer* optimizer);

// The stored state alone, checked like load_checkpoint does (to inspect a checkpoint, or to find
// which model to build before resuming).
TrainingState read_checkpoint_state(const std::string& path);

}  // namespace fovea::nn
