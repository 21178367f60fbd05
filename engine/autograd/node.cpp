#include "engine/autograd/node.h"

#include <atomic>

#include "engine/ops/binary.h"

namespace fovea {

namespace {
thread_local bool grad_mode_enabled = true;
std::atomic<uint64_t> next_sequence_nr{0};
// Nodes waiting to be destroyed by the outermost ~Node on this thread (see ~Node).
thread_local std::vector<std::shared_ptr<Node>>* pending_deletes = nullptr;
}  // namespace

bool GradMode::is_enabled() { return grad_mode_enabled; }
void GradMode::set_enabled(bool on) { grad_mode_enabled = on; }

Node::Node() : sequence_nr_(next_sequence_nr++) {}

// Destroying the last reference to a long chain of nodes would recurse once per node and
// overflow the stack (a 100 000-op chain is easy to build). Instead every destructor hands its
// edges to the outermost one, which drops them in a loop: a child dies there when that was its
// last reference (also when one node reaches it twice, as y * y does), never inside its parent.
Node::~Node() {
  std::vector<std::shared_ptr<Node>> local;
  const bool outermost = pending_deletes == nullptr;
  if (outermost) pending_deletes = &local;
  for (Edge& e : next_edges_)
    if (e.node) pending_deletes->push_back(std::move(e.node));
  if (outermost) {
    while (!local.empty()) {
      std::shared_ptr<Node> n = std::move(local.back());
      local.pop_back();
      n.reset();
    }
    pending_deletes = nullptr;
  }
}

void Node::set_next_edges(const std::vector<Tensor>& inputs) {
  next_edges_.clear();
  input_meta_.clear();
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) {
      next_edges_.push_back(gradient_edge(t));
      input_meta_.push_back(TensorMeta::of(t));
    } else {
      next_edges_.push_back(Edge{});
      input_meta_.push_back(t.defined() ? TensorMeta::of(t) : TensorMeta{});
    }
  }
}

uint32_t Node::add_output(const Tensor& t) {
  output_meta_.push_back(TensorMeta::of(t));
  output_hooks_.emplace_back();
  retained_outputs_.emplace_back();
  return static_cast<uint32_t>(output_meta_.size() - 1);
}

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {
  set_next_edges({});
  add_output(Tensor(leaf_));
}

void check_hook_result(const Tensor& replaced, const TensorMeta& expected,
                       const std::string& where) {
  FOVEA_CHECK(replaced.shape() == expected.shape && replaced.dtype() == expected.dtype &&
                  replaced.device() == expected.device,
              "backward: a hook on ", where, " returned ", replaced.str(), " on ",
              replaced.device().str(), " for a gradient of ", dtype_name(expected.dtype),
              shape_str(expected.shape), " on ", expected.device.str());
}

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>&& grads) {
  Tensor g = grads[0];
  for (const GradHook& hook : leaf_->hooks) {
    Tensor replaced = hook(g);
    if (!replaced.defined()) continue;
    check_hook_result(replaced, output_meta(0), "a leaf");
    g = replaced;
  }
  NoGradGuard no_grad;
  if (!leaf_->grad) {
    // Take ownership of a fresh gradient (held only by the engine's list and `g`); copy one
    // that someone else, a hook for instance, can still see.
    const bool exclusive = g.impl_ptr().use_count() <= 2 && g.storage().use_count() == 1 &&
                           g.is_contiguous() &&
                           g.offset() == 0 &&
                           g.storage()->nbytes() == size_t(g.numel()) * dtype_size(g.dtype());
    leaf_->grad = (exclusive ? g.detach() : g.clone()).impl_ptr();
  } else {
    Tensor(leaf_->grad).add_(g);
  }
  return {};
}

SavedTensor::SavedTensor(const Tensor& t) {
  if (!t.defined()) return;
  tensor_ = t.detach();
  version_ = t.storage()->version();
  saved_ = true;
}

Tensor SavedTensor::unpack(const Node& owner) const {
  if (!saved_) return Tensor();
  FOVEA_CHECK(tensor_.defined(), "autograd: ", owner.name(),
              " needs a saved tensor that was already freed by an earlier backward; pass "
              "retain_graph=true to the first backward to run it twice");
  const uint64_t now = tensor_.storage()->version();
  FOVEA_CHECK(now == version_, "autograd: a tensor ", tensor_.str(), " saved by ", owner.name(),
              " was modified in place after it was saved (version ", version_, " then, ", now,
              " now), so its gradient would be wrong; clone it before the in-place change or "
              "make the change after backward");
  return tensor_;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor& set_history(Tensor& out, const std::shared_ptr<Node>& node) {
  TensorImpl& impl = out.impl();
  impl.grad_fn = node;
  impl.output_nr = node->add_output(out);
  impl.requires_grad = true;
  return out;
}

Edge gradient_edge(const Tensor& t) {
  TensorImpl& impl = t.impl();
  if (impl.grad_fn) return Edge{impl.grad_fn, impl.output_nr};
  std::shared_ptr<Node> acc = impl.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    impl.grad_accumulator = acc;
  }
  return Edge{acc, 0};
}

}  // namespace fovea
