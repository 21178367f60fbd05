// attention_probe: looks inside one attention module, and is how fovea is compared with PyTorch.
//
//   build/examples/attention_probe --list
//   build/examples/attention_probe --module cbam --options reduction_ratio=8 --mode train
//       --in IN.safetensors --out OUT.safetensors [--dtype float64|float32]   (one line)
//   build/examples/attention_probe --module sk --stride 2 --out-channels 32 ...   (SK replaces a
//       strided conv: its stride and output channels)
//   build/examples/attention_probe --module cbam ... --graph cbam.dot   (and cbam.svg, cbam.png
//       when Graphviz is installed)
//
// IN holds "input" [N, C, H, W], "grad_output" and any parameters or buffers under their
// state_dict names (the others keep the module's own init); OUT gets "output", "grad.input",
// "grad.<param>", "after.<buffer>" and "map.<name>" (attention/probe.h). On any error it
// prints the reason, exits with status 1 and writes no output file.
#include <CLI/CLI.hpp>
#include <iostream>

#include "engine/core/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "attention/probe.h"

int main(int argc, char** argv) {
  fovea::probe::Request r;
  std::string mode = "train", dtype = "float64", in_path, out_path, graph_path;
  bool list = false;
  CLI::App app{"Run one attention module forward and backward on tensors from a file"};
  app.add_flag("--list", list, "every module with its position, options and defaults");
  app.add_option("--module", r.module, "attention module name (see --list)");
  app.add_option("--options", r.options, "k=v,... (see --list); empty: the defaults");
  app.add_option("--mode", mode, "train or eval")->check(CLI::IsMember({"train", "eval"}))
      ->capture_default_str();
  app.add_option("--dtype", dtype, "float64 or float32")
      ->check(CLI::IsMember({"float64", "float32"}))->capture_default_str();
  app.add_option("--stride", r.stride,
                 "modules that replace the 3x3 conv (see --list): that conv's stride")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--out-channels", r.out_channels,
                 "modules that replace the 3x3 conv: its output channels (default: the input's)")
      ->check(CLI::PositiveNumber);
  app.add_option("--in", in_path, "safetensors file with input, grad_output and parameters");
  app.add_option("--out", out_path, "safetensors file to write");
  app.add_option("--graph", graph_path,
                 "also write the autograd graph as Graphviz DOT there (and SVG and PNG beside it "
                 "when Graphviz's dot is installed)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (list) {
      std::cout << fovea::probe::list_modules();
      return 0;
    }
    FOVEA_CHECK(!r.module.empty() && !in_path.empty() && !out_path.empty(),
                "attention_probe: --module, --in and --out are required (or --list)");
    r.train = mode == "train";
    r.dtype = dtype == "float32" ? fovea::DType::Float32 : fovea::DType::Float64;
    std::string graph;
    fovea::probe::Costs costs;
    const fovea::io::NamedTensors out = fovea::probe::run(
        r, fovea::io::load_safetensors(in_path), graph_path.empty() ? nullptr : &graph, &costs);
    fovea::io::save_safetensors(out_path, out, fovea::probe::metadata_of(r));
    std::cout << "attention_probe: " << r.module << " (" << mode << ", " << dtype << "): wrote "
              << out.size() << " tensors to " << out_path << "\n"
              << "attention_probe: " << fovea::probe::costs_line(costs) << "\n";
    if (!graph_path.empty()) {
      fovea::io::write_file_atomically(graph_path, {graph}, "attention_probe");
      std::cout << "attention_probe: wrote the autograd graph to " << graph_path << "; "
                << fovea::probe::render_graph(graph_path) << "\n";
    }
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
