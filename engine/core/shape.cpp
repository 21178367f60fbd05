#include "engine/core/shape.h"

#include <algorithm>
#include <sstream>

#include "engine/core/error.h"

namespace fovea {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << ']';
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

Shape unravel_index(int64_t flat, const Shape& shape) {
  Shape index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

int64_t normalize_dim(int64_t dim, const Shape& shape, const char* op) {
  const int64_t n = static_cast<int64_t>(shape.size());
  FOVEA_CHECK(dim >= -n && dim < n, op, ": dim ", dim, " is out of range for a ", n,
              "-d tensor of shape ", shape_str(shape));
  return dim < 0 ? dim + n : dim;
}

std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, const Shape& shape,
                                    const char* op) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (size_t i = 0; i < shape.size(); ++i) out.push_back(static_cast<int64_t>(i));
    return out;
  }
  for (int64_t d : dims) {
    int64_t nd = normalize_dim(d, shape, op);
    FOVEA_CHECK(std::find(out.begin(), out.end(), nd) == out.end(), op, ": dim ", d,
                " appears more than once for shape ", shape_str(shape));
    out.push_back(nd);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    FOVEA_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ",
                shape_str(b), " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_strides(const Shape& shape, const Shape& strides, const Shape& target) {
  Shape out(target.size(), 0);
  const size_t lead = target.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i)
    out[lead + i] = (shape[i] == 1 && target[lead + i] != 1) ? 0 : strides[i];
  return out;
}

}  // namespace fovea
