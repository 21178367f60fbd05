#include "attention/register.h"

#include <mutex>
#include <utility>

#include "attention/bam.h"
#include "attention/cbam.h"
#include "attention/coord_attention.h"
#include "attention/eca.h"
#include "attention/fcanet.h"
#include "attention/gam.h"
#include "attention/se.h"
#include "attention/sge.h"
#include "attention/shuffle_attention.h"
#include "attention/sk.h"
#include "attention/triplet.h"

namespace fovea::attention {

namespace {

// One line per module: its slot name and the spec its own file defines (<module>_spec()).
std::vector<std::pair<std::string, nn::AttentionSpec>> builtin_specs() {
  return {
      {"bam", bam_spec()},
      {"ca", ca_spec()},
      {"cbam", cbam_spec()},
      {"cbam_residual", cbam_residual_spec()},
      {"eca", eca_spec()},
      {"fca", fcanet_spec()},
      {"gam", gam_spec()},
      {"sa", sa_spec()},
      {"se", se_spec()},
      {"sge", sge_spec()},
      {"sk", sk_spec()},
      {"sk_xmu", sk_xmu_spec()},
      {"triplet", triplet_spec()},
  };
}

}  // namespace

void register_all() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (auto& [name, spec] : builtin_specs()) nn::register_attention(name, std::move(spec));
  });
}

std::vector<std::string> builtin_names() {
  std::vector<std::string> names;
  for (const auto& entry : builtin_specs()) names.push_back(entry.first);
  return names;
}

}  // namespace fovea::attention
