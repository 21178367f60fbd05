// The trainer's numerical guard (examples/support/guard.h) and its memory reports: all_finite
// finds one bad element; a NaN in the input images or in a weight, or a diverging lr, stops the
// run with a message that names the images or the first module whose output went non-finite (a
// non-finite backward names the parameter), the checkpoint on disk stays the last good one and
// still resumes; --no-guard trains through; tensor memory is the same after epoch 1 and 5; a
// batch too large for memory is an error that suggests a smaller --batch-size.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "engine/core/cpu_allocator.h"
#include "engine/core/error.h"
#include "engine/fovea.h"
#include "examples/toy_training.h"
#include "layers/layers.h"
#include "support/guard.h"
#include "support/small_machine.h"

using namespace fovea;
using test::toy_config;
namespace fs = std::filesystem;

namespace {

// `base`, except that in epoch `epoch` (0-based) the first pixel of image `index` is NaN.
class NanImage : public data::Dataset {
 public:
  NanImage(std::shared_ptr<const data::Dataset> base, int64_t index, int64_t epoch)
      : base_(std::move(base)), index_(index), epoch_(epoch) {}
  int64_t size() const override { return base_->size(); }
  data::Example get(int64_t i) const override { return base_->get(i); }
  data::Batch get_batch(const std::vector<int64_t>& indices,
                        data::EpochKey key = {}) const override {
    data::Batch batch = base_->get_batch(indices, key);
    const int64_t per_image = batch.images.numel() / batch.size();
    for (size_t b = 0; b < indices.size(); ++b)
      if (indices[b] == index_ && key.epoch == epoch_)
        batch.images.data<float>()[int64_t(b) * per_image] = std::numeric_limits<float>::quiet_NaN();
    return batch;
  }
  int64_t num_classes() const override { return base_->num_classes(); }
  data::ImageShape image_shape() const override { return base_->image_shape(); }
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }

 private:
  std::shared_ptr<const data::Dataset> base_;
  int64_t index_, epoch_;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("trainer guard: all_finite sees a single NaN or Inf in float32 and float64 tensors") {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    CAPTURE(dtype_name(dtype));
    Tensor t = zeros({100003}, dtype);  // past the parallel grain: several chunks
    CHECK(train::all_finite(t));
    for (double bad : {std::nan(""), double(INFINITY), -double(INFINITY)}) {
      t = zeros({100003}, dtype);
      if (dtype == DType::Float32)
        t.data<float>()[77777] = float(bad);
      else
        t.data<double>()[77777] = bad;
      CHECK_FALSE(train::all_finite(t));
      CHECK_FALSE(train::all_finite(t.narrow(0, 70000, 10000)));  // a view
      CHECK(train::all_finite(t.narrow(0, 0, 70000)));
    }
  }
  CHECK(train::all_finite(Tensor()));
  CHECK(train::all_finite(full({3}, 1e308, DType::Float64)));  // large, but finite
}

// x, through a square root whose derivative is infinite: the forward pass is finite, the
// gradient of everything before it is NaN (inf * 0).
class FiniteForwardNanBackward : public nn::Module {
 public:
  FiniteForwardNanBackward() : Module("FiniteForwardNanBackward") {}
  Tensor forward(const Tensor& x) override { return x + sqrt(x - x); }
};

TEST_CASE("trainer guard: a step whose backward alone is not finite names the parameter") {
  manual_seed(3);
  nn::Sequential net{std::make_shared<nn::Linear>(4, 3),
                     std::make_shared<FiniteForwardNanBackward>(),
                     std::make_shared<nn::Linear>(3, 2)};  // after the NaN: finite gradients
  const Tensor x = randn({2, 4});
  const Tensor loss = sum(net(x));
  REQUIRE(std::isfinite(loss.item()));
  loss.backward();
  CHECK_FALSE(train::gradients_finite(net.parameters()));
  const train::Diagnosis d = train::diagnose_step(net, x, {0, 1}, /*loss_finite=*/true);
  CHECK(d.where == train::Diagnosis::Where::Backward);
  CHECK(d.text == "the forward pass and the loss are finite, the backward pass is not: 2 of 4 "
                  "parameters have non-finite gradients, the nearest to the output being 0.bias");
  for (const Tensor& p : net.parameters()) CHECK(train::all_finite(p));  // only their gradients
}

