// The training loop behind examples/train, as a library so tests can run it: data sets,
// models, optimisers and schedules chosen by name (support/recipe.h), a progress display and
// per-epoch metrics (metrics.csv and curves.png, support/report.h), checkpoints with --resume,
// a numerical guard (support/guard.h) and a final confusion matrix.
//
// An epoch trains on full batches only unless keep_last_batch (a last batch of a few images
// makes one BatchNorm step on a noisy estimate; timm's training loaders drop it too); the test
// set is always evaluated whole. With `guard` on, a step whose loss or gradients are not finite
// stops the run with an error naming the first module (or the input images, or the parameter)
// that went non-finite, before the optimiser or a checkpoint sees it. A batch that does not fit
// in memory is an error that suggests a smaller --batch-size.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "engine/data/dataset.h"

namespace fovea::train {

struct Config {
  // data
  std::string dataset = "fashion-mnist";  // fashion-mnist, mnist, cifar10, cifar100, imagefolder
  std::string data;                       // "" : the dataset's default location
  std::string augment = "default";        // a transforms pipeline ("crop:32:4,flip"), none, default
  int64_t image_size = 0;                 // imagefolder: resize to this square size when > 0
  int workers = 1;                        // background loader threads
  int64_t limit_train = 0, limit_test = 0;  // use only the first N images (0: all)
  bool keep_last_batch = false;  // also train on a last partial batch (never on one of 1 image)
  // model
  std::string model = "resnet20";  // mlp, resnet20/32/44/56/110, resnet18/34
  std::string shortcut = "A";      // CIFAR ResNets: A or B
  std::string stem = "cifar";      // resnet18/34: cifar or imagenet
  std::string attention = "none";
  std::vector<int64_t> hidden = {512};  // mlp
  // optimisation
  int epochs = 3;
  int64_t batch_size = 128;
  std::string optimizer = "sgd";   // sgd, adam, adamw
  double lr = 0.1, momentum = 0.9, weight_decay = 5e-4;
  bool nesterov = false, no_decay_bias_norm = false;
  std::string schedule = "cosine";  // none, step, multistep, cosine, onecycle
  std::vector<double> milestones = {0.5, 0.75};  // multistep: fractions of the run
  double gamma = 0.1;                 // step / multistep decay
  double warmup_epochs = 0;           // linear warm-up before the schedule
  double label_smoothing = 0;
  // run
  uint64_t seed = 1;
  int threads = 0;  // 0: every core
  std::string device = "cpu";
  std::string out = "runs/latest";
  std::string resume;      // a checkpoint to continue from ("" : start afresh)
  int stop_after = 0;      // stop after this many epochs of this invocation (0: run to the end)
  std::string export_plans;  // write each epoch's data order and augmentation here (JSON)
  bool save_initial = false;  // write the initial weights to <out>/initial.safetensors
  bool guard = true;          // stop, naming the culprit, when a loss or gradient is not finite
  bool quiet = false;
};

struct EpochMetrics {
  int64_t epoch = 0;
  double lr = 0, train_loss = 0, train_acc = 0, test_loss = 0, test_acc = 0;
  double seconds = 0, images_per_second = 0;
  int64_t train_images = 0, steps = 0;  // trained on in this epoch (0 in runs before they counted)
  // At the end of the epoch: the process's resident and peak resident memory, and the bytes of
  // CPU tensors alive (the caching allocator's live bytes; equal from epoch to epoch unless
  // something leaks); and the most bytes of CPU tensors alive at once during the epoch (its
  // training and its test pass).
  int64_t rss_bytes = 0, peak_rss_bytes = 0, tensor_bytes = 0, peak_tensor_bytes = 0;
};

struct Result {
  std::vector<EpochMetrics> history;  // every epoch, resumed ones included
  std::vector<std::string> class_names;
  std::vector<int64_t> confusion;     // K x K, row = true class, column = predicted
  int64_t correct = 0, total = 0;
  double seconds = 0;                 // this invocation's wall time
};

// The data a run trains and tests on, as the configuration names it (support/recipe.cpp).
struct Datasets {
  std::shared_ptr<const data::Dataset> train, test;  // --limit-train/--limit-test applied
  std::string source;   // the folder read
  std::string augment;  // the training pipeline actually used
  // The normalisation every image got, per channel: image = (byte / 255 - mean) / stddev.
  std::vector<double> mean, stddev;
};
Datasets load_datasets(const Config& config);

// Runs the configured training; progress and results go to `out`. Throws fovea::Error on bad
// configuration or data (the message names the option or the file), on a non-finite step
// (with `guard`) and when a batch does not fit in memory.
Result run(const Config& config, std::ostream& out);
// The same on data sets given by the caller (tests, programs with their own data).
Result run(const Config& config, const Datasets& data, std::ostream& out);

// The configuration as JSON (saved in checkpoints and as <out>/config.json).
std::string config_json(const Config& config);
// Back from config_json's text (keys it lacks keep their defaults); an error when it is not JSON
// of that form.
Config config_from_json(const std::string& text);

}  // namespace fovea::train
