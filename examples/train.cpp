// train: trains an MLP classifier on Fashion-MNIST (or any data set in MNIST's IDX layout) with
// SGD and reports the test accuracy after every epoch.
//
//   build/examples/train                        # 5 epochs, all cores
//   build/examples/train --epochs 1 --threads 2
//   build/examples/train --hidden 512 256 --lr 0.05 --data /path/to/mnist
//
// The model is Flatten -> [Linear -> ReLU] per hidden size -> Linear to the classes, trained on
// inputs normalised with the training set's mean and standard deviation.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "layers/layers.h"

using namespace fovea;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string data = "/usr/share/datasets/fashion-mnist";
  int epochs = 5;
  int64_t batch_size = 64;
  double lr = 0.02;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  std::vector<int64_t> hidden = {512};
  uint64_t seed = 1;
  int threads = 0;  // 0: every core
  bool quiet = false;
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Correct predictions in a batch: the arg-max of each row of logits [B, K] against labels [B].
int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  const std::vector<int64_t> predicted = argmax(logits.detach(), 1).to_vector<int64_t>();
  const std::vector<int64_t> y = labels.to_vector<int64_t>();
  int64_t correct = 0;
  for (size_t i = 0; i < y.size(); ++i) correct += predicted[i] == y[i];
  return correct;
}

std::shared_ptr<nn::Sequential> make_mlp(int64_t inputs, const std::vector<int64_t>& hidden,
                                         int64_t classes) {
  auto model = std::make_shared<nn::Sequential>();
  model->push_back(std::make_shared<nn::Flatten>());
  int64_t width = inputs;
  for (int64_t h : hidden) {
    model->push_back(std::make_shared<nn::Linear>(width, h));
    model->push_back(std::make_shared<nn::ReLU>());
    width = h;
  }
  model->push_back(std::make_shared<nn::Linear>(width, classes));
  return model;
}

// One status line during an epoch: a bar redrawn in place on a terminal, a plain line every
// tenth of the epoch otherwise (logs, pipes), nothing when quiet.
class Progress {
 public:
  Progress(int epoch, int epochs, int64_t batches, bool quiet)
      : epoch_(epoch), epochs_(epochs), batches_(batches), quiet_(quiet),
        tty_(::isatty(STDOUT_FILENO) != 0), start_(Clock::now()), last_draw_(start_) {}

  void update(int64_t done, int64_t images, double loss, double acc) {
    if (quiet_) return;
    const bool last = done == batches_;
    if (tty_) {
      if (!last && std::chrono::duration<double>(Clock::now() - last_draw_).count() < 0.1) return;
      last_draw_ = Clock::now();
      std::printf("\r%s\x1b[K", line(done, images, loss, acc, true).c_str());
      if (last) std::printf("\r\x1b[K");  // the epoch summary replaces the bar
    } else {
      const int64_t step = std::max<int64_t>(1, batches_ / 10);
      if (done % step != 0 || last) return;
      std::printf("%s\n", line(done, images, loss, acc, false).c_str());
    }
    std::fflush(stdout);
  }

 private:
  std::string line(int64_t done, int64_t images, double loss, double acc, bool bar) const {
    const double elapsed = seconds_since(start_);
    const double rate = elapsed > 0 ? images / elapsed : 0;
    const double eta = done > 0 ? elapsed * double(batches_ - done) / double(done) : 0;
    std::string text = "epoch " + std::to_string(epoch_) + "/" + std::to_string(epochs_) + " ";
    if (bar) {
      constexpr int kWidth = 30;
      const int filled = int(kWidth * done / batches_);
      text += "[" + std::string(size_t(filled), '=') + (filled < kWidth ? ">" : "") +
              std::string(size_t(std::max(0, kWidth - filled - 1)), ' ') + "] ";
    }
    char buf[160];
    std::snprintf(buf, sizeof buf, "%lld/%lld  loss %.4f  acc %.2f%%  %.0f img/s  ETA %.0fs",
                  (long long)done, (long long)batches_, loss, 100 * acc, rate, eta);
    return text + buf;
  }

  int epoch_, epochs_;
  int64_t batches_;
  bool quiet_, tty_;
  Clock::time_point start_, last_draw_;
};

struct Score {
  int64_t correct = 0, total = 0;
  double accuracy() const { return total ? double(correct) / double(total) : 0; }
};

Score evaluate(nn::Module& model, data::DataLoader& loader) {
  NoGradGuard no_grad;
  model.eval();
  Score s;
  for (const data::Batch& batch : loader) {
    s.correct += count_correct(model(batch.images), batch.labels);
    s.total += batch.size();
  }
  model.train();
  return s;
}

