#include "attention/register.h"

#include <mutex>
#include <utility>

#include "attention/aff.h"
#include "attention/ba2m.h"
#include "attention/bam.h"
#include "attention/cbam.h"
#include "attention/coord_attention.h"
#include "attention/eca.h"
#include "attention/external_attention.h"
#include "attention/fcanet.h"
#include "attention/gam.h"
#include "attention/gsa.h"
#include "attention/mhsa.h"
#include "attention/psa.h"
#include "attention/sagan.h"
#include "attention/sca.h"
#include "attention/se.h"
#include "attention/sge.h"
#include "attention/shuffle_attention.h"
#include "attention/sk.h"
#include "attention/triplet.h"
#include "engine/core/error.h"

namespace fovea::attention {

namespace {

struct Builtin {
  std::string name;
  nn::AttentionSpec spec;  // <module>_spec() of the module's own file
  // Options under which it fits a CIFAR ResNet (widths 16, 32, 64 at 32x32 inputs): empty where
  // the spec's defaults fit, else the smallest change (spec §21).
  std::string cifar_options;
};

// One line per module.
std::vector<Builtin> builtins() {
  return {
      {"aff", aff_spec(), ""},
      {"ba2m", ba2m_spec(), ""},
      {"bam", bam_spec(), ""},
      {"ca", ca_spec(), ""},
      {"cbam", cbam_spec(), ""},
      {"cbam_residual", cbam_residual_spec(), ""},
      {"eca", eca_spec(), ""},
      {"external", external_spec(), ""},
      // num_heads=8 fits the widths too, but holds 2048 attention values per position
      // ([N, 32, HW, 64]: 1 GiB per block at 32x32, batch 128); 2 holds 512.
      {"external_mh", external_mh_spec(), "num_heads=2"},
      {"external_tokens", external_tokens_spec(), ""},
      {"fca", fcanet_spec(), ""},
      {"gam", gam_spec(), ""},
      {"gsa", gsa_spec(), "heads=4,dim_key=16,rel_pos_length=global"},
      {"iaff", iaff_spec(), ""},
      // heads=8 fits the widths too, but at 32x32 its [N, 8, 1024, 1024] matrices are 4 GiB each
      // at batch 128 (x3 live in training: more than a 32 GiB machine) and made a CIFAR step
      // ~70x slower than the plain network's; 2 heads hold a quarter.
      {"mhsa", mhsa_spec(), "heads=2"},
      {"ms_cam", ms_cam_spec(), ""},
      {"psa", psa_spec(), ""},
      {"sa", sa_spec(), "groups=4"},
      {"sagan", sagan_spec(), ""},
      {"sca", sca_spec(), "k=64,context_dim=64"},
      {"se", se_spec(), ""},
      {"sge", sge_spec(), "groups=8"},
      {"sk", sk_spec(), "groups=16"},
      {"sk_xmu", sk_xmu_spec(), ""},
      {"triplet", triplet_spec(), ""},
  };
}

}  // namespace

void register_all() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (auto& b : builtins()) nn::register_attention(b.name, std::move(b.spec));
  });
}

std::vector<std::string> builtin_names() {
  std::vector<std::string> names;
  for (const auto& b : builtins()) names.push_back(b.name);
  return names;
}

std::string cifar_name(const std::string& name) {
  for (const auto& b : builtins())
    if (b.name == name) return b.cifar_options.empty() ? name : name + ":" + b.cifar_options;
  FOVEA_FAIL("cifar_name: \"", name, "\" is not a built-in attention module");
}

}  // namespace fovea::attention
