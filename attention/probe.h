// examples/attention_probe's work, callable from tests: build one attention module from its name
// and options, load the parameters and buffers a file gives (the rest keep the module's own init),
// run one forward and one backward with the file's input and upstream gradient, and return what
// a student (or a comparison with PyTorch) wants to see.
//
//   in:  input [N, C, H, W] (or tokens [N, L, D] for the token forms: channels D, height L,
//        width 1), grad_output (the output's shape), and any parameter or buffer under its
//        state_dict name; a module that fuses two inputs (AFF, iAFF: nn::FusionModule) also
//        takes input2 (the identity path), one conditioned on a context vector (SCA-CNN:
//        nn::ContextModule) takes context [N, context_dim] where it needs one (SCA-CNN's
//        query=given; with query=learned or pooled it makes its own from the input)
//   out: output, grad.input (grad.input2, grad.context), grad.<param> for every parameter (zeros
//        where the forward did not use it), after.<buffer> for every buffer after the forward,
//        map.<name> for every map the module records
// A key that is none of these, a missing input or gradient, or a shape that does not fit is an
// error naming the key and the shapes.
#pragma once

#include <map>
#include <string>

#include "engine/io/safetensors.h"
#include "engine/ops/mac_count.h"

namespace fovea::probe {

struct Request {
  std::string module;   // a registered attention name
  std::string options;  // "k=v,..."; empty: the defaults
  bool train = true;
  DType dtype = DType::Float64;
  // The block's conv the module replaces (ReplaceSecondConv: SK): its stride and output channels
  // (0: the input's). Other modules see the stride-1, same-channel context of their
  // position, and asking them for another is an error.
  int64_t stride = 1;
  int64_t out_channels = 0;
};

// What one forward and backward of the module cost: the forward's ops, counted as
// engine/ops/mac_count.h counts them, and the most bytes of CPU tensors alive at once during
// the forward and the backward beyond those alive before them (the parameters and the inputs
// are not in it; the activations the forward saves, its output and every gradient are).
struct Costs {
  OpCounts forward;
  size_t peak_bytes = 0;
};

// With `graph`, also the autograd graph of the forward as Graphviz DOT (engine/autograd/dot.h):
// one box per backward op with its output shapes, the input, the second input and every
// parameter as named leaves, edges in the direction backward runs. With `costs`, the costs.
io::NamedTensors run(const Request& request, const io::SafetensorsFile& in,
                     std::string* graph = nullptr, Costs* costs = nullptr);

// "forward: 1,234 MACs, 16 softmax elements, 96 elements read by poolings and reductions;
// forward + backward: 12.5 KiB of tensors at the peak", for the program's output.
std::string costs_line(const Costs& costs);

// Renders the DOT file at `dot_path` to SVG and PNG beside it (X.dot -> X.svg, X.png) with
// Graphviz's `dot` when it is on PATH; returns what it did in one line for the user, which says
// how to get Graphviz (Debian: graphviz) when it is not there. A `dot` that fails is an error
// naming the command and its exit status.
std::string render_graph(const std::string& dot_path);

// The file metadata naming a request, as attention_probe writes it and the fixtures carry it:
// module, options, mode, and stride / out_channels when they are not the defaults (dtype is
// not kept). request_of reads it back; a missing key is an error naming it.
std::map<std::string, std::string> metadata_of(const Request& request);
Request request_of(const std::map<std::string, std::string>& metadata);

// Every module with its position, options and defaults, for --list.
std::string list_modules();

}  // namespace fovea::probe