int run(const Options& o) {
  set_num_threads(o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency())));
  std::cout << build_info() << "\n";
  if (!std::filesystem::is_directory(o.data)) {
    std::cerr << "train: error: data directory " << o.data << " does not exist (install Debian's "
              << "dataset-fashion-mnist, or pass --data DIR with the MNIST-layout IDX files)\n";
    return 1;
  }
  const auto t0 = Clock::now();

  auto train_set = data::load_fashion_mnist(o.data, true);
  auto test_set = data::load_fashion_mnist(o.data, false);
  const auto [mean, stdev] = train_set->channel_stats();
  train_set->set_normalization(mean, stdev);
  test_set->set_normalization(mean, stdev);
  data::DataLoader train_loader(train_set, o.batch_size, /*shuffle=*/true, /*drop_last=*/false,
                                o.seed);
  data::DataLoader test_loader(test_set, 1000);
  const auto [c, h, w] = train_set->image_shape();

  manual_seed(o.seed);
  auto model = make_mlp(c * h * w, o.hidden, train_set->num_classes());
  nn::CrossEntropyLoss criterion;
  optim::SGD optimizer(model->parameters(), o.lr, o.momentum, o.weight_decay);
  if (!o.quiet)
    std::cout << "data: " << o.data << " (" << train_set->size() << " train, " << test_set->size()
              << " test images of " << c << "x" << h << "x" << w << "; mean " << mean[0]
              << ", std " << stdev[0] << ")\n"
              << "model: " << *model << "\n"
              << "parameters: " << model->num_parameters() << "; SGD lr " << o.lr << ", momentum "
              << o.momentum << ", weight decay " << o.weight_decay << ", batch " << o.batch_size
              << ", " << get_num_threads() << " threads\n";

  Score test;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto te = Clock::now();
    Progress progress(epoch, o.epochs, train_loader.num_batches(), o.quiet);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0, done = 0;
    for (const data::Batch& batch : train_loader) {
      const Tensor logits = (*model)(batch.images);
      const Tensor loss = criterion(logits, batch.labels);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();

      loss_sum += loss.item() * double(batch.size());
      correct += count_correct(logits, batch.labels);
      seen += batch.size();
      progress.update(++done, seen, loss_sum / double(seen), double(correct) / double(seen));
    }
    test = evaluate(*model, test_loader);
    std::printf("epoch %d/%d: train loss %.4f, train acc %.2f%%, test acc %.2f%%, %.1f s\n", epoch,
                o.epochs, loss_sum / double(seen), 100.0 * double(correct) / double(seen),
                100 * test.accuracy(), seconds_since(te));
    std::fflush(stdout);
  }
  if (o.epochs == 0) test = evaluate(*model, test_loader);
  std::printf("test accuracy: %.2f%% (%lld/%lld) in %.1f s\n", 100 * test.accuracy(),
              (long long)test.correct, (long long)test.total, seconds_since(t0));
  return 0;
}

// CLI11's own range checks print their bound as a 300-digit number; these say it plainly.
CLI::Validator at_least(double low) {
  return CLI::Validator(
      [low](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return "not a number: " + text;
        return v >= low ? "" : "must be >= " + CLI::detail::to_string(low) + ", got " + text;
      },
      low == 0 ? "NONNEGATIVE" : "POSITIVE");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Train an MLP classifier on Fashion-MNIST with fovea"};
  app.add_option("--data", o.data, "directory with the MNIST-layout IDX files (.gz or plain)")
      ->capture_default_str();
  app.add_option("--epochs", o.epochs, "passes over the training set")
      ->capture_default_str()
      ->check(at_least(0));
  app.add_option("--batch-size", o.batch_size, "images per SGD step")
      ->capture_default_str()
      ->check(at_least(1));
  app.add_option("--lr", o.lr, "learning rate")->capture_default_str()->check(at_least(0));
  app.add_option("--momentum", o.momentum, "SGD momentum")
      ->capture_default_str()
      ->check(at_least(0));
  app.add_option("--wd", o.weight_decay, "weight decay (L2 added to the gradient)")
      ->capture_default_str()
      ->check(at_least(0));
  app.add_option("--hidden", o.hidden, "hidden layer widths, e.g. --hidden 512 256")
      ->capture_default_str()
      ->check(at_least(1));
  app.add_option("--seed", o.seed, "seed for initialisation and shuffling")->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads (default: all cores)")
      ->check(at_least(0));
  app.add_flag("--quiet", o.quiet, "no progress display, only per-epoch and final results");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "train: error: " << e.what() << "\n";
    return 1;
  }
}
