// Helpers for the trainer's tests (test_trainer*.cpp): a tiny learnable data set in MNIST's
// layout, a configuration that trains on it in a fraction of a second, and a way to change a
// checkpoint (its weights or its stored state) and save it as a valid one.
#pragma once

#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "layers/checkpoint.h"
#include "support/idx_files.h"
#include "support/recipe.h"
#include "support/temp_files.h"
#include "support/trainer.h"

namespace fovea::test {

// A learnable MNIST-layout data set: class k is a bright 3x3 square at a position set by k, on
// noise. Written uncompressed (the reader takes .gz or plain).
inline void write_toy_mnist(const TempDir& dir, int train, int test) {
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
    write_bytes(dir.file(split + "-images-idx3-ubyte"), idx_bytes(8, {uint32_t(n), 8, 8}, pixels));
    write_bytes(dir.file(split + "-labels-idx1-ubyte"), idx_bytes(8, {uint32_t(n)}, labels));
  }
}

inline train::Config toy_config(const TempDir& data, const std::string& out) {
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

// Trains a one-epoch run `name` in `runs` on the toy data (a ResNet-8 with `attention`) and
// returns its folder, for the tests of the programs that read trained networks.
inline std::string train_toy(const TempDir& data, const TempDir& runs, const std::string& name,
                             const std::string& attention) {
  train::Config c = toy_config(data, runs.file(name));
  c.epochs = 1;
  c.attention = attention;
  std::ostringstream log;
  train::run(c, log);
  return c.out;
}

inline std::string checkpoint_of(const train::Config& c) {
  return (std::filesystem::path(c.out) / nn::kLatestCheckpointName).string();
}

// Loads checkpoint `from` of the run `c` describes into its model and optimiser, lets `edit`
// change the model and the stored state, and saves the result, checksum and all, as `to`.
inline void edit_checkpoint(const train::Config& c, const std::string& from, const std::string& to,
                            const std::function<void(nn::Module&, nn::TrainingState&)>& edit) {
  const train::Datasets d = train::load_datasets(c);
  const train::Model m = train::make_model(c, *d.train);
  const auto optimizer = train::make_optimizer(c, *m.net);
  nn::TrainingState state = nn::load_checkpoint(from, m.description, *m.net, optimizer.get());
  edit(*m.net, state);
  nn::save_checkpoint(to, *m.net, optimizer.get(), state);
}

}  // namespace fovea::test
