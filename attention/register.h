// The attention modules of attention/ in the ResNets' slot (layers/attention_slot.h): their
// names, positions, options (the constructor arguments of the spec, with defaults) and how each
// is built from an AttentionContext. Registration is explicit, not a static initialiser a
// static library could drop: programs and tests call register_all() once (more calls do
// nothing).
#pragma once

#include <string>
#include <vector>

namespace fovea::attention {

void register_all();
// The names register_all() registers, sorted.
std::vector<std::string> builtin_names();
// `name` with the options under which it fits a CIFAR ResNet (widths 16, 32, 64 at 32x32
// inputs), "sa:groups=4", or `name` alone where the spec's defaults fit. For the zoo and the
// tests that put every module in a ResNet.
std::string cifar_name(const std::string& name);

}  // namespace fovea::attention
