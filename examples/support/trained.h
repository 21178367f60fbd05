// A network that examples/train trained, back from its checkpoint, for the programs that look
// inside it (issue 10: visualize_attention, gradcam): the run's configuration comes from the
// checkpoint (its "extra.config", which the trainer writes), the network is built as the run
// built it (support/recipe.h), the weights are loaded with the checkpoint's checks (format,
// checksum, model description, every tensor's name and shape), and the data sets give the
// class names and the normalisation the network was trained with.
#pragma once

#include <string>

#include "support/recipe.h"
#include "support/trainer.h"

namespace fovea::train {

struct Trained {
  Config config;        // the run's (data: the folder the data was read from)
  Datasets data;        // train and test sets as the run read them (test images: normalised)
  Model model;          // weights loaded, in eval mode, on the CPU
  std::string checkpoint;  // the file read
  int64_t epoch = 0;    // epochs it had trained
};

// `path` is a checkpoint file or a run folder (its newest good checkpoint). `data`, when not
// empty, replaces the data folder the run used (a checkpoint moved to another machine). A file
// that is no checkpoint, one without the run's configuration, or data that is not there is an
// error naming the file.
Trained load_trained(const std::string& path, const std::string& data = "");

}  // namespace fovea::train
