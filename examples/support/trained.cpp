#include "support/trained.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/core/error.h"
#include "layers/checkpoint.h"

namespace fovea::train {

Trained load_trained(const std::string& path, const std::string& data) {
  std::ostringstream skipped;  // a folder's damaged checkpoints passed over (not reported here)
  Trained t;
  t.checkpoint = nn::resolve_checkpoint(path, skipped);
  const nn::TrainingState state = nn::read_checkpoint_state(t.checkpoint);
  FOVEA_CHECK(state.extra.contains("config"), t.checkpoint,
              ": the checkpoint holds no run configuration (\"extra.config\"); was it written "
              "by examples/train?");
  t.config = config_from_json(state.extra.at("config").dump());
  if (!data.empty()) t.config.data = data;
  t.config.device = "cpu";
  t.data = load_datasets(t.config);
  t.model = make_model(t.config, *t.data.train);
  nn::load_checkpoint(t.checkpoint, t.model.description, *t.model.net, nullptr);
  t.model.net->eval();
  t.epoch = state.epoch;
  return t;
}

}  // namespace fovea::train
