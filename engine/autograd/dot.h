// Graphviz export of an autograd graph, for teaching: `dot -Tpng graph.dot -o graph.png`.
// Backward nodes are boxes; leaves (their AccumulateGrad sinks) are ellipses labelled with the
// tensor's name (Tensor::set_name) and shape; edges point from a node to the node that
// receives its input gradient, i.e. in the direction backward runs.
#pragma once

#include <string>

#include "engine/core/tensor.h"

namespace fovea {

std::string graph_to_dot(const Tensor& root);

}  // namespace fovea
