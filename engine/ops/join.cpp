#include "engine/ops/join.h"

#include <string>

#include "engine/autograd/node.h"
#include "engine/core/factory.h"
#include "engine/cpu/fill.h"

namespace fovea {

namespace {

class CatBackward final : public Node {
 public:
  CatBackward(int64_t dim, std::vector<int64_t> sizes) : dim_(dim), sizes_(std::move(sizes)) {}
  std::string name() const override { return "CatBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    std::vector<Tensor> dx(sizes_.size());
    int64_t offset = 0;
    for (size_t i = 0; i < sizes_.size(); ++i) {
      if (needs_input_grad(i)) dx[i] = g[0].narrow(dim_, offset, sizes_[i]);
      offset += sizes_[i];
    }
    return dx;
  }

 private:
  int64_t dim_;
  std::vector<int64_t> sizes_;
};

// What every joined list needs: at least one tensor, all defined, one dtype, one device.
void check_joinable(const std::vector<Tensor>& xs, const char* op) {
  FOVEA_CHECK(!xs.empty(), op, ": needs at least one tensor, got an empty list");
  for (size_t i = 0; i < xs.size(); ++i) {
    FOVEA_CHECK(xs[i].defined(), op, ": input ", i, " is an undefined tensor");
    const std::string label = std::string(op) + " (inputs 0 and " + std::to_string(i) + ")";
    check_same_dtype(xs[0], xs[i], label.c_str());
    check_same_device(xs[0], xs[i], label.c_str());
  }
}

std::vector<Tensor> narrow_pieces(const Tensor& x, const std::vector<int64_t>& sizes,
                                  int64_t dim) {
  std::vector<Tensor> pieces;
  int64_t start = 0;
  for (int64_t s : sizes) {
    pieces.push_back(x.narrow(dim, start, s));
    start += s;
  }
  return pieces;
}

}  // namespace

Tensor cat(const std::vector<Tensor>& xs, int64_t dim_in) {
  check_joinable(xs, "cat");
  for (size_t i = 0; i < xs.size(); ++i)
    FOVEA_CHECK(xs[i].dim() > 0, "cat: input ", i, " is the 0-d tensor ", xs[i].str(),
                "; zero-dimensional tensors cannot be concatenated (use stack)");
  const Shape& first = xs[0].shape();
  const int64_t dim = normalize_dim(dim_in, first, "cat");
  Shape out_shape = first;
  out_shape[dim] = 0;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Shape& s = xs[i].shape();
    bool match = s.size() == first.size();
    for (size_t d = 0; match && d < s.size(); ++d) match = int64_t(d) == dim || s[d] == first[d];
    FOVEA_CHECK(match, "cat: input ", i, " has shape ", shape_str(s), " but input 0 has shape ",
                shape_str(first), "; they must match outside dim ", dim);
    sizes.push_back(s[dim]);
    out_shape[dim] += s[dim];
  }
  Tensor out = empty(out_shape, xs[0].dtype(), xs[0].device());
  {
    NoGradGuard no_grad;  // the windows into `out` are plumbing, not graph
    int64_t offset = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      copy_kernel(out.device(), out.narrow(dim, offset, sizes[i]), xs[i]);
      offset += sizes[i];
    }
  }
  if (auto node = make_node<CatBackward>(xs, dim, sizes)) set_history(out, node);
  return out;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  check_joinable(xs, "stack");
  const Shape& first = xs[0].shape();
  const int64_t n = int64_t(first.size());
  FOVEA_CHECK(dim >= -(n + 1) && dim <= n, "stack: dim ", dim, " is out of range for stacking ",
              n, "-d tensors of shape ", shape_str(first), " (allowed: ", -(n + 1), " to ", n,
              ")");
  if (dim < 0) dim += n + 1;
  std::vector<Tensor> expanded;
  for (size_t i = 0; i < xs.size(); ++i) {
    FOVEA_CHECK(xs[i].shape() == first, "stack: input ", i, " has shape ",
                shape_str(xs[i].shape()), " but input 0 has shape ", shape_str(first),
                "; stacked tensors must all have the same shape");
    expanded.push_back(xs[i].unsqueeze(dim));
  }
  return cat(expanded, dim);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim_in) {
  check_defined(x, "split");
  const int64_t dim = normalize_dim(dim_in, x.shape(), "split");
  FOVEA_CHECK(split_size > 0, "split: split_size must be positive, got ", split_size, " for ",
              x.str());
  const int64_t n = x.shape()[dim];
  std::vector<int64_t> sizes;
  for (int64_t start = 0; start < n; start += split_size)
    sizes.push_back(std::min(split_size, n - start));
  if (sizes.empty()) sizes.push_back(0);  // an empty dim still gives one (empty) piece
  return narrow_pieces(x, sizes, dim);
}

std::vector<Tensor> split_sizes(const Tensor& x, const std::vector<int64_t>& sizes,
                                int64_t dim_in) {
  check_defined(x, "split_sizes");
  const int64_t dim = normalize_dim(dim_in, x.shape(), "split_sizes");
  int64_t total = 0;
  for (int64_t s : sizes) {
    FOVEA_CHECK(s >= 0, "split_sizes: sizes must be non-negative, got ", shape_str(sizes));
    total += s;
  }
  FOVEA_CHECK(total == x.shape()[dim], "split_sizes: sizes ", shape_str(sizes), " sum to ",
              total, " but dim ", dim, " of ", x.str(), " has size ", x.shape()[dim]);
  return narrow_pieces(x, sizes, dim);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim_in) {
  check_defined(x, "chunk");
  const int64_t dim = normalize_dim(dim_in, x.shape(), "chunk");
  FOVEA_CHECK(chunks > 0, "chunk: chunks must be positive, got ", chunks, " for ", x.str());
  const int64_t n = x.shape()[dim];
  if (n == 0) return narrow_pieces(x, std::vector<int64_t>(size_t(chunks), 0), dim);
  return split(x, (n + chunks - 1) / chunks, dim);
}

std::vector<Tensor> unbind(const Tensor& x, int64_t dim_in) {
  check_defined(x, "unbind");
  const int64_t dim = normalize_dim(dim_in, x.shape(), "unbind");
  std::vector<Tensor> pieces;
  for (int64_t i = 0; i < x.shape()[dim]; ++i) pieces.push_back(x.select(dim, i));
  return pieces;
}

}  // namespace fovea
