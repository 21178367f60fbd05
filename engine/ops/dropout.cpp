#include "engine/ops/dropout.h"

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/dropout.h"
#include "engine/ops/binary.h"

namespace fovea {

namespace {

class DropoutBackward final : public Node {
 public:
  std::string name() const override { return "DropoutBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    return {mul(grads[0], mask_.unpack(*this))};
  }
  void release_saved() override { mask_.reset(); }
  SavedTensor mask_;
};

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  check_float(x, "dropout");
  FOVEA_CHECK(p >= 0 && p <= 1, "dropout: probability p must lie in [0, 1], got ", p, " (input ",
              x.str(), ")");
  if (!training || p == 0) return x;
  Tensor mask = empty(x.shape(), x.dtype(), x.device());
  dropout_mask_kernel(x.device(), mask, p, gen ? *gen : default_generator());
  Tensor y;
  {
    NoGradGuard no_grad;  // recorded below as one DropoutBackward, not as a mul
    y = mul(x, mask);
  }
  if (auto node = make_node<DropoutBackward>({x})) {
    node->mask_ = SavedTensor(mask);
    set_history(y, node);
  }
  return y;
}

}  // namespace fovea
