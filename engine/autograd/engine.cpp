// The backward engine: an iterative walk of the tape in reverse topological order.
//
// 1. Discover every node reachable from the roots (explicit stack, never recursion, so a
//    100 000-op chain is as safe as a 3-op one) and count, per node, how many edges point at it.
// 2. Seed the roots' gradient buffers; a node is ready when all its dependants have run.
// 3. Run ready nodes, newest first (like PyTorch, this frees activations early): apply the
//    output hooks, fill outputs that received nothing with zeros, call apply(), hold the
//    node to its contract (check_returned_grads) and add each gradient into its producer's
//    buffer.
// 4. Unless retain_graph, free each node's saved tensors once it has run.
#include <queue>
#include <unordered_map>

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/ops/binary.h"
#include "engine/ops/mac_count.h"

namespace fovea {

namespace {

struct NodeState {
  int dependencies = 0;
  std::vector<Tensor> buffer;  // one slot per output of the node
};

struct NewestFirst {
  bool operator()(const Node* a, const Node* b) const {
    return a->sequence_nr() < b->sequence_nr();
  }
};

void add_into(std::vector<Tensor>& buffer, uint32_t slot, const Tensor& g) {
  if (!buffer[slot].defined())
    buffer[slot] = g;
  else
    buffer[slot] = add(buffer[slot], g);
}

std::unordered_map<Node*, NodeState> discover(const std::vector<Node*>& roots) {
  std::unordered_map<Node*, NodeState> states;
  std::vector<Node*> stack;
  for (Node* r : roots)
    if (states.emplace(r, NodeState{}).second) stack.push_back(r);
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    FOVEA_CHECK(!n->released(), "backward: trying to backward through the graph a second time: ",
                n->name(), " already ran and its saved tensors were freed; pass "
                "retain_graph=true to the first backward if you need to run it again");
    states[n].buffer.resize(n->num_outputs());
    for (const Edge& e : n->next_edges()) {
      if (!e.node) continue;
      auto [it, inserted] = states.emplace(e.node.get(), NodeState{});
      it->second.dependencies++;
      if (inserted) stack.push_back(e.node.get());
    }
  }
  return states;
}

// Hooks registered on a non-leaf tensor, and retain_grad, act on the gradient of that output.
void run_output_hooks(Node& node, std::vector<Tensor>& grads) {
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) continue;
    for (const GradHook& hook : node.output_hooks()[i]) {
      Tensor replaced = hook(grads[i]);
      if (!replaced.defined()) continue;
      check_hook_result(replaced, node.output_meta(i), "an output of " + node.name());
      grads[i] = replaced;
    }
    if (auto impl = node.retained_outputs()[i].lock()) {
      if (!impl->grad)
        impl->grad = grads[i].clone().impl_ptr();
      else
        Tensor(impl->grad).add_(grads[i]);
    }
  }
}

// The contract of Node::apply: one gradient per input; a defined one, of the input's shape,
// dtype and device, for every input that needs a gradient (an undefined one is allowed only
// where none is needed). A backward that breaks it is a bug in that node; skipping or zero-filling
// would turn the bug into silently wrong gradients, so each breach is an error naming the node.
void check_returned_grads(const Node& node, const std::vector<Tensor>& grads) {
  FOVEA_CHECK(grads.size() == node.num_inputs(), "backward: ", node.name(), " returned ",
              grads.size(), " gradients for its ", node.num_inputs(), " inputs");
  for (size_t i = 0; i < grads.size(); ++i) {
    const Tensor& g = grads[i];
    if (!g.defined()) {
      FOVEA_CHECK(!node.needs_input_grad(i), "backward: ", node.name(),
                  " returned no gradient for its input ", i, ", which requires one");
      continue;
    }
    const TensorMeta& m = node.input_meta(i);
    FOVEA_CHECK(g.shape() == m.shape, "backward: ", node.name(), " returned a gradient of shape ",
                shape_str(g.shape()), " for its input ", i, " of shape ", shape_str(m.shape));
    FOVEA_CHECK(g.dtype() == m.dtype, "backward: ", node.name(), " returned a ",
                dtype_name(g.dtype()), " gradient for its ", dtype_name(m.dtype), " input ", i);
    FOVEA_CHECK(g.device() == m.device, "backward: ", node.name(), " returned a gradient on ",
                g.device().str(), " for its input ", i, " on ", m.device.str());
  }
}

}  // namespace

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                  bool retain_graph) {
  NoGradGuard no_grad;  // backward itself is not recorded (no double backward)
  OpCountPause no_counting;  // nor counted: engine/ops/mac_count.h counts forwards
  std::vector<Edge> root_edges;
  std::vector<Node*> root_nodes;
  for (const Tensor& r : roots) {
    root_edges.push_back(gradient_edge(r));
    root_nodes.push_back(root_edges.back().node.get());
  }
  std::unordered_map<Node*, NodeState> states = discover(root_nodes);
  // Keep every node alive while it may still run, even if a hook drops the last tensor.
  std::vector<std::shared_ptr<Node>> keep_alive;
  keep_alive.reserve(states.size());
  for (auto& [n, s] : states) keep_alive.push_back(n->shared_from_this());

  for (size_t i = 0; i < roots.size(); ++i)
    add_into(states[root_nodes[i]].buffer, root_edges[i].input_nr, grads[i]);

  std::priority_queue<Node*, std::vector<Node*>, NewestFirst> ready;
  for (Node* r : root_nodes)
    if (states[r].dependencies == 0) {
      ready.push(r);
      states[r].dependencies = -1;  // queued; a second root edge to it must not queue it again
    }

  while (!ready.empty()) {
    Node* node = ready.top();
    ready.pop();
    std::vector<Tensor> grads_in = std::move(states[node].buffer);
    run_output_hooks(*node, grads_in);

    bool any = false;
    for (const Tensor& g : grads_in) any = any || g.defined();
    std::vector<Tensor> grads_out;
    if (any) {
      for (size_t i = 0; i < grads_in.size(); ++i)
        if (!grads_in[i].defined()) {
          const TensorMeta& m = node->output_meta(i);
          grads_in[i] = zeros(m.shape, m.dtype, m.device);
        }
      grads_out = node->apply(std::move(grads_in));
      check_returned_grads(*node, grads_out);
      if (!retain_graph && dynamic_cast<AccumulateGrad*>(node) == nullptr) {
        node->release_saved();
        node->mark_released();
      }
    }

    const auto& edges = node->next_edges();
    for (size_t i = 0; i < edges.size(); ++i) {
      const Edge& e = edges[i];
      if (!e.node) continue;
      NodeState& child = states[e.node.get()];
      // grads_out is empty when no gradient reached the node; else checked to be one per edge
      if (!grads_out.empty() && grads_out[i].defined())
        add_into(child.buffer, e.input_nr, grads_out[i]);
      if (--child.dependencies == 0) ready.push(e.node.get());
    }
  }
}

}  // namespace fovea
