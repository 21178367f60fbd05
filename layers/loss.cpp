#include "layers/loss.h"

#include <sstream>

namespace fovea::nn {

CrossEntropyLoss::CrossEntropyLoss(double label_smoothing, Reduction reduction)
    : Module("CrossEntropyLoss"), label_smoothing(label_smoothing), reduction(reduction) {
  FOVEA_CHECK(label_smoothing >= 0 && label_smoothing <= 1,
              "CrossEntropyLoss: label_smoothing must be in [0, 1], got ", label_smoothing);
}

Tensor CrossEntropyLoss::forward(const Tensor& logits, const Tensor& target) const {
  return cross_entropy(logits, target, reduction, label_smoothing);
}

std::string CrossEntropyLoss::extra_repr() const {
  const char* name = reduction == Reduction::Mean ? "mean"
                     : reduction == Reduction::Sum ? "sum"
                                                   : "none";
  std::ostringstream os;
  os << "reduction=" << name << ", label_smoothing=" << label_smoothing;
  return os.str();
}

}  // namespace fovea::nn