TEST_CASE("trainer guard: a NaN image stops the run naming it and keeps the last checkpoint") {
  test::TempDir data, out;
  test::write_toy_mnist(data, 96, 20);
  train::Config c = toy_config(data, out.file("run"));
  c.epochs = 3;
  train::Datasets poisoned = train::load_datasets(c);
  poisoned.train = std::make_shared<NanImage>(poisoned.train, 37, /*epoch=*/1);
  std::ostringstream log;
  const std::string message = error_of([&] { train::run(c, poisoned, log); });
  INFO(message);
  CHECK(message.starts_with("train: numerical guard: at epoch 2, step "));
  CHECK(contains(message, " the loss is NaN: the input batch is not finite: 1 of its 16 images "
                          "hold NaN or Inf (image "));
  CHECK(contains(message, ", dataset index 37)."));
  CHECK(contains(message, "Nothing of epoch 2 was saved: " + c.out +
                              " holds the checkpoint of epoch 1 (--resume " + c.out +
                              " continues from it)."));
  CHECK(contains(message, "Check the data"));
  // The checkpoint is epoch 1's, and the run continues from it on clean data.
  CHECK(nn::read_checkpoint_state(test::checkpoint_of(c)).epoch == 1);
  CHECK(test::read_file(fs::path(c.out) / "metrics.csv").find("\n2,") == std::string::npos);
  train::Config rest = c;
  rest.resume = c.out;
  const train::Result r = train::run(rest, log);
  REQUIRE(r.history.size() == 3);
  CHECK(std::isfinite(r.history[2].train_loss));

  // Without the guard the run trains through the NaN, and its checkpoint holds NaN weights.
  train::Config unguarded = c;
  unguarded.out = out.file("unguarded");
  unguarded.guard = false;
  unguarded.epochs = 2;
  train::run(unguarded, poisoned, log);
  test::edit_checkpoint(unguarded, test::checkpoint_of(unguarded), out.file("check.safetensors"),
                        [](nn::Module& net, nn::TrainingState&) {
                          CHECK(train::first_non_finite_state(net) != "");
                        });
}

TEST_CASE("trainer guard: a NaN weight names the first module whose output is not finite") {
  test::TempDir data, out;
  test::write_toy_mnist(data, 96, 20);
  std::ostringstream log;
  train::Config c = toy_config(data, out.file("run"));
  c.stop_after = 1;
  train::run(c, log);
  const std::string poisoned = out.file("poisoned.safetensors");
  test::edit_checkpoint(c, test::checkpoint_of(c), poisoned, [](nn::Module& net, nn::TrainingState&) {
    for (const auto& [name, t] : net.named_parameters())
      if (name == "layer2.0.conv1.weight") t.data<float>()[0] = std::nanf("");
  });
  train::Config rest = c;
  rest.stop_after = 0;
  rest.resume = poisoned;
  rest.out = out.file("rest");
  const std::string message = error_of([&] { train::run(rest, log); });
  INFO(message);
  CHECK(message.starts_with("train: numerical guard: at epoch 2, step 7 (batch 1 of 6, lr 0.025) "
                            "the loss is NaN: "));
  CHECK(contains(message,
                 "the loss is NaN: the first module whose output is not finite is layer2.0.conv1 "
                 "(Conv2d); its "
                 "input is finite but its parameter weight is not. Nothing was saved: the "
                 "checkpoint resumed, " + poisoned + ", is unchanged. Try a smaller --lr (this "
                 "step's was 0.025) or a --warmup of an epoch or two. (--no-guard turns this "
                 "check off.)"));
  CHECK_FALSE(fs::exists(test::checkpoint_of(rest)));
}

