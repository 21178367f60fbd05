// attention_zoo: trains one network (ResNet-20 on CIFAR-10 by default) with each attention
// module in turn, and without one, on the same data, seed and recipe, and prints the table the
// papers print: parameters, MACs per image (counted from the ops that ran), training images/s,
// peak tensor memory, test accuracy and the difference to the plain network.
//
//   build/examples/attention_zoo --data ../shared/data/cifar-10-subset --epochs 15
//   build/examples/attention_zoo --modules none se cbam --epochs 2 --out runs/zoo-small
//   build/examples/attention_zoo ... --compare-torch     (PyTorch's images/s beside fovea's)
//
// Output under --out: zoo.csv (one row per module, written as each finishes), zoo.png (test
// accuracy per module) and one training folder per module (metrics, curves, checkpoints). Run
// it again with the same settings to continue a killed run: finished modules are kept, the
// interrupted one resumes from its newest checkpoint. Each module gets the options under which
// it fits a CIFAR ResNet (attention_probe --list; "sa" runs as "sa:groups=4"); give
// "name:options" in --modules to choose others. The library is examples/support/zoo.cpp.
#include <CLI/CLI.hpp>
#include <iostream>

#include "engine/core/error.h"
#include "support/zoo.h"

#ifndef FOVEA_ZOO_TORCH
#define FOVEA_ZOO_TORCH ""
#endif

int main(int argc, char** argv) {
  fovea::zoo::Options o;
  fovea::train::Config& c = o.base;
  c.dataset = "cifar10";
  c.epochs = 15;
  bool compare_torch = false;
  CLI::App app{"Train one network with each attention module and compare them"};
  app.add_option("--dataset", c.dataset, "cifar10, cifar100, fashion-mnist, mnist, imagefolder")
      ->capture_default_str();
  app.add_option("--data", c.data, "data folder (e.g. ../shared/data/cifar-10-subset)");
  app.add_option("--model", c.model, "the network (resnet20, resnet32, ..., resnet18)")
      ->capture_default_str();
  app.add_option("--modules", o.modules,
                 "attention names, none for the plain network, name:options for other options "
                 "(default: the plain network and one form of each of the 19 modules)");
  app.add_option("--epochs", c.epochs, "epochs per module")->capture_default_str();
  app.add_option("--batch-size", c.batch_size, "images per step")->capture_default_str();
  app.add_option("--lr", c.lr, "learning rate (SGD, momentum 0.9, cosine)")->capture_default_str();
  app.add_option("--wd", c.weight_decay, "weight decay")->capture_default_str();
  app.add_option("--seed", c.seed, "the same seed for every module")->capture_default_str();
  app.add_option("--limit-train", c.limit_train, "use only the first N training images");
  app.add_option("--limit-test", c.limit_test, "use only the first N test images");
  app.add_option("--threads", c.threads, "CPU threads (default: all cores)");
  app.add_option("--device", c.device, "cpu or cuda")->capture_default_str();
  app.add_option("--out", o.out, "output folder (zoo.csv, zoo.png, one folder per module)")
      ->capture_default_str();
  app.add_flag("--compare-torch", compare_torch,
               "also time PyTorch training the same networks built from the fixture script's "
               "reference modules (examples/attention_zoo_torch.py)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (o.modules.empty()) o.modules = fovea::zoo::default_modules();
    if (compare_torch) o.torch_script = FOVEA_ZOO_TORCH;
    const auto rows = fovea::zoo::run(o, std::cout);
    std::cout << "\n" << fovea::zoo::table(rows) << "\n(" << c.model << ", " << c.dataset << ", "
              << c.epochs << " epochs, batch " << c.batch_size << ", lr " << c.lr
              << ", seed " << c.seed << "; " << o.out << "/zoo.csv and zoo.png)\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "attention_zoo: error: " << e.what() << "\n";
    return 1;
  }
}
