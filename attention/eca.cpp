#include "attention/eca.h"

#include <cmath>
#include <sstream>

#include "engine/fovea.h"

namespace fovea::attention {

namespace {

// Checks the options (spec §21 has no ECA row: any C >= 1 works, since the zero-padded channel
// axis is never shorter than the kernel) and returns the kernel size to use.
int64_t checked_kernel_size(int64_t c, const ECAOptions& o) {
  FOVEA_CHECK(c >= 1, "ECA: channels ", c, " must be >= 1");
  FOVEA_CHECK(o.k_size == 0 || (o.k_size >= 1 && o.k_size % 2 == 1), "ECA: k_size ", o.k_size,
              " must be odd and positive (padding (k-1)/2 keeps C only then), or 0 for the "
              "adaptive size");
  if (o.k_size != 0) return o.k_size;
  return ECA::adaptive_kernel_size(c, o.gamma, o.b);
}

}  // namespace

int64_t ECA::adaptive_kernel_size(int64_t c, double gamma, double b) {
  FOVEA_CHECK(c >= 1, "ECA: channels ", c, " must be >= 1");
  FOVEA_CHECK(gamma > 0, "ECA: gamma ", gamma, " must be > 0");
  // Bounded in double before the cast: a tiny gamma or a huge b would ask for a kernel of
  // millions (gigabytes), or past int64 (undefined).
  const double t = std::abs((std::log2(static_cast<double>(c)) + b) / gamma);
  FOVEA_CHECK(t <= 99, "ECA: the adaptive kernel size |(log2 ", c, " + b ", b, ") / gamma ", gamma,
              "| = ", t, " is more than 99; give k_size or a larger gamma");
  const auto k = static_cast<int64_t>(t);
  return k % 2 == 1 ? k : k + 1;
}

ECA::ECA(int64_t c, const ECAOptions& o)
    : AttentionModule("ECA"), channels(c), options(o), k_size(checked_kernel_size(c, o)) {
  Conv1dOptions conv_options;
  conv_options.padding = (k_size - 1) / 2;
  conv = register_module("conv", std::make_shared<nn::Conv1d>(1, 1, k_size, conv_options, false));
}

Tensor ECA::forward(const Tensor& x) {
  check_input(x, channels);
  const int64_t n = x.size(0);
  const Tensor z = (*conv)(mean(x, {2, 3}).reshape({n, 1, channels}));  // [N, 1, C]
  const Tensor a = sigmoid(z).reshape({n, channels});
  record_map("channel", a);
  return x * a.reshape({n, channels, 1, 1});
}

std::string ECA::extra_repr() const {
  std::ostringstream os;
  os << "channels=" << channels << ", k_size=" << k_size;
  if (options.k_size == 0)
    os << " (adaptive: gamma=" << options.gamma << ", b=" << options.b << ")";
  return os.str();
}

nn::AttentionSpec eca_spec() {
  nn::AttentionSpec s;
  s.position = nn::AttentionPosition::AfterLastNorm;
  s.child_name = "eca";
  s.help = "Efficient Channel Attention: GAP, bias-free conv1d over channels (spec §4)";
  s.options = {{"k_size", "0",
                "conv1d kernel (odd, up to 99); 0: adaptive odd(int(|(log2 C + b) / gamma|))"},
               {"gamma", "2", "adaptive kernel size: divisor (> 0)"},
               {"b", "1", "adaptive kernel size: offset"}};
  s.make = [](const nn::AttentionContext& c) {
    ECAOptions o;
    o.k_size = c.options.integer("k_size", 0, 99);
    o.gamma = c.options.number("gamma");
    o.b = c.options.number("b");
    return std::make_shared<ECA>(c.channels, o);
  };
  return s;
}

}  // namespace fovea::attention