TEST_CASE("trainer guard: a diverging learning rate stops the run before a bad checkpoint") {
  test::TempDir data, out;
  test::write_toy_mnist(data, 96, 20);
  std::ostringstream log;
  train::Config c = toy_config(data, out.file("run"));
  c.epochs = 3;
  c.schedule = "step";  // lr 0.05 in epoch 1, then 0.05 * 1e7: the weights overflow in epoch 2
  c.gamma = 1e7;
  const std::string message = error_of([&] { train::run(c, log); });
  INFO(message);
  CHECK(message.starts_with("train: numerical guard: at epoch 2, "));
  CHECK(contains(message, "the first module whose output is not finite is "));
  CHECK(contains(message, "Try a smaller --lr"));
  // The checkpoint on disk is epoch 1's: finite weights that load.
  CHECK(nn::read_checkpoint_state(test::checkpoint_of(c)).epoch == 1);
  test::edit_checkpoint(c, test::checkpoint_of(c), out.file("check.safetensors"),
                        [](nn::Module& net, nn::TrainingState&) {
                          CHECK(train::first_non_finite_state(net) == "");
                        });
}

TEST_CASE("trainer: the CPU tensor memory after epoch 1 and after epoch 5 is the same") {
  // Not the process's RSS (which the allocator's cache and the C library move), but the bytes of
  // tensors alive: a tensor kept from one epoch to the next would show here.
  test::TempDir data, out;
  test::write_toy_mnist(data, 64, 20);
  std::ostringstream log;
  train::Config c = toy_config(data, out.file("run"));
  c.epochs = 5;
  c.augment = "crop:8:1,flip";
  const train::Result r = train::run(c, log);
  REQUIRE(r.history.size() == 5);
  CHECK(r.history[0].tensor_bytes > 0);
  CHECK(r.history[4].tensor_bytes == r.history[0].tensor_bytes);
  CHECK(r.history[4].rss_bytes > 0);
  CHECK(r.history[4].peak_rss_bytes >= r.history[4].rss_bytes);
  MESSAGE("RSS after epoch 1: " << (r.history[0].rss_bytes >> 20) << " MiB (peak "
          << (r.history[0].peak_rss_bytes >> 20) << "), after epoch 5: "
          << (r.history[4].rss_bytes >> 20) << " MiB (peak " << (r.history[4].peak_rss_bytes >> 20)
          << "); tensors alive: " << r.history[4].tensor_bytes << " bytes");
  const std::string csv = test::read_file(fs::path(c.out) / "metrics.csv");
  CHECK(csv.find(",rss_mib,peak_rss_mib,tensor_mib\n") != std::string::npos);
}

TEST_CASE("trainer: a batch too large for memory is an error suggesting a smaller batch size") {
  // Two 8x8 images resized to 2048 x 2048, on a machine that claims 32 MiB free: the batch of
  // 96 MiB is refused before it is touched (and whatever memory the test machine has). The
  // cache is emptied first: its free blocks would count as available too.
  test::SmallMachine small_machine(size_t(32) << 20);
  test::TempDir data, out;
  for (const char* split : {"train", "val"})
    for (int k = 0; k < 2; ++k) {
      std::vector<uint8_t> rgb(8 * 8 * 3, uint8_t(k ? 200 : 30));
      const std::string path = data.new_file(std::string(split) + "/class" + std::to_string(k) +
                                             "/0.png");
      REQUIRE(stbi_write_png(path.c_str(), 8, 8, 3, rgb.data(), 8 * 3) != 0);
    }
  train::Config c = toy_config(data, out.file("run"));
  c.dataset = "imagefolder";
  c.augment = "none";
  c.image_size = 2048;
  c.batch_size = 2;
  c.epochs = 1;
  std::ostringstream log;
  const std::string message = error_of([&] { train::run(c, log); });
  CHECK(message == "train: out of memory at batch size 2 (images of 3x2048x2048): cannot "
                   "allocate 0.09 GiB (0.03 GiB available); try a smaller --batch-size or a "
                   "smaller --image-size");
}
