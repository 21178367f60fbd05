// examples/attention_zoo's work, as a library so tests can run it: one network (ResNet-20 on
// CIFAR by default) trained with each attention module in turn, and the plain network, on the
// same data, seed and recipe, measured the way the papers compare modules:
//
//   module | attention (with options) | parameters | MACs per image | training images/s |
//   peak tensor memory | test accuracy | difference to the plain network
//
// MACs are counted from the ops that ran in one inference forward (eval mode) of one image
// (engine/ops/mac_count.h: convolutions, linear layers and every matmul, attention products
// included; BA2M's identity eval policy therefore counts as the plain network). Images/s is the
// median over the epochs of the training throughput the trainer measures (data loading and the
// numerical guard included). Peak memory is the most bytes of CPU tensors alive at once during
// any epoch (training and test pass; the caching allocator's peak, recorded per epoch so a
// resumed module keeps its earlier epochs' figure); with --device cuda it is the host's only.
//
// Resumable: each module trains in <out>/<module>/ with the trainer's checkpoints, and its row
// goes to <out>/zoo.csv when it finishes; a rerun with the same settings skips the modules with a
// row and resumes the one that was interrupted from its newest checkpoint. A run of some modules
// keeps the others' rows. Rows match on module, options and epochs only: rerun with another
// recipe (lr, seed, batch) in another --out.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "support/trainer.h"

namespace fovea::zoo {

struct Options {
  train::Config base;                // the recipe; attention and out are set per module
  std::vector<std::string> modules;  // attention names ("none" is the plain network)
  std::string out = "runs/zoo";
  std::string torch_script;          // --compare-torch: the script that times PyTorch's twin
};

struct Row {
  std::string module;     // as asked, "none" for the plain network
  std::string attention;  // with the options it ran with ("sa:groups=4")
  int64_t params = 0, macs = 0;
  double images_per_second = 0, peak_mib = 0, test_acc = 0;
  int epochs = 0;
  double torch_images_per_second = -1;  // < 0: not measured
  std::string status = "ok";            // "ok" or the error that stopped the module's run
};

// The plain network and one variant of each of the 19 modules of the spec (its default form).
std::vector<std::string> default_modules();

// Trains every module of `options` that has no row yet; returns every row in options' order.
std::vector<Row> run(const Options& options, std::ostream& log);

// The table as the program prints it (difference to the "none" row when there is one).
std::string table(const std::vector<Row>& rows);

// <out>/zoo.csv: written after each module, read back to resume.
void write_csv(const std::string& path, const std::vector<Row>& rows);
std::vector<Row> read_csv(const std::string& path);

// <out>/zoo.png: test accuracy per module, the plain network's as a line.
void write_chart(const std::string& path, const std::vector<Row>& rows);

}  // namespace fovea::zoo
