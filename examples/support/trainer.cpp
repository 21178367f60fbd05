#include "support/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "engine/data/cifar.h"
#include "engine/data/idx.h"
#include "engine/data/image_folder.h"
#include "engine/data/loader.h"
#include "engine/data/plan.h"
#include "engine/data/transforms.h"
#include "layers/layers.h"
#include "support/plot.h"

namespace fovea::train {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
namespace fs = std::filesystem;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- data ------------------------------------------------------------------------------------

// The first n examples of a dataset (quick runs, tests).
class Prefix : public data::Dataset {
 public:
  Prefix(std::shared_ptr<const data::Dataset> base, int64_t n) : base_(std::move(base)), n_(n) {}
  int64_t size() const override { return n_; }
  data::Example get(int64_t i) const override { return base_->get(i); }
  data::Batch get_batch(const std::vector<int64_t>& indices,
                        data::EpochKey key = {}) const override {
    return base_->get_batch(indices, key);
  }
  int64_t num_classes() const override { return base_->num_classes(); }
  data::ImageShape image_shape() const override { return base_->image_shape(); }
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }

 private:
  std::shared_ptr<const data::Dataset> base_;
  int64_t n_;
};

std::shared_ptr<const data::Dataset> first(std::shared_ptr<const data::Dataset> d, int64_t n) {
  if (n <= 0 || n >= d->size()) return d;
  return std::make_shared<Prefix>(std::move(d), n);
}

struct Data {
  std::shared_ptr<const data::Dataset> train, test;
  std::string source;  // the folder read
  std::string augment;  // the training pipeline actually used
};

