#include "layers/param_groups.h"

#include <algorithm>

namespace fovea::nn {

std::vector<optim::ParamGroup> decay_groups(const Module& m, double weight_decay,
                                            const std::vector<std::string>& no_decay) {
  FOVEA_CHECK(weight_decay >= 0, "decay_groups: weight_decay must be >= 0, got ", weight_decay);
  const auto named = m.named_parameters();
  for (const std::string& name : no_decay)
    FOVEA_CHECK(std::any_of(named.begin(), named.end(), [&](const auto& np) { return np.first == name; }),
                "decay_groups: ", m.type_name(), " has no parameter '", name, "' (named in no_decay)");
  optim::ParamGroup plain{{}, {{"weight_decay", 0.0}}};
  optim::ParamGroup decayed{{}, {{"weight_decay", weight_decay}}};
  for (const auto& [name, p] : named) {
    if (!p.requires_grad()) continue;
    const bool exempt =
        p.dim() <= 1 || std::find(no_decay.begin(), no_decay.end(), name) != no_decay.end();
    (exempt ? plain : decayed).params.push_back(p);
  }
  return {plain, decayed};
}

}  // namespace fovea::nn
