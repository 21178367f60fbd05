#include "layers/dropout.h"

#include <sstream>

#include "engine/ops/dropout.h"

namespace fovea::nn {

Dropout::Dropout(double p_, Generator* generator) : Module("Dropout"), p(p_), generator_(generator) {
  FOVEA_CHECK(p_ >= 0 && p_ <= 1, "Dropout: p must be in [0, 1], got ", p_);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), generator_); }

std::string Dropout::extra_repr() const {
  std::ostringstream os;
  os << "p=" << p << ", inplace=False";
  return os.str();
}

}  // namespace fovea::nn
