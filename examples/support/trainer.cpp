#include "support/trainer.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <new>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "engine/core/cpu_allocator.h"
#include "engine/data/loader.h"
#include "engine/data/plan.h"
#include "layers/layers.h"
#include "support/guard.h"
#include "support/recipe.h"
#include "support/report.h"

namespace fovea::train {

namespace {

using json = nlohmann::json;
using nn::with_commas;
namespace fs = std::filesystem;

// ---- settings --------------------------------------------------------------------------------

void check_options(const Config& c) {
  FOVEA_CHECK(c.epochs >= 0, "train: --epochs must be >= 0, got ", c.epochs);
  FOVEA_CHECK(c.batch_size >= 1, "train: --batch-size must be >= 1, got ", c.batch_size);
  FOVEA_CHECK(c.workers >= 0, "train: --workers must be >= 0, got ", c.workers);
  FOVEA_CHECK(c.stop_after >= 0, "train: --stop-after must be >= 0, got ", c.stop_after);
}

// Checks the options, sets the threads and says what this build found; returns the device.
Device prepare(const Config& c, std::ostream& out) {
  check_options(c);
  set_num_threads(c.threads > 0 ? c.threads
                                : int(std::max(1u, std::thread::hardware_concurrency())));
  const Device device = Device::parse(c.device);
  if (device.is_cuda()) {
    std::string why;
    FOVEA_CHECK(cuda_available(&why), "train: --device ", c.device, " is not usable: ", why);
  }
  if (!c.quiet) out << build_info() << "\n";
  return device;
}

// Settings a resumed run must share with the run it continues (the rest may change).
const char* const kResumeKeys[] = {"dataset", "data", "augment", "image_size", "limit_train",
                                   "limit_test", "keep_last_batch", "model", "shortcut", "stem",
                                   "attention", "hidden", "batch_size", "optimizer", "lr",
                                   "momentum", "weight_decay", "nesterov", "no_decay_bias_norm",
                                   "schedule", "milestones", "gamma", "warmup_epochs",
                                   "label_smoothing", "seed"};

// `partial_batch`: the training set leaves a last batch of 2 or more images, the only case in
// which keep_last_batch changes what an epoch trains on.
void check_resume_config(json saved, const json& now, const std::string& path,
                         bool partial_batch) {
  // Runs from before --keep-last-batch existed trained on a last partial batch (unless it held
  // one image), which is what keep_last_batch = true does now.
  const bool predates_keep_last_batch = !saved.contains("keep_last_batch");
  if (predates_keep_last_batch) saved["keep_last_batch"] = true;
  if (!partial_batch) saved["keep_last_batch"] = now.value("keep_last_batch", json());
  std::string differ;
  for (const char* key : kResumeKeys)
    if (saved.value(key, json()) != now.value(key, json()))
      differ += std::string(differ.empty() ? "" : "; ") + key + " was " +
                saved.value(key, json()).dump() + ", now " + now.value(key, json()).dump();
  const bool old_batches = predates_keep_last_batch && now.value("keep_last_batch", true) == false;
  FOVEA_CHECK(differ.empty(), "train: cannot resume ", path, " with different settings: ", differ,
              old_batches ? " (the checkpoint is from before --keep-last-batch existed, when "
                            "training kept the last partial batch: resume it with "
                            "--keep-last-batch)"
                          : "");
}

// ---- setup -----------------------------------------------------------------------------------

// Everything one run works with: built by setup(), moved on by resume() and every epoch.
struct Session {
  Session(const Config& config, std::ostream& log, Device on, Datasets data)
      : c(config), out(log), device(on), d(std::move(data)) {}

