// The nesting limit of JSON read from files (safetensors headers, checkpoint metadata).
//
// nlohmann parses any depth without recursion, but dump(), which error messages and the next
// save use, recurses once per level: a header of a few megabytes of '[' overflowed the stack.
// Readers refuse deeper JSON while parsing, from nlohmann's parser callback (its `depth`).
// fovea's own files nest 3 levels (a checkpoint's "extra" as deep as its writer makes it).
#pragma once

namespace fovea::io {

constexpr int kMaxJsonDepth = 64;

}  // namespace fovea::io
