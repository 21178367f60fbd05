// The training loop of examples/train (examples/support/trainer): outputs, resume that repeats
// an uninterrupted run exactly, and the errors a user meets first.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/core/error.h"
#include "layers/checkpoint.h"
#include "support/idx_files.h"
#include "support/temp_files.h"
#include "support/trainer.h"

using namespace fovea;
namespace fs = std::filesystem;

namespace {

// A learnable MNIST-layout data set: class k is a bright 3x3 square at a position set by k, on
// noise. Written uncompressed (the reader takes .gz or plain).
void write_toy_mnist(const test::TempDir& dir, int train, int test) {
  uint32_t state = 12345;
  auto noise = [&] { return uint8_t((state = state * 1664525u + 1013904223u) >> 27); };
  for (const auto& [split, n] : {std::pair<std::string, int>{"train", train}, {"t10k", test}}) {
    std::vector<uint8_t> pixels, labels;
    for (int i = 0; i < n; ++i) {
      const int k = (i * 7) % 4;
      labels.push_back(uint8_t(k));
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x) {
          const bool on = y >= 1 + 3 * (k / 2) && y < 4 + 3 * (k / 2) && x >= 1 + 3 * (k % 2) &&
                          x < 4 + 3 * (k % 2);
          pixels.push_back(on ? uint8_t(200 + noise()) : noise());
        }
    }
    test::write_bytes(dir.file(split + "-images-idx3-ubyte"),
                      test::idx_bytes(8, {uint32_t(n), 8, 8}, pixels));
    test::write_bytes(dir.file(split + "-labels-idx1-ubyte"),
                      test::idx_bytes(8, {uint32_t(n)}, labels));
  }
}

train::Config toy_config(const test::TempDir& data, const std::string& out) {
  train::Config c;
  c.dataset = "mnist";
  c.data = data.path.string();
  c.model = "resnet8";
  c.epochs = 2;
  c.batch_size = 16;
  c.lr = 0.05;
  c.threads = 1;
  c.workers = 0;
  c.out = out;
  c.quiet = true;
  return c;
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

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
  write_toy_mnist(data, 96, 40);
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
