// View ops: new shape/strides/offset over the same storage, no copy. Each records a node whose
// backward moves the gradient back to the input's layout:
//   reshape/view/squeeze/unsqueeze/flatten  dx = dy.reshape(x.shape)
//   permute/transpose                        dx = dy.permute(inverse permutation)
//   expand                                   dx = sum_to(dy, x.shape)
//   slice/narrow/select                      dx = zeros(x.shape) with dy written into the slice
#include <algorithm>
#include <optional>

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/fill.h"
#include "engine/ops/reduce.h"

namespace fovea {

namespace {

class ReshapeBackward final : public Node {
 public:
  explicit ReshapeBackward(const char* op) : op_(op) {}
  std::string name() const override { return op_ + std::string("Backward"); }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return {g[0].reshape(input_meta(0).shape)};
  }

 private:
  const char* op_;
};

class PermuteBackward final : public Node {
 public:
  PermuteBackward(const char* op, std::vector<int64_t> dims) : op_(op), dims_(std::move(dims)) {}
  std::string name() const override { return op_ + std::string("Backward"); }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    std::vector<int64_t> inverse(dims_.size());
    for (size_t i = 0; i < dims_.size(); ++i) inverse[dims_[i]] = int64_t(i);
    return {g[0].permute(inverse)};
  }

 private:
  const char* op_;
  std::vector<int64_t> dims_;
};

class ExpandBackward final : public Node {
 public:
  std::string name() const override { return "ExpandBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return {sum_to(g[0], input_meta(0).shape)};
  }
};

class SliceBackward final : public Node {
 public:
  SliceBackward(const char* op, int64_t dim, int64_t start, int64_t step)
      : op_(op), dim_(dim), start_(start), step_(step) {}
  std::string name() const override { return op_ + std::string("Backward"); }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const TensorMeta& m = input_meta(0);
    Tensor dx = zeros(m.shape, m.dtype, m.device);
    const bool selected = g[0].dim() < dx.dim();  // select() removed the dim
    Tensor window = selected ? dx.select(dim_, start_)
                             : dx.slice(dim_, start_, start_ + g[0].size(dim_) * step_, step_);
    copy_kernel(dx.device(), window, g[0]);
    return {dx};
  }

 private:
  const char* op_;
  int64_t dim_, start_, step_;
};

// Strides that let `shape` view memory laid out as (old_shape, old_strides), or nothing when
// that memory cannot be read in the new shape without a copy (ATen's computeStride).
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides,
                                  const Shape& shape) {
  if (old_shape.empty() || shape_numel(old_shape) == 0) return contiguous_strides(shape);
  Shape strides(shape.size());
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    const bool chunk_ends =
        d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
      strides[view_d] = view_numel * chunk_base_stride;
      view_numel *= shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (d > 0) {
      chunk_base_stride = old_strides[d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

// Resolves a single -1 and checks the element count.
Shape infer_shape(const Shape& shape, int64_t numel, const char* op, const Tensor& x) {
  Shape out = shape;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      FOVEA_CHECK(infer_at < 0, op, ": only one dim may be -1, got ", shape_str(shape));
      infer_at = int64_t(i);
    } else {
      FOVEA_CHECK(out[i] >= 0, op, ": invalid size ", out[i], " in ", shape_str(shape));
      known *= out[i];
    }
  }
  if (infer_at >= 0) {
    FOVEA_CHECK(known != 0 && numel % known == 0, op, ": shape ", shape_str(shape),
                " is invalid for ", x.str(), " (", numel, " elements)");
    out[infer_at] = numel / known;
  }
  FOVEA_CHECK(shape_numel(out) == numel, op, ": shape ", shape_str(shape), " is invalid for ",
              x.str(), " (", numel, " elements)");
  return out;
}

Tensor alias(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset) {
  return make_tensor(x.storage(), shape, strides, offset, x.dtype());
}

template <typename N, typename... Args>
Tensor record_view(Tensor out, const Tensor& x, Args&&... args) {
  if (auto node = make_node<N>({x}, std::forward<Args>(args)...)) set_history(out, node);
  return out;
}

// A view with a new shape, or nothing when the layout does not allow one.
std::optional<Tensor> try_view(const Tensor& x, const Shape& shape, const char* op) {
  auto strides = view_strides(x.shape(), x.strides(), shape);
  if (!strides) return std::nullopt;
  return record_view<ReshapeBackward>(alias(x, shape, *strides, x.offset()), x, op);
}

}  // namespace

Tensor Tensor::view(const Shape& shape_in) const {
  const Shape shape = infer_shape(shape_in, numel(), "view", *this);
  auto v = try_view(*this, shape, "View");
  FOVEA_CHECK(v.has_value(), "view: ", str(), " with strides ", shape_str(strides()),
              " cannot be viewed as ", shape_str(shape), " without a copy; use reshape()");
  return *v;
}

Tensor Tensor::reshape(const Shape& shape_in) const {
  const Shape shape = infer_shape(shape_in, numel(), "reshape", *this);
  if (shape == this->shape()) return *this;
  if (auto v = try_view(*this, shape, "Reshape")) return *v;
  return contiguous().view(shape);
}