  const Config& c;
  std::ostream& out;
  Device device;
  Datasets d;
  int64_t classes = 0;
  std::unique_ptr<data::DataLoader> train_loader, test_loader;
  Model model;
  std::vector<Tensor> parameters;  // the guard checks their gradients after every backward
  std::unique_ptr<optim::Optimizer> optimizer;
  optim::SchedulePtr schedule;
  fs::path dir;
  json config;
  Result result;
  int64_t start_epoch = 0, step = 0;
  std::string resumed;  // the checkpoint this run continues, "" when it started afresh
};

std::unique_ptr<data::DataLoader> make_train_loader(const Config& c,
                                                    std::shared_ptr<const data::Dataset> train) {
  const int64_t images = train->size();
  data::LoaderOptions lo;
  lo.batch_size = c.batch_size;
  lo.shuffle = true;
  lo.seed = c.seed;
  lo.num_workers = c.workers;
  // BatchNorm cannot train on a batch of one image (its variance is 0): such a batch is
  // dropped even with --keep-last-batch.
  lo.drop_last = !c.keep_last_batch || images % c.batch_size == 1;
  auto loader = std::make_unique<data::DataLoader>(std::move(train), lo);
  if (loader->num_batches() == 0) {
    FOVEA_CHECK(c.keep_last_batch, "train: --batch-size ", c.batch_size,
                " is larger than the training set (", images,
                " images), so an epoch would have no full batch: use a smaller --batch-size, "
                "or --keep-last-batch to train on one batch of all ", images, " images");
    FOVEA_FAIL("train: the training set holds one image, and BatchNorm cannot train on a batch "
               "of one");
  }
  return loader;
}

void setup(Session& s) {
  const Config& c = s.c;
  s.classes = s.d.train->num_classes();
  s.train_loader = make_train_loader(c, s.d.train);
  data::LoaderOptions eval_options;  // every test image, whatever the batch size
  eval_options.batch_size = 500;
  eval_options.num_workers = c.workers;
  s.test_loader = std::make_unique<data::DataLoader>(s.d.test, eval_options);

  manual_seed(c.seed);
  s.model = make_model(c, *s.d.train);
  s.model.net->to(s.device);
  s.parameters = s.model.net->parameters();
  s.optimizer = make_optimizer(c, *s.model.net);
  s.schedule = make_schedule(c, s.train_loader->num_batches());

  s.dir = fs::path(c.out);
  fs::create_directories(s.dir);
  s.config = json::parse(config_json(c));
  s.result.class_names = s.d.train->class_names();
}

void resume(Session& s) {
  const Config& c = s.c;
  const std::string resume = nn::resolve_checkpoint(c.resume, s.out);  // file, or folder's newest
  const nn::TrainingState saved = nn::read_checkpoint_state(resume);
  if (saved.extra.contains("config")) {
    const bool partial_batch = s.d.train->size() % s.c.batch_size > 1;
    check_resume_config(saved.extra["config"], s.config, resume, partial_batch);
  }
  const nn::TrainingState state = nn::load_checkpoint(resume, s.model.description, *s.model.net,
                                                      s.optimizer.get());
  s.start_epoch = state.epoch;
  s.step = state.step;
  s.resumed = resume;
  if (state.rng.count("default")) default_generator().set_state(state.rng.at("default"));
  for (const json& row : state.extra.value("history", json::array()))
    s.result.history.push_back(from_json(row));
  if (!c.quiet)
    s.out << "resumed " << resume << " after epoch " << s.start_epoch << " (step " << s.step
          << ")\n";
}

// "train: 59,904 of 60,000 images per epoch (468 batches of 128; last 96 dropped,
// --keep-last-batch keeps them)"
std::string epoch_size_line(const data::DataLoader& loader) {
  const int64_t images = loader.dataset().size(), used = loader.num_examples();
  const int64_t batches = loader.num_batches(), size = loader.batch_size();
  const int64_t last = used - (batches - 1) * size, dropped = images - used;
  std::ostringstream text;
  text << "train: " << (dropped ? with_commas(used) + " of " : "") << with_commas(images)
       << " images per epoch (" << with_commas(batches) << (batches == 1 ? " batch" : " batches")
       << " of " << (batches == 1 ? last : size);
  if (batches > 1 && last < size) text << ", the last of " << last;
  if (dropped == 1)
    text << "; the last image dropped: BatchNorm cannot train on a batch of one";
  else if (dropped > 0)
    text << "; last " << dropped << " dropped, --keep-last-batch keeps them";
  text << ")";
  return text.str();
}

void print_overview(Session& s) {
  const Config& c = s.c;
  const auto [ch, h, w] = s.d.train->image_shape();
  s.out << "data: " << c.dataset << " from " << s.d.source << ": " << s.d.train->size()
        << " train, " << s.d.test->size() << " test images of " << ch << "x" << h << "x" << w
        << ", " << s.classes << " classes; augmentation: " << s.d.augment << "\n"
        << epoch_size_line(*s.train_loader) << "\n";
  s.out << "model: " << s.model.description << "\n"
        << nn::summarize(*s.model.net, {1, ch, h, w}).table();
  if (const size_t peak = nn::forward_backward_peak_bytes(*s.model.net, {1, ch, h, w}))
    s.out << "forward + backward of one image: " << std::fixed << std::setprecision(2)
          << double(peak) / double(1 << 20) << std::defaultfloat
          << " MiB of tensors at the peak (the input, the activations kept for the backward, "
             "the gradients)\n";
  s.out << "optimizer: " << c.optimizer << " lr " << c.lr << ", momentum " << c.momentum
        << ", weight decay " << c.weight_decay
        << (c.no_decay_bias_norm ? " (not on biases/norms)" : "") << "; schedule " << c.schedule
        << "; batch " << c.batch_size << "; " << get_num_threads() << " threads; output in "
        << s.dir.string() << "\n";
}

void save_initial_weights(const Session& s) {
  io::NamedTensors weights;
  for (const auto& [name, t] : s.model.net->state_dict()) weights.emplace_back(name, t);
  io::save_safetensors((s.dir / "initial.safetensors").string(), weights,
                       {{"model", s.model.description}});
}

// ---- the numerical guard ---------------------------------------------------------------------

// What is on disk after a failed step: nothing of the failing epoch was written.
std::string saved_note(const Session& s, int64_t epoch) {
  std::ostringstream text;
  if (epoch > s.start_epoch)
    text << "Nothing of epoch " << epoch + 1 << " was saved: " << s.dir.string()
         << " holds the checkpoint of epoch " << epoch << " (--resume " << s.dir.string()
         << " continues from it).";
  else if (!s.resumed.empty())
    text << "Nothing was saved: the checkpoint resumed, " << s.resumed << ", is unchanged.";
  else
    text << "Nothing was saved (no epoch had completed).";
  return text.str();
}

// Stops the run after a step whose loss (or, with a finite loss, a gradient) is not finite,
// saying where it first went non-finite (guard.h), what is on disk and what to try.
[[noreturn]] void stop_non_finite(Session& s, int64_t epoch, int64_t batch, const Tensor& images,
                                  double loss) {
  const std::vector<int64_t> indices =
      s.train_loader->batch_indices(s.train_loader->order(epoch), batch);
  const Diagnosis why = diagnose_step(*s.model.net, images, indices, std::isfinite(loss));
  const double lr = s.optimizer->lr();
  std::ostringstream text;
  text << "train: numerical guard: at epoch " << epoch + 1 << ", step " << s.step + 1 << " (batch "
       << batch + 1 << " of " << s.train_loader->num_batches() << ", lr " << lr << ") ";
  if (std::isfinite(loss))
    text << "the gradients are not finite (the loss is " << loss << ")";
  else
    text << "the loss is " << (std::isnan(loss) ? "NaN" : loss > 0 ? "Inf" : "-Inf");
  text << ": " << why.text << ". " << saved_note(s, epoch) << " ";
  if (why.where == Diagnosis::Where::Input)
    text << "Check the data: those images are not finite after loading and augmentation.";
  else
    text << "Try a smaller --lr (this step's was " << lr << ") or a --warmup of an epoch or two.";
  text << " (--no-guard turns this check off.)";
  FOVEA_FAIL(text.str());
}

// ---- one epoch -------------------------------------------------------------------------------

void export_plan(const Session& s, int64_t epoch) {
  fs::create_directories(s.c.export_plans);
  data::write_epoch_plan(
      data::epoch_plan(*s.train_loader, epoch),
      (fs::path(s.c.export_plans) / ("epoch" + std::to_string(epoch) + ".json")).string());
}

std::vector<int64_t> predictions(const Tensor& logits) {
  return argmax(logits.detach(), 1).to_vector<int64_t>();
}

// Trains epoch `epoch` (0-based); returns its training metrics.
EpochMetrics train_epoch(Session& s, int64_t epoch) {
  const Config& c = s.c;
  const auto t0 = Clock::now();
  data::DataLoader& loader = *s.train_loader;
  loader.set_epoch(epoch);
  if (!c.export_plans.empty()) export_plan(s, epoch);
  Progress progress(s.out, epoch + 1, c.epochs, loader.num_batches(), c.quiet);
  nn::CrossEntropyLoss criterion(c.label_smoothing);
  nn::Module& net = *s.model.net;
  double loss_sum = 0, lr = s.optimizer->lr();
  int64_t correct = 0, seen = 0, done = 0;
  for (const data::Batch& batch : loader) {
    s.schedule->apply(*s.optimizer, s.step);
    lr = s.optimizer->lr();
    const Tensor images = batch.images.to(s.device);
    const Tensor logits = net(images);
    const Tensor loss = criterion(logits, batch.labels.to(s.device));
    const double loss_value = loss.item();
    if (c.guard && !std::isfinite(loss_value)) stop_non_finite(s, epoch, done, images, loss_value);
    s.optimizer->zero_grad();
    loss.backward();
    if (c.guard && !gradients_finite(s.parameters))
      stop_non_finite(s, epoch, done, images, loss_value);
    s.optimizer->step();
    ++s.step;
    loss_sum += loss_value * double(batch.size());
    const std::vector<int64_t> predicted = predictions(logits);
    const std::vector<int64_t> truth = batch.labels.to_vector<int64_t>();
    for (size_t i = 0; i < truth.size(); ++i) correct += predicted[i] == truth[i];
    seen += batch.size();
    progress.update(++done, seen, loss_sum / double(seen), double(correct) / double(seen));
  }
  // The last update may have overflowed a weight; the checkpoint must not get it.
  const std::string bad = c.guard ? first_non_finite_state(net) : "";
  FOVEA_CHECK(bad.empty(), "train: numerical guard: after epoch ", epoch + 1, ", ", bad,
              " is not finite (the epoch's last update made it so). ", saved_note(s, epoch),
              " Try a smaller --lr (the last step's was ", lr,
              ") or a --warmup of an epoch or two. (--no-guard turns this check off.)");
  EpochMetrics m;
  m.epoch = epoch + 1;
  m.lr = lr;
  m.train_loss = loss_sum / double(seen);
  m.train_acc = double(correct) / double(seen);
  m.images_per_second = double(seen) / seconds_since(t0);
  m.train_images = seen;
  m.steps = done;
  return m;
}

// ---- evaluation ------------------------------------------------------------------------------

struct Evaluation {
  double loss = 0, accuracy = 0;
  int64_t correct = 0, total = 0;
  std::vector<int64_t> confusion;
};

Evaluation evaluate(const Session& s) {
  nn::Module& model = *s.model.net;
  NoGradGuard no_grad;
  model.eval();
  Evaluation e;
  e.confusion.assign(size_t(s.classes * s.classes), 0);
  double loss_sum = 0;
  for (const data::Batch& batch : *s.test_loader) {
    const Tensor logits = model(batch.images.to(s.device));
    loss_sum += cross_entropy(logits, batch.labels.to(s.device), Reduction::Sum).item();
    const std::vector<int64_t> predicted = predictions(logits);
    const std::vector<int64_t> truth = batch.labels.to_vector<int64_t>();
    for (size_t i = 0; i < truth.size(); ++i) {
      e.correct += predicted[i] == truth[i];
      e.confusion[size_t(truth[i] * s.classes + predicted[i])]++;
    }
    e.total += batch.size();
  }
  model.train();
  e.loss = e.total ? loss_sum / double(e.total) : 0;
  e.accuracy = e.total ? double(e.correct) / double(e.total) : 0;
  return e;
}

// Runs `work` (training or evaluating batches) and turns running out of memory into an error
// that names the batch size, instead of the allocator's bare one (or std::bad_alloc).
template <typename Work>
auto within_memory(const Session& s, bool training, Work&& work) -> decltype(work()) {
  std::string why;
  try {
    return work();
  } catch (const OutOfMemoryError& e) {
    why = e.what();
  } catch (const std::bad_alloc&) {
    why = "std::bad_alloc";
  }
  if (why.starts_with("out of memory: ")) why = why.substr(15);
  const auto [ch, h, w] = s.d.train->image_shape();
  const int64_t train_images = s.d.train->size();
  const std::string images =
      (training && s.c.batch_size > train_images
           ? " (one batch of all " + with_commas(train_images) + " images of "
           : " (images of ") +
      std::to_string(ch) + "x" + std::to_string(h) + "x" + std::to_string(w) + ")";
  const std::string image_size = s.c.dataset == "imagefolder" ? " or a smaller --image-size" : "";
  if (training)
    FOVEA_FAIL("train: out of memory at batch size ", s.c.batch_size, images, ": ", why,
               "; try a smaller --batch-size", image_size);
  FOVEA_FAIL("train: out of memory evaluating the test set in batches of ",
             s.test_loader->batch_size(), images, ": ", why,
             image_size.empty() ? "" : "; try" + image_size);
}

// ---- saving ----------------------------------------------------------------------------------

// metrics.csv, curves.png and the checkpoint after epoch `epoch` (0-based).
void save_epoch(const Session& s, int64_t epoch) {
  write_metrics(s.dir, s.result.history);
  nn::TrainingState state;
  state.epoch = epoch + 1;
  state.step = s.step;
  state.model_desc = s.model.description;
  state.rng["default"] = default_generator().state();
  state.extra["config"] = s.config;
  state.extra["history"] = json::array();
  for (const EpochMetrics& h : s.result.history) state.extra["history"].push_back(to_json(h));
  nn::save_run_checkpoint(s.dir.string(), *s.model.net, s.optimizer.get(), state);
}

// The confusion matrix and the test accuracy, printed and in the Result.
Result finish(Session& s, const Evaluation& test, Clock::time_point t0) {
  Result& result = s.result;
  result.confusion = test.confusion;
  result.correct = test.correct;
  result.total = test.total;
  result.seconds = seconds_since(t0);
  write_confusion_csv(s.dir / "confusion.csv", test.confusion, result.class_names, s.classes);
  if (!s.c.quiet)
    s.out << "confusion matrix (rows: true class, columns: predicted)\n"
          << confusion_table(test.confusion, result.class_names, s.classes);
  char line[160];
  std::snprintf(line, sizeof line, "test accuracy: %.2f%% (%lld/%lld) in %.1f s\n",
                100 * test.accuracy, (long long)test.correct, (long long)test.total,
                result.seconds);
  s.out << line;
  s.out.flush();
  return std::move(result);
}

Result train_and_test(const Config& c, const Datasets& d, Device device, std::ostream& out,
                      Clock::time_point t0) {
  Session s(c, out, device, d);
  setup(s);
  if (!c.resume.empty()) resume(s);
  // Only now: a resume refused for different settings must not overwrite the run's config.
  write_text_file(s.dir / "config.json", s.config.dump(2) + "\n");
  if (!c.quiet) print_overview(s);
  if (c.save_initial && c.resume.empty()) save_initial_weights(s);

  Evaluation test;
  const int64_t end_epoch =
      c.stop_after > 0 ? std::min<int64_t>(c.epochs, s.start_epoch + c.stop_after) : c.epochs;
  for (int64_t epoch = s.start_epoch; epoch < end_epoch; ++epoch) {
    const auto t_epoch = Clock::now();
    cpu_allocator().reset_peak();  // record_memory reports this epoch's peak
    EpochMetrics m = within_memory(s, true, [&] { return train_epoch(s, epoch); });
    test = within_memory(s, false, [&] { return evaluate(s); });
    m.test_loss = test.loss;
    m.test_acc = test.accuracy;
    m.seconds = seconds_since(t_epoch);
    record_memory(m);
    s.result.history.push_back(m);
    out << epoch_line(m, c.epochs) << "\n";
    out.flush();
    save_epoch(s, epoch);
  }
  if (test.total == 0) test = within_memory(s, false, [&] { return evaluate(s); });
  return finish(s, test, t0);
}

}  // namespace

// One list of the fields a run's configuration is saved with (config.json, checkpoints) and read
// back from; the per-invocation ones (out, resume, stop_after, export_plans, save_initial,
// quiet) are not part of it. Keys absent from an older file keep their defaults.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Config, dataset, data, augment, image_size,
                                                limit_train, limit_test, keep_last_batch, model,
                                                shortcut, stem, attention, hidden, epochs,
                                                batch_size, optimizer, lr, momentum, weight_decay,
                                                nesterov, no_decay_bias_norm, schedule,
                                                milestones, gamma, warmup_epochs, label_smoothing,
                                                seed, threads, device, workers, guard)

std::string config_json(const Config& c) { return json(c).dump(2); }

Config config_from_json(const std::string& text) {
  try {
    return json::parse(text).get<Config>();
  } catch (const json::exception& e) {
    FOVEA_FAIL("train: not a run configuration (", e.what(), ")");
  }
}

Result run(const Config& c, std::ostream& out) {
  const auto t0 = Clock::now();
  const Device device = prepare(c, out);
  return train_and_test(c, load_datasets(c), device, out, t0);
}

Result run(const Config& c, const Datasets& data, std::ostream& out) {
  const auto t0 = Clock::now();
  const Device device = prepare(c, out);
  return train_and_test(c, data, device, out, t0);
}

}  // namespace fovea::train
