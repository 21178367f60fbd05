// train: trains an image classifier and reports its test accuracy.
//
//   build/examples/train                                         # the main job: Fashion-MNIST
//   build/examples/train --dataset cifar10 --data ../shared/data/cifar-10-subset --epochs 30
//   build/examples/train --dataset imagefolder --data ../shared/data/tiny-imagenet-10 --model resnet18
//   build/examples/train --out runs/a --resume runs/a --epochs 10   # its newest good checkpoint
//
// Every epoch prints train/test loss and accuracy and the process's memory, and writes, under
// --out, metrics.csv, curves.png (loss and accuracy curves) and checkpoint.safetensors
// (checkpoint.prev.safetensors keeps the one before); the run ends with the test accuracy and a
// confusion matrix (also confusion.csv). A NaN/Inf loss or gradient, or a batch too large for
// memory, stops it with a message and exit status 1. The loop itself is
// examples/support/trainer.cpp.
#include <CLI/CLI.hpp>
#include <iostream>

#include "engine/core/error.h"
#include "support/trainer.h"

namespace {

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
  fovea::train::Config c;
  CLI::App app{"Train an image classifier with fovea"};
  auto* data = app.add_option_group("data");
  data->add_option("--dataset", c.dataset, "fashion-mnist, mnist, cifar10, cifar100, imagefolder")
      ->capture_default_str();
  data->add_option("--data", c.data,
                   "data folder (default for fashion-mnist: /usr/share/datasets/fashion-mnist; "
                   "imagefolder: a folder with train/<class>/* and val/<class>/*)");
  data->add_option("--augment", c.augment,
                   "training transforms, e.g. crop:32:4,flip or rrc:56,flip; none; default "
                   "(cifar: crop:32:4,flip, image folders: crop:SIZE:4,flip, MNIST-like: none)")
      ->capture_default_str();
  data->add_option("--image-size", c.image_size, "imagefolder: resize images to SIZE x SIZE")
      ->check(at_least(0));
  data->add_option("--workers", c.workers, "background data loading threads")
      ->capture_default_str()
      ->check(at_least(0));
  data->add_option("--limit-train", c.limit_train, "use only the first N training images")
      ->check(at_least(0));
  data->add_option("--limit-test", c.limit_test, "use only the first N test images")
      ->check(at_least(0));
  data->add_flag("--keep-last-batch", c.keep_last_batch,
                 "also train on the last, partial batch of each epoch (dropped by default; a "
                 "last batch of one image is always dropped: BatchNorm cannot train on it). "
                 "The test set is always evaluated whole");
  auto* model = app.add_option_group("model");
  model->add_option("--model", c.model,
                    "mlp, resnet20, resnet32, resnet44, resnet56, resnet110, resnet18, resnet34, "
                    "resnet50")
      ->capture_default_str();
  model->add_option("--shortcut", c.shortcut, "CIFAR ResNets: A (zero-padded identity) or B "
                    "(1x1 conv projection)")
      ->capture_default_str();
  model->add_option("--stem", c.stem, "resnet18/34/50: cifar (3x3, for 32-64 px) or imagenet (7x7 + "
                    "max pool)")
      ->capture_default_str();
  model->add_option("--attention", c.attention,
                    "attention module in every residual block, with options: "
                    "NAME[:option=value,...], e.g. cbam:reduction_ratio=8,pool_types=avg+max+lse "
                    "(examples/attention_probe --list shows every module and option)")
      ->capture_default_str();
  model->add_option("--hidden", c.hidden, "mlp: hidden layer widths")->capture_default_str();
  auto* opt = app.add_option_group("optimisation");
  opt->add_option("--epochs", c.epochs, "passes over the training set")
      ->capture_default_str()
      ->check(at_least(0));
  opt->add_option("--batch-size", c.batch_size, "images per step")
      ->capture_default_str()
      ->check(at_least(1));
  opt->add_option("--optimizer", c.optimizer, "sgd, adam, adamw")->capture_default_str();
  opt->add_option("--lr", c.lr, "learning rate")->capture_default_str()->check(at_least(0));
  opt->add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str();
  opt->add_flag("--nesterov", c.nesterov, "Nesterov momentum");
  opt->add_option("--wd", c.weight_decay, "weight decay")->capture_default_str()->check(at_least(0));
  opt->add_flag("--no-decay-bias-norm", c.no_decay_bias_norm,
                "no weight decay on biases and normalisation parameters");
  opt->add_option("--schedule", c.schedule, "none, step, multistep, cosine, onecycle")
      ->capture_default_str();
  opt->add_option("--milestones", c.milestones, "multistep: fractions of the run")
      ->capture_default_str();
  opt->add_option("--gamma", c.gamma, "step/multistep: lr factor at each milestone")
      ->capture_default_str();
  opt->add_option("--warmup", c.warmup_epochs, "linear warm-up epochs before the schedule")
      ->check(at_least(0));
  opt->add_option("--label-smoothing", c.label_smoothing, "cross-entropy label smoothing")
      ->check(at_least(0));
  auto* run = app.add_option_group("run");
  run->add_option("--seed", c.seed, "seed for initialisation, data order and augmentation")
      ->capture_default_str();
  run->add_option("--threads", c.threads, "CPU threads (default: all cores)")->check(at_least(0));
  run->add_option("--device", c.device, "cpu or cuda[:N]")->capture_default_str();
  run->add_option("--out", c.out, "output folder (metrics.csv, curves.png, checkpoint)")
      ->capture_default_str();
  run->add_option("--resume", c.resume, "continue from this checkpoint, or from the newest good "
                  "one in this folder (same settings; --epochs may grow)");
  run->add_option("--stop-after", c.stop_after,
                  "stop after N epochs of this invocation (continue later with --resume)")
      ->check(at_least(0));
  run->add_option("--export-plans", c.export_plans,
                  "write each epoch's data order and augmentation (JSON) to this folder");
  run->add_flag("--save-initial", c.save_initial,
                "also write the initial weights to <out>/initial.safetensors");
  run->add_flag("--no-guard", [&c](int64_t) { c.guard = false; },
                "do not stop when a loss or gradient becomes NaN or Inf (by default the run "
                "stops, naming the first module that went non-finite, and keeps the last good "
                "checkpoint)");
  run->add_flag("--quiet", c.quiet, "no progress bar or model summary");
  CLI11_PARSE(app, argc, argv);
  try {
    fovea::train::run(c, std::cout);
    return 0;
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "train: error: " << e.what() << "\n";
    return 1;
  }
}
