#include "engine/autograd/dot.h"

#include <sstream>
#include <unordered_map>

#include "engine/autograd/node.h"

namespace fovea {

namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string label_of(const Node& n) {
  if (const auto* acc = dynamic_cast<const AccumulateGrad*>(&n)) {
    const TensorImpl& leaf = *acc->leaf();
 const std::string name = leaf.name.empty() ? "leaf" : escape(leaf.name);
    return name + "\\n" + dtype_name(leaf.dtype) + shape_str(leaf.shape);
  }
  std::string label = escape(n.name());
  for (size_t i = 0; i < n.num_outputs(); ++i) label += "\\n" + shape_str(n.output_meta(i).shape);
  return label;
}

}  // namespace

std::string graph_to_dot(const Tensor& root) {
  check_defined(root, "graph_to_dot");
  std::ostringstream os;
  os << "digraph autograd {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=10];\n";
  os << "  output [label=\"" << escape(root.name().empty() ? "output" : root.name()) << "\\n"
     << root.str() << "\", shape=note];\n";
  if (!root.requires_grad()) return os.str() + "}\n";

  std::unordered_map<const Node*, int> ids;
  std::vector<const Node*> stack;
  auto id_of = [&](const Node* n) {
    auto [it, inserted] = ids.emplace(n, int(ids.size()));
    if (inserted) {
      stack.push_back(n);
      const bool leaf = dynamic_cast<const AccumulateGrad*>(n) != nullptr;
      os << "  n" << it->second << " [label=\"" << label_of(*n) << "\", shape="
         << (leaf ? "ellipse, style=filled, fillcolor=lightblue" : "box") << "];\n";
    }
    return it->second;
  };
  // id_of writes a node's line the first time it sees the node: call it before writing the
  // edge that names it, or the node's line lands inside the edge's.
  const Edge start = gradient_edge(root);
  const int first = id_of(start.node.get());
  os << "  output -> n" << first << ";\n";
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    const int from = ids[n];
    for (const Edge& e : n->next_edges())
      if (e.node) {
        const int to = id_of(e.node.get());
        os << "  n" << from << " -> n" << to << ";\n";
      }
  }
  os << "}\n";
  return os.str();
}

}  // namespace fovea
