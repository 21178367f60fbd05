#include "engine/ops/index.h"

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/fill.h"
#include "engine/cpu/index.h"

namespace fovea {

namespace {

enum class IndexKind { Select, Gather, Add, Scatter };

// One node for the four ops: the gathers' backward is the matching scatter into zeros, the
// scatters pass dy to self and gather it for src.
class IndexBackward final : public Node {
 public:
  IndexBackward(IndexKind kind, int64_t dim, const Tensor& index)
      : kind_(kind), dim_(dim), index_(index) {}
  std::string name() const override {
    switch (kind_) {
      case IndexKind::Select: return "IndexSelectBackward";
      case IndexKind::Gather: return "GatherBackward";
      case IndexKind::Add: return "IndexAddBackward";
      case IndexKind::Scatter: return "ScatterAddBackward";
    }
    return "IndexBackward";
  }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const Tensor index = index_.unpack(*this);
    const Tensor& dy = g[0];
    if (kind_ == IndexKind::Select || kind_ == IndexKind::Gather) {
      const TensorMeta& m = input_meta(0);
      const Tensor zero = zeros(m.shape, m.dtype, m.device);
      return {kind_ == IndexKind::Select ? index_add(zero, dim_, index, dy)
                                         : scatter_add(zero, dim_, index, dy)};
    }
    std::vector<Tensor> dx(2);
    if (needs_input_grad(0)) dx[0] = dy;
    if (needs_input_grad(1))
      dx[1] = kind_ == IndexKind::Add ? index_select(dy, dim_, index) : gather(dy, dim_, index);
    return dx;
  }
  void release_saved() override { index_.reset(); }

 private:
  IndexKind kind_;
  int64_t dim_;
  SavedTensor index_;
};

void check_index(const Tensor& index, const Tensor& x, const char* op) {
  check_defined(x, op);
  check_defined(index, op);
  FOVEA_CHECK(index.dtype() == DType::Int64, op, ": index must be int64, got ", index.str());
  check_same_device(x, index, op);
}

void check_index_1d(const Tensor& index, const char* op) {
  FOVEA_CHECK(index.dim() == 1, op, ": index must be 1-D, got ", index.str());
}

void check_same_ndim(const Tensor& index, const Tensor& t, const char* role, const char* op) {
  FOVEA_CHECK(index.dim() == t.dim(), op, ": index ", index.str(), " has ", index.dim(),
              " dims but ", role, " ", t.str(), " has ", t.dim());
}

// index.size(e) <= t.size(e) on every dim e (except `skip`, when given).
void check_index_fits(const Tensor& index, const Tensor& t, const char* role, int64_t skip,
                      const char* op) {
  for (int64_t e = 0; e < t.dim(); ++e)
    FOVEA_CHECK(e == skip || index.shape()[e] <= t.shape()[e], op, ": index ", index.str(),
                " is larger than ", role, " ", t.str(), " in dim ", e, " (", index.shape()[e],
                " > ", t.shape()[e], ")");
}

// A 1-D index of length k seen as a full index of `shape` (k along dim, stride 0 elsewhere),
// so index_select / index_add run on the gather / scatter_add kernels.
Tensor line_index(const Tensor& index, int64_t dim, const Shape& shape) {
  Shape s(shape.size(), 1);
  s[dim] = index.numel();
  return index.view(s).expand(shape);
}

// A copy of self to scatter into, outside the graph (the node records the dependence).
Tensor scatter_base(const Tensor& self) {
  Tensor out = empty(self.shape(), self.dtype(), self.device());
  copy_kernel(out.device(), out, self);
  return out;
}

Tensor record(Tensor out, IndexKind kind, int64_t dim, const Tensor& index,
              const std::vector<Tensor>& inputs) {
  if (auto node = make_node<IndexBackward>(inputs, kind, dim, index)) set_history(out, node);
  return out;
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim_in, const Tensor& index) {
  check_index(index, x, "index_select");
  check_index_1d(index, "index_select");
  const int64_t dim = normalize_dim(dim_in, x.shape(), "index_select");
  index_bounds_kernel(index.device(), index, x.shape()[dim], dim, "index_select");
  Shape shape = x.shape();
  shape[dim] = index.numel();
  Tensor out = empty(shape, x.dtype(), x.device());
  gather_kernel(x.device(), out, x, dim, line_index(index, dim, shape));
  return record(out, IndexKind::Select, dim, index, {x});
}

Tensor gather(const Tensor& x, int64_t dim_in, const Tensor& index) {
  check_index(index, x, "gather");
  check_same_ndim(index, x, "input", "gather");
  const int64_t dim = normalize_dim(dim_in, x.shape(), "gather");
  check_index_fits(index, x, "input", dim, "gather");
  index_bounds_kernel(index.device(), index, x.shape()[dim], dim, "gather");
  Tensor out = empty(index.shape(), x.dtype(), x.device());
  gather_kernel(x.device(), out, x, dim, index);
  return record(out, IndexKind::Gather, dim, index, {x});
}

Tensor index_add(const Tensor& self, int64_t dim_in, const Tensor& index, const Tensor& src) {
  check_index(index, self, "index_add");
  check_defined(src, "index_add");
  check_same_dtype(self, src, "index_add");
  check_same_device(self, src, "index_add");
  check_index_1d(index, "index_add");
  const int64_t dim = normalize_dim(dim_in, self.shape(), "index_add");
  Shape want = self.shape();
  want[dim] = index.numel();
  FOVEA_CHECK(src.shape() == want, "index_add: src ", src.str(), " must have shape ",
              shape_str(want), " (self ", self.str(), " with the index length ", index.numel(),
              " in dim ", dim, ")");
  index_bounds_kernel(index.device(), index, self.shape()[dim], dim, "index_add");
  Tensor out = scatter_base(self);
  scatter_add_kernel(out.device(), out, dim, line_index(index, dim, want), src);
  return record(out, IndexKind::Add, dim, index, {self, src});
}

Tensor scatter_add(const Tensor& self, int64_t dim_in, const Tensor& index, const Tensor& src) {
  check_index(index, self, "scatter_add");
  check_defined(src, "scatter_add");
  check_same_dtype(self, src, "scatter_add");
  check_same_device(self, src, "scatter_add");
  check_same_ndim(index, self, "self", "scatter_add");
  check_same_ndim(index, src, "src", "scatter_add");
  const int64_t dim = normalize_dim(dim_in, self.shape(), "scatter_add");
  check_index_fits(index, src, "src", -1, "scatter_add");
  check_index_fits(index, self, "self", dim, "scatter_add");
  index_bounds_kernel(index.device(), index, self.shape()[dim], dim, "scatter_add");
  // Only the part of src that index covers takes part; narrowing it (a view) first makes its
  // gradient zero outside that part.
  Tensor used = src;
  for (int64_t e = 0; e < src.dim(); ++e)
    if (used.shape()[e] != index.shape()[e]) used = used.narrow(e, 0, index.shape()[e]);
  Tensor out = scatter_base(self);
  scatter_add_kernel(out.device(), out, dim, index, used);
  return record(out, IndexKind::Scatter, dim, index, {self, used});
}

}  // namespace fovea