std::string default_location(const std::string& dataset) {
  if (dataset == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";
  if (dataset == "mnist") return "/usr/share/datasets/mnist";
  FOVEA_FAIL("train: --dataset ", dataset, " needs --data PATH (the folder holding it)");
}

// Training examples through `augment` (normalised), or the source itself when there is none.
std::shared_ptr<const data::Dataset> augmented(std::shared_ptr<const data::ImageSource> source,
                                               const std::string& augment,
                                               const std::vector<double>& mean,
                                               const std::vector<double>& stddev) {
  data::Pipeline p = data::Pipeline::parse(augment == "none" ? "" : augment);
  p.normalize(mean, stddev);
  return std::make_shared<data::TransformedDataset>(std::move(source), std::move(p));
}

Data load_data(const Config& c) {
  Data d;
  d.source = c.data.empty() ? default_location(c.dataset) : c.data;
  FOVEA_CHECK(fs::exists(d.source), "train: data path ", d.source, " does not exist",
              c.dataset == "fashion-mnist" && c.data.empty()
                  ? " (install Debian's dataset-fashion-mnist, or pass --data DIR)"
                  : "");
  if (c.dataset == "fashion-mnist" || c.dataset == "mnist" || c.dataset == "cifar10" ||
      c.dataset == "cifar100") {
    const bool idx = c.dataset == "fashion-mnist" || c.dataset == "mnist";
    auto load = [&](bool train) {
      if (c.dataset == "cifar10") return data::load_cifar10(d.source, train);
      if (c.dataset == "cifar100") return data::load_cifar100(d.source, train);
      return c.dataset == "mnist" ? data::load_mnist(d.source, train)
                                  : data::load_fashion_mnist(d.source, train);
    };
    auto train = load(true), test = load(false);
    const auto [mean, stddev] = train->channel_stats();
    train->set_normalization(mean, stddev);
    test->set_normalization(mean, stddev);
    d.augment = c.augment == "default" ? (idx ? "none" : "crop:32:4,flip") : c.augment;
    d.train = d.augment == "none" ? std::shared_ptr<const data::Dataset>(train)
                                  : augmented(train, d.augment, mean, stddev);
    d.test = test;
  } else if (c.dataset == "imagefolder") {
    const fs::path root(d.source);
    const fs::path test_root = fs::exists(root / "val") ? root / "val" : root / "test";
    FOVEA_CHECK(fs::is_directory(root / "train") && fs::is_directory(test_root), "train: ",
                d.source, " must hold train/<class>/* and val/<class>/* (or test/<class>/*)");
    data::ImageFolderOptions o;
    o.height = o.width = c.image_size;
    if (c.image_size == 0) {
      // Without --image-size every image is brought to the first one's (square) size, which is
      // a no-op for data sets of one size such as Tiny ImageNet.
      const data::ImageFolder probe((root / "train").string(), o);
      FOVEA_CHECK(probe.size() > 0, "train: ", (root / "train").string(), " holds no images");
      o.height = o.width = probe.shape_of(0)[1];
    }
    auto train = std::make_shared<data::ImageFolder>((root / "train").string(), o);
    auto test = std::make_shared<data::ImageFolder>(test_root.string(), o);
    FOVEA_CHECK(train->classes() == test->classes(), "train: the class folders of ",
                (root / "train").string(), " and ", test_root.string(), " differ");
    // ImageNet's channel statistics, as torchvision's ImageNet recipes normalise.
    const std::vector<double> mean{0.485, 0.456, 0.406}, stddev{0.229, 0.224, 0.225};
    const int64_t size = train->image_shape()[1];
    d.augment = c.augment == "default" ? "crop:" + std::to_string(size) + ":4,flip" : c.augment;
    d.train = augmented(train, d.augment, mean, stddev);
    d.test = augmented(test, "none", mean, stddev);
  } else {
    FOVEA_FAIL("train: unknown --dataset ", c.dataset,
               " (fashion-mnist, mnist, cifar10, cifar100, imagefolder)");
  }
  d.train = first(d.train, c.limit_train);
  d.test = first(d.test, c.limit_test);
  return d;
}

// ---- model, optimiser, schedule ---------------------------------------------------------------

struct Model {
  std::shared_ptr<nn::Module> net;
  std::string description;  // checked when resuming
};

Model make_model(const Config& c, const data::Dataset& d) {
  const auto [channels, h, w] = d.image_shape();
  const int64_t classes = d.num_classes();
  std::ostringstream desc;
  desc << c.model << "(in_channels=" << channels << ", num_classes=" << classes;
  Model m;
  if (c.model == "mlp") {
    FOVEA_CHECK(c.attention == "none", "train: --attention needs a ResNet, not the mlp");
    auto seq = std::make_shared<nn::Sequential>();
    seq->push_back(std::make_shared<nn::Flatten>());
    int64_t width = channels * h * w;
    for (int64_t hidden : c.hidden) {
      seq->push_back(std::make_shared<nn::Linear>(width, hidden));
      seq->push_back(std::make_shared<nn::ReLU>());
      width = hidden;
    }
    seq->push_back(std::make_shared<nn::Linear>(width, classes));
    m.net = seq;
    desc << ", input=" << channels * h * w << ", hidden=[";
    for (size_t i = 0; i < c.hidden.size(); ++i) desc << (i ? ", " : "") << c.hidden[i];
    desc << "])";
  } else if (c.model.rfind("resnet", 0) == 0) {
    const std::string digits = c.model.substr(6);
    FOVEA_CHECK(!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos,
                "train: unknown --model ", c.model);
    const int depth = std::stoi(digits);
    if (depth == 18 || depth == 34) {
      m.net = nn::resnet(depth, classes, channels, c.stem, c.attention);
      desc << ", stem=" << c.stem;
    } else {
      FOVEA_CHECK(c.shortcut == "A" || c.shortcut == "B", "train: --shortcut must be A or B, got ",
                  c.shortcut);
      m.net = nn::cifar_resnet(depth, classes, channels,
                               c.shortcut == "A" ? nn::Shortcut::A : nn::Shortcut::B, c.attention);
      desc << ", shortcut=" << c.shortcut;
    }
    desc << ", attention=" << c.attention << ")";
  } else {
    FOVEA_FAIL("train: unknown --model ", c.model,
               " (mlp, resnet20, resnet32, resnet44, resnet56, resnet110, resnet18, resnet34)");
  }
  m.description = desc.str();
  return m;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const Config& c, const nn::Module& net) {
  std::vector<optim::ParamGroup> groups;
  if (c.no_decay_bias_norm)
    groups = nn::decay_groups(net, c.weight_decay);
  else
    groups = {optim::ParamGroup{net.parameters()}};
  if (c.optimizer == "sgd") {
    optim::SGDOptions o;
    o.lr = c.lr;
    o.momentum = c.momentum;
    o.weight_decay = c.weight_decay;
    o.nesterov = c.nesterov;
    return std::make_unique<optim::SGD>(groups, o);
  }
  if (c.optimizer == "adam" || c.optimizer == "adamw") {
    optim::AdamOptions o;
    o.lr = c.lr;
    o.weight_decay = c.weight_decay;
    if (c.optimizer == "adam") return std::make_unique<optim::Adam>(groups, o);
    optim::AdamWOptions w;
    w.lr = c.lr;
    w.weight_decay = c.weight_decay;
    return std::make_unique<optim::AdamW>(groups, w);
  }
  FOVEA_FAIL("train: unknown --optimizer ", c.optimizer, " (sgd, adam, adamw)");
}

// Schedules count optimiser steps, so every one of them changes the lr smoothly within an
// epoch and a resumed run recomputes the lr from the saved step.
optim::SchedulePtr make_schedule(const Config& c, int64_t steps_per_epoch) {
  const int64_t total = std::max<int64_t>(1, int64_t(c.epochs) * steps_per_epoch);
  const int64_t warmup = int64_t(std::llround(c.warmup_epochs * double(steps_per_epoch)));
  FOVEA_CHECK(warmup >= 0 && warmup < total, "train: --warmup ", c.warmup_epochs,
              " epochs must be shorter than the run (", c.epochs, " epochs)");
  optim::SchedulePtr main;
  if (c.schedule == "none") {
    main = std::make_shared<optim::StepLR>(total + 1, 1.0);
  } else if (c.schedule == "step") {
    main = std::make_shared<optim::StepLR>(std::max<int64_t>(1, (total - warmup) / 3), c.gamma);
  } else if (c.schedule == "multistep") {
    std::vector<int64_t> at;
    for (double f : c.milestones) {
      FOVEA_CHECK(f > 0 && f < 1, "train: --milestones are fractions of the run in (0, 1), got ", f);
      at.push_back(std::max<int64_t>(1, int64_t(f * double(total - warmup))));
    }
    main = std::make_shared<optim::MultiStepLR>(at, c.gamma);
  } else if (c.schedule == "cosine") {
    main = std::make_shared<optim::CosineAnnealingLR>(total - warmup);
  } else if (c.schedule == "onecycle") {
    FOVEA_CHECK(warmup == 0, "train: onecycle has its own warm-up; drop --warmup");
    return std::make_shared<optim::OneCycleLR>(total);
  } else {
    FOVEA_FAIL("train: unknown --schedule ", c.schedule, " (none, step, multistep, cosine, onecycle)");
  }
  return warmup > 0 ? optim::warmup_then(warmup, 0.1, main) : main;
}

// ---- progress display --------------------------------------------------------------------------

// A bar redrawn in place on a terminal, a plain line every tenth of the epoch otherwise (logs,
// pipes), nothing when quiet.
class Progress {
 public:
  Progress(std::ostream& out, int64_t epoch, int64_t epochs, int64_t batches, bool quiet)
      : out_(out), epoch_(epoch), epochs_(epochs), batches_(batches), quiet_(quiet),
        tty_(&out == &std::cout && ::isatty(STDOUT_FILENO) != 0), start_(Clock::now()),
        last_draw_(start_) {}

  void update(int64_t done, int64_t images, double loss, double acc) {
    if (quiet_) return;
    const bool last = done == batches_;
    if (tty_) {
      if (!last && seconds_since(last_draw_) < 0.1) return;
      last_draw_ = Clock::now();
      out_ << "\r" << line(done, images, loss, acc, true) << "\x1b[K";
      if (last) out_ << "\r\x1b[K";  // the epoch summary replaces the bar
    } else {
      const int64_t step = std::max<int64_t>(1, batches_ / 10);
      if (done % step != 0 || last) return;
      out_ << line(done, images, loss, acc, false) << "\n";
    }
    out_.flush();
  }

 private:
  std::string line(int64_t done, int64_t images, double loss, double acc, bool bar) const {
    const double elapsed = seconds_since(start_);
    const double rate = elapsed > 0 ? double(images) / elapsed : 0;
    const double eta = done > 0 ? elapsed * double(batches_ - done) / double(done) : 0;
    // An ostringstream, not string operator+ chains: GCC 12 warns falsely (-Wrestrict) on those.
    std::ostringstream text;
    text << "epoch " << epoch_ << "/" << epochs_ << " ";
    if (bar) {
      constexpr int kWidth = 30;
      const int filled = int(kWidth * done / batches_);
      text << '[' << std::string(size_t(filled), '=') << (filled < kWidth ? ">" : "")
           << std::string(size_t(std::max(0, kWidth - filled - 1)), ' ') << "] ";
    }
    char buf[160];
    std::snprintf(buf, sizeof buf, "%lld/%lld  loss %.4f  acc %.2f%%  %.0f img/s  ETA %.0fs",
                  (long long)done, (long long)batches_, loss, 100 * acc, rate, eta);
    text << buf;
    return text.str();
  }

  std::ostream& out_;
  int64_t epoch_, epochs_, batches_;
  bool quiet_, tty_;
  Clock::time_point start_, last_draw_;
};

// ---- evaluation and reports ---------------------------------------------------------------------

struct Evaluation {
  double loss = 0, accuracy = 0;
  int64_t correct = 0, total = 0;
  std::vector<int64_t> confusion;
};

std::vector<int64_t> predictions(const Tensor& logits) {
  return argmax(logits.detach(), 1).to_vector<int64_t>();
}

Evaluation evaluate(nn::Module& model, data::DataLoader& loader, int64_t classes, Device device) {
  NoGradGuard no_grad;
  model.eval();
  Evaluation e;
  e.confusion.assign(size_t(classes * classes), 0);
  double loss_sum = 0;
  for (const data::Batch& batch : loader) {
    const Tensor logits = model(batch.images.to(device));
    loss_sum += cross_entropy(logits, batch.labels.to(device), Reduction::Sum).item();
    const std::vector<int64_t> predicted = predictions(logits);
    const std::vector<int64_t> truth = batch.labels.to_vector<int64_t>();
    for (size_t i = 0; i < truth.size(); ++i) {
      e.correct += predicted[i] == truth[i];
      e.confusion[size_t(truth[i] * classes + predicted[i])]++;
    }
    e.total += batch.size();
  }
  model.train();
  e.loss = e.total ? loss_sum / double(e.total) : 0;
  e.accuracy = e.total ? double(e.correct) / double(e.total) : 0;
  return e;
}

json to_json(const EpochMetrics& m) {
  return {{"epoch", m.epoch},          {"lr", m.lr},
          {"train_loss", m.train_loss}, {"train_acc", m.train_acc},
          {"test_loss", m.test_loss},   {"test_acc", m.test_acc},
          {"seconds", m.seconds},       {"images_per_second", m.images_per_second}};
}

EpochMetrics from_json(const json& j) {
  EpochMetrics m;
  m.epoch = j.at("epoch");
  m.lr = j.at("lr");
  m.train_loss = j.at("train_loss");
  m.train_acc = j.at("train_acc");
  m.test_loss = j.at("test_loss");
  m.test_acc = j.at("test_acc");
  m.seconds = j.at("seconds");
  m.images_per_second = j.at("images_per_second");
  return m;
}

void write_text_file(const fs::path& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  FOVEA_CHECK(f.good(), "train: cannot write ", path.string());
}

void write_metrics(const fs::path& dir, const std::vector<EpochMetrics>& history) {
  std::ostringstream csv;
  csv << "epoch,lr,train_loss,train_acc,test_loss,test_acc,epoch_seconds,images_per_second\n";
  for (const EpochMetrics& m : history) {
    char line[256];
    std::snprintf(line, sizeof line, "%lld,%.6g,%.6f,%.6f,%.6f,%.6f,%.2f,%.1f\n",
                  (long long)m.epoch, m.lr, m.train_loss, m.train_acc, m.test_loss, m.test_acc,
                  m.seconds, m.images_per_second);
    csv << line;
  }
  write_text_file(dir / "metrics.csv", csv.str());
  plot::Series tl{"train", {}, {}, 0x1f77b4}, vl{"test", {}, {}, 0xff7f0e};
  plot::Series ta{"train", {}, {}, 0x1f77b4}, va{"test", {}, {}, 0xff7f0e};
  for (const EpochMetrics& m : history) {
    const double e = double(m.epoch);
    tl.x.push_back(e), tl.y.push_back(m.train_loss);
    vl.x.push_back(e), vl.y.push_back(m.test_loss);
    ta.x.push_back(e), ta.y.push_back(100 * m.train_acc);
    va.x.push_back(e), va.y.push_back(100 * m.test_acc);
  }
  plot::write_line_charts_png((dir / "curves.png").string(),
                              {{"loss", "epoch", "loss", {tl, vl}},
                               {"accuracy", "epoch", "accuracy %", {ta, va}}});
}

// Class k's name, or its number when the dataset names fewer classes.
std::string class_label(const std::vector<std::string>& names, int64_t k) {
  return k < int64_t(names.size()) ? names[size_t(k)] : std::to_string(k);
}

std::string confusion_table(const std::vector<int64_t>& confusion,
                            const std::vector<std::string>& names, int64_t classes) {
  std::ostringstream os;
  auto label = [&](int64_t k) {
    std::string s = class_label(names, k);
    return s.size() > 12 ? s.substr(0, 12) : s;
  };
  char cell[32];
  std::snprintf(cell, sizeof cell, "%-13s", "true\\pred");
  os << cell;
  for (int64_t p = 0; p < classes; ++p) {
    std::snprintf(cell, sizeof cell, "%7lld", (long long)p);
    os << cell;
  }
  os << "   recall\n";
  for (int64_t t = 0; t < classes; ++t) {
    std::snprintf(cell, sizeof cell, "%-13s", label(t).c_str());
    os << cell;
    int64_t row = 0;
    for (int64_t p = 0; p < classes; ++p) {
      const int64_t v = confusion[size_t(t * classes + p)];
      row += v;
      std::snprintf(cell, sizeof cell, "%7lld", (long long)v);
      os << cell;
    }
    std::snprintf(cell, sizeof cell, "  %6.2f%%\n",
                  row ? 100.0 * double(confusion[size_t(t * classes + t)]) / double(row) : 0.0);
    os << cell;
  }
  return os.str();
}

void write_confusion_csv(const fs::path& path, const std::vector<int64_t>& confusion,
                         const std::vector<std::string>& names, int64_t classes) {
  std::ostringstream csv;
  csv << "true\\predicted";
  for (int64_t p = 0; p < classes; ++p)
    csv << "," << class_label(names, p);
  csv << "\n";
  for (int64_t t = 0; t < classes; ++t) {
    csv << class_label(names, t);
    for (int64_t p = 0; p < classes; ++p) csv << "," << confusion[size_t(t * classes + p)];
    csv << "\n";
  }
  write_text_file(path, csv.str());
}

// Settings a resumed run must share with the run it continues (the rest may change).
const char* const kResumeKeys[] = {"dataset", "data", "augment", "image_size", "limit_train",
                                   "limit_test", "model", "shortcut", "stem", "attention",
                                   "hidden", "batch_size", "optimizer", "lr", "momentum",
                                   "weight_decay", "nesterov", "no_decay_bias_norm", "schedule",
                                   "milestones", "gamma", "warmup_epochs", "label_smoothing",
                                   "seed"};

void check_resume_config(const json& saved, const json& now, const std::string& path) {
  std::string differ;
  for (const char* key : kResumeKeys)
    if (saved.value(key, json()) != now.value(key, json()))
      differ += std::string(differ.empty() ? "" : "; ") + key + " was " +
                saved.value(key, json()).dump() + ", now " + now.value(key, json()).dump();
  FOVEA_CHECK(differ.empty(), "train: cannot resume ", path, " with different settings: ", differ);
}

}  // namespace

