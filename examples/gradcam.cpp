// gradcam: where a trained network looks when it decides, by Grad-CAM or Grad-CAM++
// (support/gradcam.h), drawn over the images it decided on, and beside it the same for a second
// network (the plain ResNet next to the ResNet with attention, as the CBAM paper shows).
//
//   build/examples/gradcam --checkpoint runs/cbam --compare runs/plain --index 0 1 2 3
//   build/examples/gradcam --checkpoint runs/cbam --image cat.png --class 3 --method gradcam++
//
// The checkpoints are examples/train's (a run folder or a checkpoint file): each network is
// built from its run's configuration. Images are test-set images by index, or image files
// (decoded, resized to the network's input, normalised as it was trained). The layer is the
// network's last stage unless --layer names another (dotted, as in the model summary); the class
// is each network's top class unless --class gives one. Writes into --out: input_<i>.png,
// cam<k>_<i>.png for network k = 1, 2, and index.html with the pictures and each network's
// top-5 classes. Any error is printed with its reason, exit status 1.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <vector>

#include "engine/core/error.h"
#include "support/gradcam.h"
#include "support/heatmap.h"
#include "support/html_page.h"
#include "support/look_options.h"
#include "support/trained.h"

namespace fs = std::filesystem;
using namespace fovea;

namespace {

struct Options {
  viz::LookOptions look;  // --checkpoint, --data, --index, --image, --colormap, --size, --out
  std::string compare, layer, method = "gradcam";
  int64_t class_index = -1;
  double alpha = 0.5;
};

// The last stage of a ResNet ("layer3", "layer4"): Grad-CAM's usual layer.
std::string default_layer(const nn::Module& net) {
  std::string last;
  for (const auto& [name, child] : net.named_children())
    if (name.rfind("layer", 0) == 0) last = name;
  FOVEA_CHECK(!last.empty(), "gradcam: this network has no stage named layer*; give --layer");
  return last;
}

// --compare's network must take the very images the first one takes: one normalised image is
// fed to both.
void check_comparable(const train::Trained& first, const train::Trained& second,
                      const Options& o) {
  FOVEA_CHECK(first.data.test->image_shape() == second.data.test->image_shape() &&
                  first.config.dataset == second.config.dataset,
              "gradcam: --compare ", o.compare, " trained on ", second.config.dataset,
              " images, ", o.look.checkpoint, " on ", first.config.dataset,
              ": the networks must see the same images");
  FOVEA_CHECK(first.data.mean == second.data.mean && first.data.stddev == second.data.stddev,
              "gradcam: --compare ", o.compare, " normalises its images otherwise than ",
              o.look.checkpoint, " (another data folder or subset?)");
}

int run(const Options& o) {
  std::vector<train::Trained> nets;
  nets.push_back(train::load_trained(o.look.checkpoint, o.look.data));
  if (!o.compare.empty()) {
    nets.push_back(train::load_trained(o.compare, o.look.data));
    check_comparable(nets[0], nets[1], o);
  }
  const viz::CamMethod method = viz::parse_cam_method(o.method);
  viz::HeatmapStyle style;
  style.colormap = viz::parse_colormap(o.look.colormap);
  style.alpha = o.alpha;
  style.size = o.look.size;
  fs::create_directories(o.look.out);

  std::vector<viz::PageRow> rows;
  const std::vector<train::ShownImage> images =
      train::shown_images(nets[0], o.look.indices, o.look.images, "gradcam");
  for (size_t i = 0; i < images.size(); ++i) {
    const train::ShownImage& in = images[i];
    plot::Canvas picture;
    viz::PageRow row = train::input_row(nets[0], in, i, o.look.out, o.look.size, picture);
    for (size_t k = 0; k < nets.size(); ++k) {
      train::Trained& t = nets[k];
      const std::string layer = o.layer.empty() ? default_layer(*t.model.net) : o.layer;
      const viz::Cam cam = viz::grad_cam(*t.model.net, in.image, layer, o.class_index, method);
      style.title = t.config.attention + " " + layer;
      // A CAM is >= 0: its colours start at 0, so an all-zero map (a class the network does
      // not see here) shows as nothing rather than as the middle colour of a flat map.
      const bool zero = *std::max_element(cam.map.values.begin(), cam.map.values.end()) == 0;
      style.lo = 0;
      style.hi = zero ? 1 : NAN;
      const std::string file = "cam" + std::to_string(k + 1) + "_" + std::to_string(i) + ".png";
      viz::write_heatmap_png((fs::path(o.look.out) / file).string(), &picture, cam.map, style);
      const std::string explained = train::class_name(t, cam.class_index);
      row.figures.push_back({file, (k ? o.compare : o.look.checkpoint) + "\n" + o.method + " of " +
                                       explained + " at " + layer + (zero ? " (zero map)" : "")});
      row.note += std::string(k ? "\n\n" : "") + t.config.attention + ": " +
                  train::top5(t, cam.scores, "\n");
    }
    rows.push_back(row);
  }
  const std::string page = (fs::path(o.look.out) / "index.html").string();
  viz::write_html_page(page, "Grad-CAM: " + o.look.checkpoint,
                       o.method + "; colour map " + o.look.colormap + "; each map scaled from 0 "
                       "to its own largest value.",
                       rows);
  std::cout << "gradcam: " << images.size() << " images, " << nets.size() << " network"
            << (nets.size() > 1 ? "s" : "") << ": " << page << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Grad-CAM of trained networks over their images, as PNG pictures and a page"};
  o.look.colormap = "jet";  // the Grad-CAM paper's pictures
  o.look.out = "runs/gradcam";
  viz::add_look_options(app, o.look);
  app.add_option("--compare", o.compare, "a second run shown beside the first (the plain one)");
  app.add_option("--layer", o.layer, "the layer explained (default: the last stage, layer3/4)");
  app.add_option("--class", o.class_index, "the class explained (default: the top class)");
  app.add_option("--method", o.method, "gradcam or gradcam++")->capture_default_str();
  app.add_option("--alpha", o.alpha, "the map's weight over the image")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "gradcam: error: " << e.what() << "\n";
    return 1;
  }
}
