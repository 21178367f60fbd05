// A trained network back from its checkpoint (examples/support/trained.h), as the programs that
// look inside it load it: the run's configuration, the same weights (the loaded network gets
// the run's test accuracy image for image), eval mode; a checkpoint without a configuration,
// data that moved away and a file that is no checkpoint are errors naming them. And the run
// configuration's JSON read back (config_from_json) is the configuration written.
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>
#include <string>

#include "engine/core/error.h"
#include "engine/fovea.h"
#include "engine/io/safetensors.h"
#include "support/trained.h"
#include "toy_training.h"

using namespace fovea;
using fovea::test::toy_config;
using fovea::test::write_toy_mnist;

TEST_CASE("trained: a run's checkpoint gives back its configuration, weights and accuracy") {
  test::TempDir data, out;
  write_toy_mnist(data, 96, 40);
  train::Config c = toy_config(data, out.file("run"));
  c.attention = "se";
  std::ostringstream log;
  const train::Result r = train::run(c, log);

  const train::Trained t = train::load_trained(out.file("run"));  // the folder: its newest
  CHECK(t.checkpoint == test::checkpoint_of(c));
  CHECK(train::config_json(t.config) == train::config_json(c));
  CHECK(t.epoch == 2);
  CHECK_FALSE(t.model.net->is_training());
  CHECK(t.data.test->size() == 40);
  // The weights are the checkpoint's, tensor for tensor.
  const io::SafetensorsFile file = io::load_safetensors(t.checkpoint);
  const nn::StateDict state = t.model.net->state_dict();  // items() refers into it: keep it
  for (const auto& item : state.items()) {
    const std::string& name = item.first;  // not a binding: CAPTURE's lambda captures it
    const Tensor& value = item.second;
    CAPTURE(name);
    REQUIRE(file.contains("model." + name));
    const Tensor stored = file.at("model." + name).to(DType::Float64);
    CHECK(amax(abs(stored - value.to(DType::Float64))).item() == 0);
  }
  // And they classify the test set as the run did at its end.
  int64_t correct = 0;
  for (int64_t i = 0; i < t.data.test->size(); ++i) {
    const data::Example e = t.data.test->get(i);
    const Tensor scores = (*t.model.net)(e.image.unsqueeze(0));
    correct += argmax(scores, 1).item() == double(e.label);
  }
  CHECK(correct == r.correct);
}

TEST_CASE("trained: no configuration, missing data and other files are errors naming them") {
  test::TempDir data, out;
  write_toy_mnist(data, 32, 8);
  train::Config c = toy_config(data, out.file("run"));
  c.epochs = 1;
  std::ostringstream log;
  train::run(c, log);
  const std::string ckpt = test::checkpoint_of(c);

  const std::string bare = out.file("bare.safetensors");
  test::edit_checkpoint(c, ckpt, bare, [](nn::Module&, nn::TrainingState& s) { s.extra = {}; });
  CHECK_THROWS_WITH_AS(train::load_trained(bare), doctest::Contains("holds no run configuration"),
                       Error);
  CHECK_THROWS_WITH_AS(train::load_trained(ckpt, out.file("moved-away")),
                       doctest::Contains("moved-away"), Error);
  const std::string text = out.file("notes.txt");
  test::write_text(text, "not a checkpoint");
  CHECK_THROWS_WITH_AS(train::load_trained(text), doctest::Contains("notes.txt"), Error);
  // With the data given again at a new place, it loads.
  std::filesystem::rename(data.path, out.file("data-here"));
  CHECK(train::load_trained(ckpt, out.file("data-here")).config.data == out.file("data-here"));
  std::filesystem::rename(out.file("data-here"), data.path);  // TempDir removes its own folder
}

TEST_CASE("trainer: config_from_json reads config_json back and missing keys keep defaults") {
  train::Config c;
  c.dataset = "cifar10";
  c.attention = "cbam:reduction_ratio=8";
  c.hidden = {64, 32};
  c.milestones = {0.3, 0.6, 0.9};
  c.lr = 0.0125;
  c.seed = 18446744073709551615ull;
  c.keep_last_batch = true;
  c.out = "not/saved";
  const train::Config back = train::config_from_json(train::config_json(c));
  CHECK(train::config_json(back) == train::config_json(c));
  CHECK(back.out == train::Config().out);  // per-invocation settings are not part of it
  const train::Config partial = train::config_from_json(R"({"model": "resnet32"})");
  CHECK(partial.model == "resnet32");
  CHECK(partial.lr == train::Config().lr);
  CHECK_THROWS_WITH_AS(train::config_from_json("{\"lr\": \"fast\"}"),
                       doctest::Contains("not a run configuration"), Error);
  CHECK_THROWS_AS(train::config_from_json("[1, 2"), Error);
}