namespace {
// x with its dims reordered: dim i of the result is dim order[i] of x (order normalised).
Tensor permuted(const Tensor& x, const std::vector<int64_t>& order, const char* op) {
  Shape s(x.dim()), st(x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) {
    s[i] = x.shape()[order[i]];
    st[i] = x.strides()[order[i]];
  }
  return record_view<PermuteBackward>(alias(x, s, st, x.offset()), x, op, order);
}
}  // namespace

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  FOVEA_CHECK(int64_t(dims.size()) == dim(), "permute: ", dims.size(), " dims given for ", str());
  normalize_dims(dims, shape(), "permute");  // in range, no repeats
  std::vector<int64_t> order(dim());
  for (int64_t i = 0; i < dim(); ++i) order[i] = normalize_dim(dims[i], shape(), "permute");
  return permuted(*this, order, "Permute");
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  d0 = normalize_dim(d0, shape(), "transpose");
  d1 = normalize_dim(d1, shape(), "transpose");
  std::vector<int64_t> order(dim());
  for (int64_t i = 0; i < dim(); ++i) order[i] = i;
  std::swap(order[d0], order[d1]);
  return permuted(*this, order, "Transpose");
}

Tensor Tensor::expand(const Shape& shape_in) const {
  FOVEA_CHECK(shape_in.size() >= shape().size(), "expand: cannot expand ", str(), " to ",
              shape_str(shape_in), " (fewer dims)");
  const size_t lead = shape_in.size() - shape().size();
  Shape s(shape_in.size()), st(shape_in.size(), 0);
  for (size_t i = 0; i < shape_in.size(); ++i) {
    if (i < lead) {
      FOVEA_CHECK(shape_in[i] >= 0, "expand: new leading dim ", i, " cannot be ", shape_in[i]);
      s[i] = shape_in[i];
      continue;
    }
    const int64_t have = shape()[i - lead];
    const int64_t want = shape_in[i] == -1 ? have : shape_in[i];
    FOVEA_CHECK(want == have || have == 1, "expand: cannot expand ", str(), " to ",
                shape_str(shape_in), ": dim ", i, " has size ", have, ", not 1");
    s[i] = want;
    st[i] = want == have ? strides()[i - lead] : 0;
  }
  if (s == shape()) return *this;
  return record_view<ExpandBackward>(alias(*this, s, st, offset()), *this);
}

Tensor Tensor::squeeze(int64_t d) const {
  d = normalize_dim(d, shape(), "squeeze");
  if (shape()[d] != 1) return *this;  // as in PyTorch: squeezing a dim of size > 1 is a no-op
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return record_view<ReshapeBackward>(alias(*this, s, st, offset()), *this, "Squeeze");
}

Tensor Tensor::squeeze() const {
  Shape s, st;
  for (int64_t i = 0; i < dim(); ++i)
    if (shape()[i] != 1) {
      s.push_back(shape()[i]);
      st.push_back(strides()[i]);
    }
  if (s.size() == shape().size()) return *this;
  return record_view<ReshapeBackward>(alias(*this, s, st, offset()), *this, "Squeeze");
}

Tensor Tensor::unsqueeze(int64_t d) const {
  const int64_t n = dim() + 1;
  FOVEA_CHECK(d >= -n && d < n, "unsqueeze: dim ", d, " is out of range for ", str());
  if (d < 0) d += n;
  Shape s = shape(), st = strides();
  const int64_t stride = d < dim() ? strides()[d] * shape()[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return record_view<ReshapeBackward>(alias(*this, s, st, offset()), *this, "Unsqueeze");
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = normalize_dim(d, shape(), "slice");
  FOVEA_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t n = shape()[d];
  auto clamp_index = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  start = clamp_index(start);
  end = std::max(clamp_index(end), start);
  Shape s = shape(), st = strides();
  s[d] = (end - start + step - 1) / step;
  st[d] = strides()[d] * step;
  const int64_t off = offset() + start * strides()[d];
  return record_view<SliceBackward>(alias(*this, s, st, off), *this, "Slice", d, start, step);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = normalize_dim(d, shape(), "narrow");
  const int64_t n = shape()[d];
  if (start < 0) start += n;
  FOVEA_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow: [", start, ", ",
              start + length, ") is outside dim ", d, " of ", str());
  Shape s = shape();
  s[d] = length;
  const int64_t off = offset() + start * strides()[d];
  return record_view<SliceBackward>(alias(*this, s, strides(), off), *this, "Narrow", d, start,
                                    int64_t(1));
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = normalize_dim(d, shape(), "select");
  const int64_t n = shape()[d];
  FOVEA_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dim ", d,
              " of ", str());
  if (index < 0) index += n;
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  const int64_t off = offset() + index * strides()[d];
  return record_view<SliceBackward>(alias(*this, s, st, off), *this, "Select", d, index,
                                    int64_t(1));
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  start_dim = normalize_dim(start_dim, shape(), "flatten");
  end_dim = normalize_dim(end_dim, shape(), "flatten");
  FOVEA_CHECK(start_dim <= end_dim, "flatten: start_dim ", start_dim, " comes after end_dim ",
              end_dim);
  Shape s(shape().begin(), shape().begin() + start_dim);
  int64_t merged = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) merged *= shape()[i];
  s.push_back(merged);
  s.insert(s.end(), shape().begin() + end_dim + 1, shape().end());
  return reshape(s);
}

}  // namespace fovea
