// A network that examples/train trained, back from its checkpoint, for the programs that look
// inside it (issue 10: visualize_attention, gradcam): the run's configuration comes from the
// checkpoint (its "extra.config", which the trainer writes), the network is built as the run
// built it (support/recipe.h), the weights are loaded with the checkpoint's checks (format,
// checksum, model description, every tensor's name and shape), and the data sets give the
// class names and the normalisation the network was trained with.
#pragma once

#include <string>
#include <vector>

#include "engine/fovea.h"
#include "support/canvas.h"
#include "support/html_page.h"
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

// An image to look at with a trained network, as it sees it.
struct ShownImage {
  std::string name;    // "test image 3", or the file
  Tensor image;        // normalised [C, H, W]
  int64_t label = -1;  // the test set's label; -1 for a file
};

// Test-set images by index, then image files (decoded, resized to the network's input and
// normalised as it was trained: support/images.h). An index outside the test set, no image at
// all and a file that does not decode are errors; `who` (the program) begins each message.
std::vector<ShownImage> shown_images(const Trained& t, const std::vector<int64_t>& indices,
                                     const std::vector<std::string>& files,
                                     const std::string& who);

// The page row of the i-th image shown: its heading, and as its first figure the image itself,
// written as input_<i>.png into `folder` with `size` pixels on its longer side. `picture` gets
// the image (denormalised), for the maps drawn over it.
viz::PageRow input_row(const Trained& t, const ShownImage& image, size_t i,
                       const std::string& folder, int size, plot::Canvas& picture);

// The name of class k ("class 7" when the data set has no names).
std::string class_name(const Trained& t, int64_t k);

// "test image 3 (cat)", or the file's name: a heading for the image's pictures.
std::string heading(const Trained& t, const ShownImage& image);

// "cat 81.2%<separator>dog 9.0%..." for the five classes of highest softmax probability.
std::string top5(const Trained& t, const std::vector<double>& logits, const std::string& separator);

}  // namespace fovea::train
