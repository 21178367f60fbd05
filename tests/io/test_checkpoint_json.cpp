// The JSON fields of a checkpoint's metadata ("extra", "rng", "optim") nest at most 64 levels:
// deeper ones overflowed the stack where they were dumped (into an error message, or into the
// next checkpoint). The file is a format_version 1 checkpoint, which has no checksum to stop the
// damaged field first.
#include <doctest/doctest.h>

#include "io/io_support.h"
#include "layers/layers.h"

using namespace fovea;
using test::contains;
using test::TempDir;

TEST_CASE("checkpoint: metadata JSON nested past 64 levels is a named error") {
  TempDir dir;
  const std::string path = dir.file("deep.safetensors");
  const char* desc = "linear(3, 2)";
  auto model = std::make_shared<nn::Linear>(3, 2);
  nn::TrainingState state;
  state.model_desc = desc;
  const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  for (const char* key : {"extra", "rng"}) {
    CAPTURE(key);
    nn::save_checkpoint(path, *model, nullptr, state);
    io::SafetensorsFile file = io::load_safetensors(path);
    std::map<std::string, std::string> meta = test::as_version_1(file.metadata);
    meta[key] = deep;
    io::save_safetensors(path, file.tensors, meta);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, desc, *model, nullptr),
                         contains("load_checkpoint: " + path + ": \"" + key +
                                  "\" nests deeper than 64 levels"),
                         Error);
  }
  // 64 levels still load.
  nn::save_checkpoint(path, *model, nullptr, state);
  io::SafetensorsFile file = io::load_safetensors(path);
  std::map<std::string, std::string> meta = test::as_version_1(file.metadata);
  meta["extra"] = std::string(64, '[') + std::string(64, ']');
  io::save_safetensors(path, file.tensors, meta);
  CHECK(nn::load_checkpoint(path, desc, *model, nullptr).extra.is_array());
}
