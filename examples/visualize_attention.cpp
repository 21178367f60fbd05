// visualize_attention: what the attention modules of a trained network do to an image. Each
// map a module records (layers/attention_slot.h: CBAM's "spatial", SE's "channel", SAGAN's
// "attention", ...) becomes a picture (support/map_pictures.h): spatial maps over the image
// with a colour bar, attention matrices as the row of one query position over the image,
// channel weights as bars, and one HTML page per run with the network's top-5 classes.
//
//   build/examples/visualize_attention --checkpoint runs/cbam --index 0 1 2 3
//   build/examples/visualize_attention --checkpoint runs/sagan --image cat.png --query 16 16
//       --layer layer1.0 layer3.2                                           (one line)
//
// The checkpoint is examples/train's (a run folder or a checkpoint file): the network, its
// attention and options come from the run's configuration. --layer keeps the modules whose
// dotted names start with one of the prefixes given; --query is a position of the network's
// input (row, column; default its centre), scaled to each module's own resolution. Writes
// input_<i>.png, <i>_<module>.<map>.png and index.html into --out. Any error is printed with
// its reason, exit status 1.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <vector>

#include "engine/core/error.h"
#include "layers/attention_slot.h"
#include "support/gradcam.h"
#include "support/html_page.h"
#include "support/look_options.h"
#include "support/map_pictures.h"
#include "support/trained.h"

namespace fs = std::filesystem;
using namespace fovea;

namespace {

struct Options {
  viz::LookOptions look;  // --checkpoint, --data, --index, --image, --colormap, --size, --out
  std::vector<int64_t> query;
  std::vector<std::string> layers;
};

// The attention modules of `net` that --layer keeps, by dotted name.
std::vector<std::string> attention_modules(nn::Module& net, const std::vector<std::string>& keep) {
  std::vector<std::string> all, kept;
  for (const auto& [path, m] : net.named_modules())
    if (dynamic_cast<const nn::AttentionModule*>(m)) all.push_back(path);
  for (const std::string& path : all)
    if (keep.empty() || std::any_of(keep.begin(), keep.end(), [&](const std::string& prefix) {
          return path == prefix || path.rfind(prefix + ".", 0) == 0;
        }))
      kept.push_back(path);
  if (kept.empty()) {
    std::ostringstream names;
    for (const auto& p : all) names << (p == all.front() ? "" : ", ") << p;
    FOVEA_FAIL("visualize_attention: no attention module under --layer; the network's: ",
               names.str());
  }
  return kept;
}

// A file name from a map's dotted name.
std::string file_part(std::string name) {
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_') c = '_';
  return name;
}

int run(const Options& o) {
  train::Trained t = train::load_trained(o.look.checkpoint, o.look.data);
  FOVEA_CHECK(t.config.attention != "none", "visualize_attention: ", t.checkpoint,
              " is a network without attention (trained with --attention none); "
              "examples/gradcam shows where it looks");
  nn::Module& net = *t.model.net;
  const std::vector<std::string> modules = attention_modules(net, o.layers);
  // Each module's input size, seen by a hook: the maps are read against it.
  std::map<std::string, std::pair<int64_t, int64_t>> seen;
  for (const std::string& path : modules)
    viz::find_layer(net, path).add_forward_hook(
        [&seen, path](nn::Module&, const Tensor& in, const Tensor&) {
          if (in.dim() == 4) seen[path] = {in.size(2), in.size(3)};
        });
  nn::set_map_recording(net, true);
  viz::HeatmapStyle style;
  style.colormap = viz::parse_colormap(o.look.colormap);
  style.size = o.look.size;
  fs::create_directories(o.look.out);
  const auto [channels, in_h, in_w] = t.data.test->image_shape();
  FOVEA_CHECK(o.query.empty() || (o.query[0] >= 0 && o.query[0] < in_h && o.query[1] >= 0 &&
                                  o.query[1] < in_w),
              "visualize_attention: --query (", o.query.empty() ? 0 : o.query[0], ", ",
              o.query.empty() ? 0 : o.query[1], ") is outside the ", in_h, "x", in_w, " input");

  std::vector<viz::PageRow> rows;
  const std::vector<train::ShownImage> images =
      train::shown_images(t, o.look.indices, o.look.images, "visualize_attention");
  for (size_t i = 0; i < images.size(); ++i) {
    const train::ShownImage& in = images[i];
    Tensor logits;
    {
      NoGradGuard no_grad;
      logits = net(in.image.unsqueeze(0));
    }
    plot::Canvas picture;
    viz::PageRow row = train::input_row(t, in, i, o.look.out, o.look.size, picture);
    row.note = t.config.attention + ": top 5: " + train::top5(t, logits.to_vector<double>(), ", ");
    for (const auto& [name, value] : nn::attention_maps(net)) {
      const std::string module = name.substr(0, name.rfind('.'));
      const auto size = seen.find(module);
      if (size == seen.end()) continue;  // not kept by --layer
      const auto [h, w] = size->second;
      const int64_t qy = o.query.empty() ? -1 : o.query[0] * h / in_h;
      const int64_t qx = o.query.empty() ? -1 : o.query[1] * w / in_w;
      const viz::MapPicture p = viz::picture_of_map(value, h, w, qy, qx);
      if (p.kind == viz::MapKind::value) {
        row.note += "\n" + name + ": " + p.how;
        continue;
      }
      const std::string file = std::to_string(i) + "_" + file_part(name) + ".png";
      viz::write_map_png((fs::path(o.look.out) / file).string(), p, &picture, name, style);
      row.figures.push_back({file, name + (p.how.empty() ? "" : "\n" + p.how)});
    }
    rows.push_back(row);
  }
  const std::string page = (fs::path(o.look.out) / "index.html").string();
  viz::write_html_page(page, "Attention maps: " + t.config.attention + " (" + t.checkpoint + ")",
                       "Each spatial map is drawn over the image and scaled to its own smallest "
                       "and largest value (the colour bar); channel weights are bars.",
                       rows);
  std::cout << "visualize_attention: " << images.size() << " images, " << modules.size()
            << " attention modules: " << page << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Pictures of the attention maps of a trained network, and an HTML page"};
  o.look.out = "runs/attention";
  viz::add_look_options(app, o.look);
  app.add_option("--layer", o.layers, "keep the modules under these dotted names (layer1.0)");
  app.add_option("--query", o.query, "row and column of the input whose attention is drawn")
      ->expected(2);
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "visualize_attention: error: " << e.what() << "\n";
    return 1;
  }
}
