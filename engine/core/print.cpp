// Printing in PyTorch's style:
//   tensor([[ 0.1000, -2.0000],
//           [ 3.5000,  4.0000]], dtype=float32)
// Large tensors show the first and last three entries of each dim around "...".
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "engine/autograd/node.h"
#include "engine/core/tensor.h"

namespace fovea {

namespace {

constexpr int64_t kEdge = 3;
constexpr int64_t kSummariseAbove = 1000;

std::string format_value(double v, DType dtype) {
  char buf[64];
  if (dtype == DType::Int64)
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  else
    std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

struct Printer {
  const Tensor& t;
  bool summarise;
  size_t width = 0;
  Shape index;

  std::vector<int64_t> shown(int64_t n) const {
    std::vector<int64_t> out;
    for (int64_t i = 0; i < n; ++i)
      if (!summarise || n <= 2 * kEdge || i < kEdge || i >= n - kEdge) out.push_back(i);
    return out;
  }
  void measure(size_t d) {
    if (d == t.shape().size()) {
      width = std::max(width, format_value(t.at<double>(index), t.dtype()).size());
      return;
    }
    for (int64_t i : shown(t.shape()[d])) {
      index[d] = i;
      measure(d + 1);
    }
  }
  void print(std::ostream& os, size_t d, int indent) {
    if (d == t.shape().size()) {
      os << std::setw(int(width)) << format_value(t.at<double>(index), t.dtype());
      return;
    }
    os << '[';
    const std::vector<int64_t> idx = shown(t.shape()[d]);
    const bool last_dim = d + 1 == t.shape().size();
    for (size_t k = 0; k < idx.size(); ++k) {
      if (k > 0) {
        os << ',';
        if (last_dim) os << ' ';
        else os << std::string(t.shape().size() - d - 1, '\n') << std::string(indent + d + 1, ' ');
      }
      if (k > 0 && idx[k] != idx[k - 1] + 1) {
        os << "...,";
        if (last_dim) os << ' ';
        else os << '\n' << std::string(indent + d + 1, ' ');
      }
      index[d] = idx[k];
      print(os, d + 1, indent);
    }
    os << ']';
  }
};

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  if (!t.device().is_cpu()) return os << t.to(Device::cpu()) << " (on " << t.device() << ')';
  Printer p{t, t.numel() > kSummariseAbove, 0, Shape(t.shape().size(), 0)};
  os << "tensor(";
  if (t.numel() == 0) {
    os << "[], shape=" << shape_str(t.shape());
  } else {
    p.measure(0);
    p.print(os, 0, 7);
  }
  os << ", dtype=" << dtype_name(t.dtype());
  if (t.grad_fn()) os << ", grad_fn=<" << t.grad_fn()->name() << ">";
  else if (t.requires_grad()) os << ", requires_grad=true";
  return os << ')';
}

}  // namespace fovea
