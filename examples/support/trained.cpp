#include "support/trained.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/core/error.h"
#include "layers/checkpoint.h"
#include "support/heatmap.h"
#include "support/images.h"

namespace fovea::train {

Trained load_trained(const std::string& path, const std::string& data) {
  std::ostringstream skipped;  // a folder's damaged checkpoints passed over
  Trained t;
  t.checkpoint = nn::resolve_checkpoint(path, skipped);
  const nn::TrainingState state = nn::read_checkpoint_state(t.checkpoint);
  FOVEA_CHECK(state.extra.contains("config"), t.checkpoint,
              ": the checkpoint holds no run configuration (\"extra.config\"); was it written "
              "by examples/train?");
  try {
    t.config = config_from_json(state.extra.at("config").dump());
  } catch (const Error& e) {
    FOVEA_FAIL(t.checkpoint, ": ", e.what());
  }
  if (!skipped.str().empty()) std::cerr << skipped.str();  // an older checkpoint is being used
  if (!data.empty()) t.config.data = data;
  t.config.device = "cpu";
  t.data = load_datasets(t.config);
  t.model = make_model(t.config, *t.data.train);
  nn::load_checkpoint(t.checkpoint, t.model.description, *t.model.net, nullptr);
  t.model.net->eval();
  t.epoch = state.epoch;
  return t;
}

std::vector<ShownImage> shown_images(const Trained& t, const std::vector<int64_t>& indices,
                                     const std::vector<std::string>& files,
                                     const std::string& who) {
  std::vector<ShownImage> shown;
  for (int64_t i : indices) {
    FOVEA_CHECK(i >= 0 && i < t.data.test->size(), who, ": --index ", i,
                " is outside the test set (", t.data.test->size(), " images)");
    const data::Example e = t.data.test->get(i);
    shown.push_back({"test image " + std::to_string(i), e.image, e.label});
  }
  const auto [c, h, w] = t.data.test->image_shape();
  for (const std::string& path : files)
    shown.push_back({path, viz::load_input_image(path, c, h, w, t.data.mean, t.data.stddev), -1});
  FOVEA_CHECK(!shown.empty(), who, ": no images: give --index N or --image FILE");
  return shown;
}

viz::PageRow input_row(const Trained& t, const ShownImage& image, size_t i,
                       const std::string& folder, int size, plot::Canvas& picture) {
  viz::PageRow row;
  row.heading = heading(t, image);
  picture = viz::to_picture(image.image, t.data.mean, t.data.stddev);
  const std::string file = "input_" + std::to_string(i) + ".png";
  viz::write_picture_png((std::filesystem::path(folder) / file).string(), picture, size);
  row.figures.push_back({file, image.name});
  return row;
}

std::string class_name(const Trained& t, int64_t k) {
  const auto& names = t.data.test->class_names();
  return k >= 0 && size_t(k) < names.size() ? names[size_t(k)] : "class " + std::to_string(k);
}

std::string heading(const Trained& t, const ShownImage& image) {
  return image.label < 0 ? image.name : image.name + " (" + class_name(t, image.label) + ")";
}

std::string top5(const Trained& t, const std::vector<double>& logits,
                 const std::string& separator) {
  FOVEA_CHECK(!logits.empty(), "top5: no scores");
  const double top = *std::max_element(logits.begin(), logits.end());
  double total = 0;  // softmax with the largest logit subtracted, so exp never overflows
  for (double s : logits) total += std::exp(s - top);
  std::vector<size_t> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return logits[a] > logits[b]; });
  std::ostringstream os;
  for (size_t i = 0; i < std::min<size_t>(5, order.size()); ++i) {
    char p[32];
    std::snprintf(p, sizeof p, "%.1f%%", 100 * std::exp(logits[order[i]] - top) / total);
    os << (i ? separator : "") << class_name(t, int64_t(order[i])) << " " << p;
  }
  return os.str();
}

}  // namespace fovea::train
