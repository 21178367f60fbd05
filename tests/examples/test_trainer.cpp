// The training loop of examples/train (examples/support/trainer): outputs, resume that repeats
// an uninterrupted run exactly, epochs of full batches unless keep_last_batch, and the errors a
// user meets first. The numerical guard and memory are tested in test_trainer_guard.cpp.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/core/error.h"
#include "engine/core/build_info.h"
#include "examples/toy_training.h"
#include "support/skip.h"

using namespace fovea;
using test::read_file;
using test::toy_config;
using test::write_toy_mnist;
namespace fs = std::filesystem;

TEST_CASE("trainer: a run writes metrics, curves, confusion matrix and a checkpoint") {
  test::TempDir data, out;
  write_toy_mnist(data, 96, 40);
  std::ostringstream log;
  const train::Result r = train::run(toy_config(data, out.file("run")), log);
  REQUIRE(r.history.size() == 2);
  CHECK(r.total == 40);
  CHECK(r.history[1].test_acc > 0.5);  // learnable: chance is 0.25
  int64_t counted = 0;
  for (int64_t v : r.confusion) counted += v;
  CHECK(counted == 40);
  const fs::path dir = out.file("run");
  const std::string csv = read_file(dir / "metrics.csv");
  CHECK(csv.rfind("epoch,lr,train_loss,train_acc,test_loss,test_acc,", 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 3);
  CHECK(fs::file_size(dir / "curves.png") > 1000);
  CHECK(read_file(dir / "confusion.csv").rfind("true\\predicted,0,1,2,3,4,", 0) == 0);
  CHECK(nn::read_checkpoint_state((dir / "checkpoint.safetensors").string()).epoch == 2);
  CHECK(log.str().find("test accuracy:") != std::string::npos);
}

TEST_CASE("trainer: a run interrupted after epoch 1 and resumed repeats the uninterrupted run") {
  test::TempDir data, out;
  write_toy_mnist(data, 100, 40);  // 6 batches of 16 per epoch, the last 4 images dropped
  std::ostringstream log;
  train::Config full = toy_config(data, out.file("full"));
  full.augment = "crop:8:1,flip";  // random augmentation must repeat too
  full.attention = "none";
  const train::Result whole = train::run(full, log);

  train::Config first = full;
  first.out = out.file("parts");
  first.stop_after = 1;  // as if stopped after epoch 1
  train::run(first, log);
  train::Config rest = first;
  rest.stop_after = 0;
  rest.resume = (fs::path(first.out) / "checkpoint.safetensors").string();
  const train::Result resumed = train::run(rest, log);

  REQUIRE(resumed.history.size() == 2);
  for (size_t e = 0; e < 2; ++e) {
    INFO("epoch " << e + 1);
    CHECK(resumed.history[e].train_loss == whole.history[e].train_loss);
    CHECK(resumed.history[e].train_acc == whole.history[e].train_acc);
    CHECK(resumed.history[e].test_loss == whole.history[e].test_loss);
    CHECK(resumed.history[e].test_acc == whole.history[e].test_acc);
    CHECK(resumed.history[e].lr == whole.history[e].lr);
  }
  CHECK(resumed.confusion == whole.confusion);
}

TEST_CASE("trainer: image folders train at their own image size by default") {
  test::TempDir data, out;
  for (const char* split : {"train", "val"})
    for (int k = 0; k < 2; ++k)
      for (int i = 0; i < 4; ++i) {
        std::vector<uint8_t> rgb(12 * 12 * 3, uint8_t(k ? 200 : 30));
        rgb[size_t(i)] = uint8_t(i * 40);
        const std::string path = data.new_file(std::string(split) + "/class" +
                                               std::to_string(k) + "/" + std::to_string(i) + ".png");
        REQUIRE(stbi_write_png(path.c_str(), 12, 12, 3, rgb.data(), 12 * 3) != 0);
      }
  train::Config c = toy_config(data, out.file("folder"));
  c.dataset = "imagefolder";
  c.epochs = 1;
  c.batch_size = 4;
  c.quiet = false;
  std::ostringstream log;
  const train::Result r = train::run(c, log);
  CHECK(r.total == 8);
  CHECK(log.str().find("8 train, 8 test images of 3x12x12, 2 classes; augmentation: "
                       "crop:12:4,flip") != std::string::npos);
  // The model summary counts what ran: the global average pooling reads 64 maps of 3 x 3.
  CHECK(log.str().find("softmax elements: 0; elements read by poolings and reductions: 576 ") !=
        std::string::npos);
  CHECK(log.str().find("forward + backward of one image: ") != std::string::npos);
  CHECK(r.class_names == std::vector<std::string>{"class0", "class1"});
}

TEST_CASE("trainer: bad settings and missing data are errors naming the option or path") {
  test::TempDir data, out;
  write_toy_mnist(data, 48, 16);
  std::ostringstream log;
  auto expect = [&](train::Config c, const std::string& message) {
    CHECK_THROWS_WITH_AS(train::run(c, log), doctest::Contains(message.c_str()), Error);
  };
  train::Config c = toy_config(data, out.file("x"));
  c.dataset = "imagenet";
  expect(c, "unknown --dataset imagenet");
  c = toy_config(data, out.file("x"));
  c.model = "vgg16";
  expect(c, "unknown --model vgg16");
  c.model = "resnet21";
  expect(c, "6n + 2");
  c = toy_config(data, out.file("x"));
  c.optimizer = "lbfgs";
  expect(c, "unknown --optimizer lbfgs");
  c = toy_config(data, out.file("x"));
  c.schedule = "exp";
  expect(c, "unknown --schedule exp");
  c = toy_config(data, out.file("x"));
  c.attention = "magic";
  expect(c, "unknown module \"magic\"");
  c = toy_config(data, out.file("x"));
  c.data = out.file("missing");
  expect(c, "does not exist");
  c = toy_config(data, out.file("x"));
  c.device = "gpu";
  expect(c, "cannot parse \"gpu\"");

  // resuming with other settings, or into another model
  train::Config base = toy_config(data, out.file("base"));
  base.epochs = 1;
  train::run(base, log);
  const std::string ckpt = (fs::path(base.out) / "checkpoint.safetensors").string();
  train::Config other = base;
  other.resume = ckpt;
  other.lr = 0.5;
  expect(other, "cannot resume " + ckpt + " with different settings: lr was 0.05, now 0.5");
  // a checkpoint of another model (layers/checkpoint tests the model-description check itself)
  train::Config mlp = base;
  mlp.model = "mlp";
  mlp.out = out.file("mlp");
  train::run(mlp, log);
  const std::string mlp_ckpt = (fs::path(mlp.out) / "checkpoint.safetensors").string();
  train::Config into_resnet = base;
  into_resnet.resume = mlp_ckpt;
  expect(into_resnet, "model was \"mlp\", now \"resnet8\"");
}

TEST_CASE("trainer: an epoch trains on full batches only unless keep_last_batch") {
  test::TempDir data, out;
  write_toy_mnist(data, 100, 20);  // batches of 16: 6 full ones and 4 images over
  std::ostringstream log;
  train::Config c = toy_config(data, out.file("drop"));
  c.quiet = false;
  c.export_plans = out.file("plans");
  const train::Result dropped = train::run(c, log);
  for (const train::EpochMetrics& m : dropped.history) {
    CHECK(m.train_images == 96);
    CHECK(m.steps == 6);
  }
  CHECK(nn::read_checkpoint_state(test::checkpoint_of(c)).step == 12);
  CHECK(dropped.total == 20);  // the test set is evaluated whole
  CHECK(log.str().find("train: 96 of 100 images per epoch (6 batches of 16; last 4 dropped, "
                       "--keep-last-batch keeps them)") != std::string::npos);
  const nlohmann::json plan = nlohmann::json::parse(read_file(out.file("plans/epoch1.json")));
  CHECK(plan["num_batches"] == 6);
  CHECK(plan["drop_last"] == true);
  CHECK(plan["order"].size() == 96);
  CHECK(nlohmann::json::parse(read_file(fs::path(c.out) / "config.json"))["keep_last_batch"] ==
        false);

  c.out = out.file("keep");
  c.keep_last_batch = true;
  log.str("");
  const train::Result kept = train::run(c, log);
  for (const train::EpochMetrics& m : kept.history) {
    CHECK(m.train_images == 100);
    CHECK(m.steps == 7);
  }
  CHECK(nn::read_checkpoint_state(test::checkpoint_of(c)).step == 14);
  CHECK(log.str().find("train: 100 images per epoch (7 batches of 16, the last of 4)") !=
        std::string::npos);
}

TEST_CASE("trainer: a last batch of one image is dropped even with keep_last_batch") {
  test::TempDir data, out;
  write_toy_mnist(data, 97, 8);  // 6 batches of 16 and 1 image
  std::ostringstream log;
  train::Config c = toy_config(data, out.file("run"));
  c.epochs = 1;
  c.keep_last_batch = true;
  c.quiet = false;
  const train::Result r = train::run(c, log);
  CHECK(r.history[0].train_images == 96);
  CHECK(r.history[0].steps == 6);
  CHECK(log.str().find("train: 96 of 97 images per epoch (6 batches of 16; the last image "
                       "dropped: BatchNorm cannot train on a batch of one)") != std::string::npos);
}

TEST_CASE("trainer: a batch size larger than the training set needs keep_last_batch") {
  test::TempDir data, out;
  write_toy_mnist(data, 40, 8);
  std::ostringstream log;
  train::Config c = toy_config(data, out.file("run"));
  c.epochs = 1;
  c.batch_size = 64;
  CHECK_THROWS_WITH_AS(train::run(c, log),
                       "train: --batch-size 64 is larger than the training set (40 images), so "
                       "an epoch would have no full batch: use a smaller --batch-size, or "
                       "--keep-last-batch to train on one batch of all 40 images",
                       Error);
  c.keep_last_batch = true;
  const train::Result r = train::run(c, log);
  CHECK(r.history[0].train_images == 40);
  CHECK(r.history[0].steps == 1);
}

namespace {
// Runs one epoch of `first` and returns (in `out`) its checkpoint as fovea wrote it before
// --keep-last-batch existed: no keep_last_batch in the saved configuration.
std::string checkpoint_before_keep_last_batch(train::Config first, const test::TempDir& out) {
  std::ostringstream log;
  first.stop_after = 1;
  train::run(first, log);
  const std::string path = out.file("before_keep_last_batch.safetensors");
  test::edit_checkpoint(first, test::checkpoint_of(first), path,
                        [](nn::Module&, nn::TrainingState& state) {
                          state.extra["config"].erase("keep_last_batch");
                        });
  return path;
}
}  // namespace

TEST_CASE("trainer: keep_last_batch is no resume setting when the batches divide the data") {
  // 100 images in batches of 20: both settings train the same epochs, so an old checkpoint
  // (no keep_last_batch key) resumes with either.
  test::TempDir data, out;
  write_toy_mnist(data, 100, 20);
  std::ostringstream log;
  train::Config first = toy_config(data, out.file("old"));
  first.batch_size = 20;
  const std::string old_checkpoint = checkpoint_before_keep_last_batch(first, out);
  train::Config rest = first;  // keep_last_batch false: the new default
  rest.out = out.file("rest");
  rest.resume = old_checkpoint;
  const train::Result resumed = train::run(rest, log);
  REQUIRE(resumed.history.size() == 2);
  CHECK(resumed.history[1].steps == 5);
}

TEST_CASE("trainer: a checkpoint from before keep_last_batch existed resumes only with it") {
  // Such runs trained on the last partial batch: continuing one without --keep-last-batch would
  // change its epochs (and its learning-rate schedule) half way, so that is refused.
  test::TempDir data, out;
  write_toy_mnist(data, 100, 20);
  std::ostringstream log;
  train::Config whole = toy_config(data, out.file("whole"));
  whole.keep_last_batch = true;
  const train::Result uninterrupted = train::run(whole, log);

  train::Config first = whole;
  first.out = out.file("old");
  const std::string old_checkpoint = checkpoint_before_keep_last_batch(first, out);

  train::Config rest = whole;
  rest.out = out.file("rest");
  rest.resume = old_checkpoint;
  rest.keep_last_batch = false;
  CHECK_THROWS_WITH_AS(train::run(rest, log),
                       doctest::Contains("keep_last_batch was true, now false (the checkpoint is "
                                         "from before --keep-last-batch existed, when training "
                                         "kept the last partial batch: resume it with "
                                         "--keep-last-batch)"),
                       Error);
  CHECK_FALSE(std::filesystem::exists(rest.out + "/config.json"));  // a refused run writes none
  rest.keep_last_batch = true;
  const train::Result resumed = train::run(rest, log);
  REQUIRE(resumed.history.size() == 2);
  CHECK(resumed.history[1].train_loss == uninterrupted.history[1].train_loss);
  CHECK(resumed.history[1].steps == 7);
  CHECK(resumed.confusion == uninterrupted.confusion);
}

TEST_CASE("trainer: --device cuda trains on the emulated device like on the CPU") {
  test::TempDir data, out;
  write_toy_mnist(data, 64, 32);
  std::string why;
  if (!cuda_available(&why)) return test::skip_test("no usable CUDA backend: " + why);
  train::Config cpu = toy_config(data, out.file("cpu"));
  train::Config cuda = toy_config(data, out.file("cuda"));
  cpu.epochs = cuda.epochs = 1;
  cuda.device = "cuda";
  std::ostringstream log;
  const train::Result a = train::run(cpu, log), b = train::run(cuda, log);
  REQUIRE(b.history.size() == 1);
  // The same run up to the kernels' rounding: the devices sum in different orders.
  CHECK(b.history[0].train_loss == doctest::Approx(a.history[0].train_loss).epsilon(1e-4));
  CHECK(b.history[0].test_loss == doctest::Approx(a.history[0].test_loss).epsilon(1e-4));
  CHECK(b.total == a.total);
}
