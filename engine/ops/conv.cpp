#include "engine/ops/conv.h"

#include <string>
#include <vector>

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/conv.h"
#include "engine/ops/mac_count.h"

namespace fovea {

namespace {

// conv1d and unbatched inputs run as batched conv2d on views with size-1 dims inserted.
struct Lift {
  bool one_d = false;    // conv1d: insert H = 1
  bool batched = true;   // false: insert N = 1
  Tensor input(const Tensor& x) const {
    const Tensor b = batched ? x : x.unsqueeze(0);
    return one_d ? b.unsqueeze(2) : b;
  }
  Tensor weight(const Tensor& w) const { return one_d ? w.unsqueeze(2) : w; }
  Tensor output(const Tensor& y) const {
    const Tensor s = one_d ? y.squeeze(2) : y;
    return batched ? s : s.squeeze(0);
  }
};

class Conv2dBackward final : public Node {
 public:
  Conv2dBackward(const Conv2dOptions& opt, const Lift& lift) : opt_(opt), lift_(lift) {}
  std::string name() const override { return lift_.one_d ? "Conv1dBackward" : "Conv2dBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor x = lift_.input(x_.unpack(*this)), w = lift_.weight(w_.unpack(*this));
    const Tensor dy = lift_.input(grads[0]);  // same inserted dims as the input
    Tensor dx, dw, db;
    if (needs_input_grad(0)) dx = empty(x.shape(), x.dtype(), x.device());
    if (needs_input_grad(1)) dw = empty(w.shape(), w.dtype(), w.device());
    if (needs_input_grad(2)) db = empty({w.shape()[0]}, w.dtype(), w.device());
    conv2d_backward_kernel(x.device(), x, w, dy, dx, dw, db, opt_);
    if (dx.defined()) dx = dx.view(input_meta(0).shape);
    if (dw.defined()) dw = dw.view(input_meta(1).shape);
    return {dx, dw, db};
  }
  void release_saved() override {
    x_.reset();
    w_.reset();
  }
  SavedTensor x_, w_;

 private:
  Conv2dOptions opt_;
  Lift lift_;
};

// "2" for one value, "[2, 3]" for two: the options as the caller wrote them.
std::string spatial_str(const std::array<int64_t, 2>& v, bool one_d) {
  return one_d ? std::to_string(v[1]) : shape_str({v[0], v[1]});
}

// Validates, lifts to 4-D, runs the forward kernel and records the node. For conv1d the
// options come in with the height axis set to the identity (stride 1, padding 0, ...).
Tensor convolution(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& opt,
                   bool one_d) {
  const char* op = one_d ? "conv1d" : "conv2d";
  const int64_t spatial = one_d ? 1 : 2;
  check_defined(x, op);
  check_defined(w, op);
  check_float(x, op);
  check_same_dtype(x, w, op);
  check_same_device(x, w, op);
  FOVEA_CHECK(x.dim() == spatial + 1 || x.dim() == spatial + 2, op, ": input must be ",
              spatial + 2, "-d [N, C_in, ", one_d ? "L" : "H, W", "] or ", spatial + 1,
              "-d (unbatched), got ", x.str());
  FOVEA_CHECK(w.dim() == spatial + 2, op, ": weight must be ", spatial + 2,
              "-d [C_out, C_in/groups, ", one_d ? "k" : "kH, kW", "], got ", w.str());
  const int64_t groups = opt.groups;
  FOVEA_CHECK(groups >= 1, op, ": groups must be positive, got ", groups);
  for (int64_t d = 0; d < 2; ++d) {
    FOVEA_CHECK(opt.stride[d] >= 1, op, ": stride must be positive, got ",
                spatial_str(opt.stride, one_d));
    FOVEA_CHECK(opt.dilation[d] >= 1, op, ": dilation must be positive, got ",
                spatial_str(opt.dilation, one_d));
    FOVEA_CHECK(opt.padding[d] >= 0, op, ": padding must be non-negative, got ",
                spatial_str(opt.padding, one_d));
  }
  const Lift lift{one_d, x.dim() == spatial + 2};
  const int64_t c_in = x.shape()[lift.batched ? 1 : 0], c_out = w.shape()[0];
  FOVEA_CHECK(c_in >= 1 && w.shape()[1] >= 1, op, ": needs at least one input channel, got "
              "input ", x.str(), " and weight ", w.str());
  FOVEA_CHECK(c_in % groups == 0, op, ": input channels ", c_in, " of ", x.str(),
              " are not divisible by groups = ", groups);
  FOVEA_CHECK(c_out % groups == 0, op, ": output channels ", c_out, " of weight ", w.str(),
              " are not divisible by groups = ", groups);
  FOVEA_CHECK(w.shape()[1] * groups == c_in, op, ": weight ", w.str(), " expects ",
              w.shape()[1] * groups, " input channels (", w.shape()[1], " per group x ", groups,
              " groups), but the input ", x.str(), " has ", c_in);
  if (b.defined()) {
    check_same_dtype(x, b, op);
    check_same_device(x, b, op);
    FOVEA_CHECK(b.dim() == 1 && b.shape()[0] == c_out, op, ": bias must be [", c_out,
                "] (one per output channel of weight ", w.str(), "), got ", b.str());
  }
  Tensor y;
  {
    NoGradGuard no_grad;
    const Tensor x4 = lift.input(x), w4 = lift.weight(w);
    Shape out = {x4.shape()[0], c_out, 0, 0};
    for (int64_t d = 0; d < 2; ++d) {
      const int64_t in = x4.shape()[2 + d], k = w4.shape()[2 + d];
      const int64_t span = opt.dilation[d] * (k - 1) + 1;  // the dilated kernel's extent
      out[2 + d] = (in + 2 * opt.padding[d] - span) / opt.stride[d] + 1;
      FOVEA_CHECK(in + 2 * opt.padding[d] >= span, op, ": the kernel of weight ", w.str(),
                  " (extent ", span, " with dilation ", opt.dilation[d], ") is larger than the ",
                  "padded input (", in, " + 2 x ", opt.padding[d], " padding) of ", x.str());
    }
    Tensor y4 = empty(out, x.dtype(), x.device());
    count_macs(y4.numel() * w4.shape()[1] * w4.shape()[2] * w4.shape()[3]);
    conv2d_forward_kernel(x.device(), x4, w4, b, y4, opt);
    y = lift.output(y4);
  }
  if (auto node = make_node<Conv2dBackward>({x, w, b}, opt, lift)) {
    node->x_ = SavedTensor(x);
    node->w_ = SavedTensor(w);
    set_history(y, node);
  }
  return y;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& opt) {
  return convolution(x, weight, bias, opt, false);
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const Conv1dOptions& opt) {
  Conv2dOptions o;
  o.stride = {1, opt.stride};
  o.padding = {0, opt.padding};
  o.dilation = {1, opt.dilation};
  o.groups = opt.groups;
  return convolution(x, weight, bias, o, true);
}

}  // namespace fovea
