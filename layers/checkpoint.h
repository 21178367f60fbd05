// Training checkpoints: everything a run needs to continue where it stopped, in one safetensors
// file (engine/io/safetensors.h), so the weights also load in PyTorch
// (examples/safetensors_to_torch.py).
//
//   tensors      "model.<key>"  Module::state_dict() (parameters and buffers)
//                "optim.<key>"  Optimizer::state_dict().tensors (when an optimiser is saved)
//   __metadata__ "format": "fovea-checkpoint", "format_version": "2",
//                "model": the caller's description of the architecture, e.g.
//                         "resnet20(num_classes=10, attention=none)",
//                "epoch", "step": decimal integers,
//                "rng": JSON object, generator name -> Generator::state(),
//                "extra": JSON (metrics so far, the run's configuration, ...),
//                "optim": the optimiser's JSON meta (when an optimiser is saved),
//                "checksum": "crc32:<8 hex digits>" over every tensor's name, dtype, shape and
//                            bytes (in file order) and every other metadata entry
//
// The file is written atomically (engine/io/atomic_file.h: a crash, SIGKILL or power loss
// leaves the previous file or the new one, never a torn one). Loading checks the format and
// version, verifies the checksum (a truncated, torn or bit-flipped file is an error that names
// it and says it is damaged), parses every field and checks that the checkpoint is of the same
// model (its description, then every tensor's name, shape and dtype via Module::load_state_dict's
// strict checks) before it changes anything: a failed load leaves the model and optimiser as
// they were. Version 1 files (fovea before checksums) have no checksum and still load.
//
// A run's folder (the trainer's --out) keeps two checkpoints, so that a damaged newest one still
// leaves a good one: checkpoint.safetensors, the newest, and checkpoint.prev.safetensors, the
// one it replaced (save_run_checkpoint). find_latest_checkpoint picks the newest good one by its
// stored epoch and step (never by file time); that is what `train --resume FOLDER` uses.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "engine/optim/optimizer.h"
#include "layers/module.h"

namespace fovea::nn {

constexpr const char* kCheckpointFormat = "fovea-checkpoint";
constexpr int kCheckpointFormatVersion = 2;  // 2 added "checksum"; 1 still loads
constexpr const char* kLatestCheckpointName = "checkpoint.safetensors";
constexpr const char* kPreviousCheckpointName = "checkpoint.prev.safetensors";

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

// ---- a run's folder ---------------------------------------------------------------------------

// Writes <folder>/checkpoint.safetensors. The checkpoint it replaces becomes
// <folder>/checkpoint.prev.safetensors (a hard link, no copy) when it is good and an earlier
// point of the run (a smaller step); otherwise a previous one that is damaged or not earlier
// (left by another run in this folder) is removed, once the new checkpoint is in place. Each
// step is atomic and nothing is removed before that, so a kill or a failed write at any moment
// leaves checkpoint.safetensors good (or absent before the first save), the folder with a good
// checkpoint whenever it had one, and its newest good one no older than the last completed save.
void save_run_checkpoint(const std::string& folder, const Module& model,
                         const optim::Optimizer* optimizer, const TrainingState& state);

struct LatestCheckpoint {
  std::string path;     // the newest good checkpoint
  TrainingState state;  // its state
  std::vector<std::pair<std::string, std::string>> skipped;  // damaged ones: path, the error
};

// The newest good checkpoint among the folder's files named checkpoint*.safetensors (so
// temporary files of interrupted writes, "<name>.tmp.<pid>", never count), newest by stored
// (epoch, step). Damaged ones are skipped and listed; a folder with no good one is an error that
// lists what it found and why each was refused.
LatestCheckpoint find_latest_checkpoint(const std::string& folder);

// What `--resume PATH` means: a file is taken as is (loading it checks it); a folder gives its
// newest good checkpoint, and each damaged one skipped there gets one line on `notes`.
std::string resolve_checkpoint(const std::string& path, std::ostream& notes);

}  // namespace fovea::nn
