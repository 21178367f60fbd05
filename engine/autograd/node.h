// The autograd tape: a Node is one recorded op, an Edge points from a node to the node that
// produced one of its inputs.
//
//   y = mul(a, b)  records  MulBackward{ next_edges = [edge(a), edge(b)], saved a, b }
//   y.backward()   calls    MulBackward::apply({dy}) -> {dy*b, dy*a} and sends each result
//                           along its edge (a leaf's edge ends in its AccumulateGrad node).
//
// Writing an op (see ops/binary.cpp for a complete one):
//   Tensor out = <compute with kernels, no recording>;
//   if (auto node = make_node<MulBackward>({a, b})) {   // null when no gradient is needed
//     node->a = SavedTensor(a);  node->b = SavedTensor(b);
//     set_history(out, node);
//   }
// A Node's apply() receives one gradient per output (the engine fills outputs that received
// nothing with zeros) and returns one gradient per input; an undefined Tensor means "no
// gradient" and is allowed only for inputs where needs_input_grad(i) is false. The engine
// enforces this: a wrong count, a missing gradient, or one whose shape, dtype or device is not
// its input's is an error naming the node.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/core/tensor.h"

namespace fovea {

struct Edge {
  std::shared_ptr<Node> node;  // null: this input needs no gradient
  uint32_t input_nr = 0;       // which output of `node` the input was
};

struct TensorMeta {
  Shape shape;
  DType dtype = DType::Float32;
  Device device;
  static TensorMeta of(const Tensor& t) { return {t.shape(), t.dtype(), t.device()}; }
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  Node();
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  virtual std::string name() const = 0;
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grad_outputs) = 0;
  // Drops saved tensors; called after backward unless retain_graph.
  virtual void release_saved() {}

  const std::vector<Edge>& next_edges() const { return next_edges_; }
  size_t num_inputs() const { return next_edges_.size(); }
  bool needs_input_grad(size_t i) const { return next_edges_[i].node != nullptr; }
  const TensorMeta& input_meta(size_t i) const { return input_meta_[i]; }
  size_t num_outputs() const { return output_meta_.size(); }
  const TensorMeta& output_meta(size_t i) const { return output_meta_[i]; }
  uint64_t sequence_nr() const { return sequence_nr_; }
  bool released() const { return released_; }

  // Engine and recording internals.
  void set_next_edges(const std::vector<Tensor>& inputs);
  uint32_t add_output(const Tensor& t);
  void mark_released() { released_ = true; }
  std::vector<std::vector<GradHook>>& output_hooks() { return output_hooks_; }
  std::vector<std::weak_ptr<TensorImpl>>& retained_outputs() { return retained_outputs_; }

 private:
  std::vector<Edge> next_edges_;
  std::vector<TensorMeta> input_meta_;
  std::vector<TensorMeta> output_meta_;
  std::vector<std::vector<GradHook>> output_hooks_;         // by output_nr
  std::vector<std::weak_ptr<TensorImpl>> retained_outputs_;  // by output_nr (retain_grad)
  uint64_t sequence_nr_;
  bool released_ = false;
};

// The sink of a leaf's gradient: runs the leaf's hooks, then adds into leaf.grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  std::string name() const override { return "AccumulateGrad"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
  const std::shared_ptr<TensorImpl>& leaf() const { return leaf_; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

// A tensor kept for backward, with the storage version it had when saved. Unpacking after the
// memory was modified in place is an error naming the node, instead of a silent wrong gradient.
// A SavedTensor that was never given a tensor unpacks to an undefined Tensor; one that was
// freed by reset() (after a backward without retain_graph) refuses to unpack.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  Tensor unpack(const Node& owner) const;
  void reset() { tensor_ = Tensor(); }

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
  bool saved_ = false;
};

// True when grad mode is on and some input requires a gradient.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Creates node N wired to `inputs` when a gradient is needed, else returns null.
template <typename N, typename... Args>
std::shared_ptr<N> make_node(const std::vector<Tensor>& inputs, Args&&... args) {
  if (!any_requires_grad(inputs)) return nullptr;
  auto node = std::make_shared<N>(std::forward<Args>(args)...);
  node->set_next_edges(inputs);
  return node;
}

// Makes `out` the next output of `node` (out.requires_grad becomes true). Returns `out`.
Tensor& set_history(Tensor& out, const std::shared_ptr<Node>& node);

// The node a gradient for `t` must be sent to: its grad_fn, or its leaf accumulator.
Edge gradient_edge(const Tensor& t);

// Throws unless a gradient a hook returned matches the tensor it is for.
void check_hook_result(const Tensor& replaced, const TensorMeta& expected, const std::string& where);

// Runs backward from `roots` with the given upstream gradients (the Tensor::backward engine).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                  bool retain_graph);

}  // namespace fovea