std::string config_json(const Config& c) {
  const json j = {{"dataset", c.dataset},       {"data", c.data},
                  {"augment", c.augment},       {"image_size", c.image_size},
                  {"limit_train", c.limit_train}, {"limit_test", c.limit_test},
                  {"model", c.model},           {"shortcut", c.shortcut},
                  {"stem", c.stem},             {"attention", c.attention},
                  {"hidden", c.hidden},         {"epochs", c.epochs},
                  {"batch_size", c.batch_size}, {"optimizer", c.optimizer},
                  {"lr", c.lr},                 {"momentum", c.momentum},
                  {"weight_decay", c.weight_decay}, {"nesterov", c.nesterov},
                  {"no_decay_bias_norm", c.no_decay_bias_norm},
                  {"schedule", c.schedule},     {"milestones", c.milestones},
                  {"gamma", c.gamma},           {"warmup_epochs", c.warmup_epochs},
                  {"label_smoothing", c.label_smoothing}, {"seed", c.seed},
                  {"threads", c.threads},       {"device", c.device},
                  {"workers", c.workers}};
  return j.dump(2);
}

Result run(const Config& c, std::ostream& out) {
  const auto t0 = Clock::now();
  FOVEA_CHECK(c.epochs >= 0, "train: --epochs must be >= 0, got ", c.epochs);
  FOVEA_CHECK(c.batch_size >= 1, "train: --batch-size must be >= 1, got ", c.batch_size);
  FOVEA_CHECK(c.workers >= 0, "train: --workers must be >= 0, got ", c.workers);
  FOVEA_CHECK(c.stop_after >= 0, "train: --stop-after must be >= 0, got ", c.stop_after);
  set_num_threads(c.threads > 0 ? c.threads
                                : int(std::max(1u, std::thread::hardware_concurrency())));
  const Device device = Device::parse(c.device);
  if (device.is_cuda()) {
    std::string why;
    FOVEA_CHECK(cuda_available(&why), "train: --device ", c.device, " is not usable: ", why);
  }
  if (!c.quiet) out << build_info() << "\n";

  const Data d = load_data(c);
  const int64_t classes = d.train->num_classes();
  data::LoaderOptions lo;
  lo.batch_size = c.batch_size;
  lo.shuffle = true;
  lo.seed = c.seed;
  lo.num_workers = c.workers;
  lo.drop_last = d.train->size() % c.batch_size == 1;  // a batch of one breaks BatchNorm
  data::DataLoader train_loader(d.train, lo);
  data::LoaderOptions eval_options;
  eval_options.batch_size = 500;
  eval_options.num_workers = c.workers;
  data::DataLoader test_loader(d.test, eval_options);
  FOVEA_CHECK(train_loader.num_batches() > 0, "train: no training batches (", d.train->size(),
              " images, batch size ", c.batch_size, ")");

  manual_seed(c.seed);
  Model model = make_model(c, *d.train);
  model.net->to(device);
  auto optimizer = make_optimizer(c, *model.net);
  const optim::SchedulePtr schedule = make_schedule(c, train_loader.num_batches());
  nn::CrossEntropyLoss criterion(c.label_smoothing);

  const fs::path dir(c.out);
  fs::create_directories(dir);
  const json config = json::parse(config_json(c));
  write_text_file(dir / "config.json", config.dump(2) + "\n");

  Result result;
  result.class_names = d.train->class_names();
  int64_t start_epoch = 0, step = 0;
  if (!c.resume.empty()) {
    const nn::TrainingState saved = nn::read_checkpoint_state(c.resume);
    if (saved.extra.contains("config")) check_resume_config(saved.extra["config"], config, c.resume);
    const nn::TrainingState s = nn::load_checkpoint(c.resume, model.description, *model.net,
                                                    optimizer.get());
    start_epoch = s.epoch;
    step = s.step;
    if (s.rng.count("default")) default_generator().set_state(s.rng.at("default"));
    for (const json& row : s.extra.value("history", json::array()))
      result.history.push_back(from_json(row));
    if (!c.quiet)
      out << "resumed " << c.resume << " after epoch " << start_epoch << " (step " << step << ")\n";
  }

  if (!c.quiet) {
    const auto [ch, h, w] = d.train->image_shape();
    out << "data: " << c.dataset << " from " << d.source << ": " << d.train->size() << " train, "
        << d.test->size() << " test images of " << ch << "x" << h << "x" << w << ", " << classes
        << " classes; augmentation: " << d.augment << "\n";
    out << "model: " << model.description << "\n"
        << nn::summarize(*model.net, {1, ch, h, w}).table();
    out << "optimizer: " << c.optimizer << " lr " << c.lr << ", momentum " << c.momentum
        << ", weight decay " << c.weight_decay << (c.no_decay_bias_norm ? " (not on biases/norms)" : "")
        << "; schedule " << c.schedule << "; batch " << c.batch_size << "; " << get_num_threads()
        << " threads; output in " << dir.string() << "\n";
  }

  if (c.save_initial && c.resume.empty()) {
    io::NamedTensors weights;
    for (const auto& [name, t] : model.net->state_dict()) weights.emplace_back(name, t);
    io::save_safetensors((dir / "initial.safetensors").string(), weights,
                         {{"model", model.description}});
  }

  Evaluation test;
  const int64_t end_epoch =
      c.stop_after > 0 ? std::min<int64_t>(c.epochs, start_epoch + c.stop_after) : c.epochs;
  for (int64_t epoch = start_epoch; epoch < end_epoch; ++epoch) {
    const auto te = Clock::now();
    train_loader.set_epoch(epoch);
    if (!c.export_plans.empty()) {
      fs::create_directories(c.export_plans);
      data::write_epoch_plan(data::epoch_plan(train_loader, epoch),
                             (fs::path(c.export_plans) / ("epoch" + std::to_string(epoch) + ".json")).string());
    }
    Progress progress(out, epoch + 1, c.epochs, train_loader.num_batches(), c.quiet);
    double loss_sum = 0, lr = optimizer->lr();
    int64_t correct = 0, seen = 0, done = 0;
    for (const data::Batch& batch : train_loader) {
      schedule->apply(*optimizer, step);
      lr = optimizer->lr();
      const Tensor labels = batch.labels.to(device);
      const Tensor logits = (*model.net)(batch.images.to(device));
      const Tensor loss = criterion(logits, labels);
      const double loss_value = loss.item();
      FOVEA_CHECK(std::isfinite(loss_value), "train: the loss became ", loss_value, " at epoch ",
                  epoch + 1, ", step ", step, " (lr ", lr, "); try a smaller --lr");
      optimizer->zero_grad();
      loss.backward();
      optimizer->step();
      ++step;
      loss_sum += loss_value * double(batch.size());
      const std::vector<int64_t> predicted = predictions(logits);
      const std::vector<int64_t> truth = batch.labels.to_vector<int64_t>();
      for (size_t i = 0; i < truth.size(); ++i) correct += predicted[i] == truth[i];
      seen += batch.size();
      progress.update(++done, seen, loss_sum / double(seen), double(correct) / double(seen));
    }
    const double train_seconds = seconds_since(te);
    test = evaluate(*model.net, test_loader, classes, device);
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.lr = lr;
    m.train_loss = loss_sum / double(seen);
    m.train_acc = double(correct) / double(seen);
    m.test_loss = test.loss;
    m.test_acc = test.accuracy;
    m.seconds = seconds_since(te);
    m.images_per_second = double(seen) / train_seconds;
    result.history.push_back(m);
    char line[256];
    std::snprintf(line, sizeof line,
                  "epoch %lld/%d: train loss %.4f, train acc %.2f%%, test loss %.4f, test acc "
                  "%.2f%%, lr %.4g, %.1f s (%.0f img/s)\n",
                  (long long)m.epoch, c.epochs, m.train_loss, 100 * m.train_acc, m.test_loss,
                  100 * m.test_acc, m.lr, m.seconds, m.images_per_second);
    out << line;
    out.flush();

    write_metrics(dir, result.history);
    nn::TrainingState state;
    state.epoch = epoch + 1;
    state.step = step;
    state.model_desc = model.description;
    state.rng["default"] = default_generator().state();
    state.extra["config"] = config;
    state.extra["history"] = json::array();
    for (const EpochMetrics& h : result.history) state.extra["history"].push_back(to_json(h));
    nn::save_checkpoint((dir / "checkpoint.safetensors").string(), *model.net, optimizer.get(),
                        state);
  }
  if (test.total == 0) test = evaluate(*model.net, test_loader, classes, device);

  result.confusion = test.confusion;
  result.correct = test.correct;
  result.total = test.total;
  result.seconds = seconds_since(t0);
  write_confusion_csv(dir / "confusion.csv", test.confusion, result.class_names, classes);
  if (!c.quiet) out << "confusion matrix (rows: true class, columns: predicted)\n"
                    << confusion_table(test.confusion, result.class_names, classes);
  char line[160];
  std::snprintf(line, sizeof line, "test accuracy: %.2f%% (%lld/%lld) in %.1f s\n",
                100 * test.accuracy, (long long)test.correct, (long long)test.total, result.seconds);
  out << line;
  out.flush();
  return result;
}

}  // namespace fovea::train
