#include "engine/ops/softmax.h"

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/softmax.h"
#include "engine/ops/mac_count.h"

namespace fovea {

namespace {

// Both directions of both ops read only y (the output) and g, so one node serves the pair.
class SoftmaxFamilyBackward final : public Node {
 public:
  SoftmaxFamilyBackward(bool log, int64_t dim) : log_(log), dim_(dim) {}
  std::string name() const override { return log_ ? "LogSoftmaxBackward" : "SoftmaxBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor y = y_.unpack(*this);
    Tensor dx = empty(y.shape(), y.dtype(), y.device());
    auto& kernel = log_ ? log_softmax_backward_kernel : softmax_backward_kernel;
    kernel(y.device(), y, grads[0], dx, dim_);
    return {dx};
  }
  void release_saved() override { y_.reset(); }
  SavedTensor y_;

 private:
  bool log_;
  int64_t dim_;
};

Tensor softmax_family(const Tensor& x, int64_t dim_in, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  check_float(x, op);
  if (x.dim() == 0) {
    // PyTorch accepts dim 0 and -1 on a 0-d tensor: a single-element softmax.
    FOVEA_CHECK(dim_in == 0 || dim_in == -1, op, ": dim ", dim_in,
                " is out of range for a 0-d tensor (use 0 or -1)");
    return softmax_family(x.reshape({1}), 0, log).reshape({});
  }
  const int64_t dim = normalize_dim(dim_in, x.shape(), op);
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  count_softmax(x.numel());
  auto& kernel = log ? log_softmax_forward_kernel : softmax_forward_kernel;
  kernel(x.device(), x, y, dim);
  if (auto node = make_node<SoftmaxFamilyBackward>({x}, log, dim)) {
    node->y_ = SavedTensor(y);
    set_history(y, node);
  }
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_family(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_family(x, dim, true); }

}  // namespace fovea
