#include "support/guard.h"

#include <atomic>
#include <bit>
#include <cstdint>
#include <map>
#include <sstream>

#include "engine/autograd/grad_mode.h"
#include "engine/core/parallel.h"

namespace fovea::train {

namespace {

// A float is NaN or infinite exactly when its exponent bits are all ones. Testing the bits is
// an OR over integers, which the compiler vectorises; a floating-point sum would stay scalar
// (its order may not change without -ffast-math).
template <typename Float, typename Bits>
bool finite_range(const Float* p, int64_t n) {
  constexpr Bits exponent = sizeof(Bits) == 4 ? Bits(0x7f800000u) : Bits(0x7ff0000000000000ull);
  Bits bad = 0;
  for (int64_t i = 0; i < n; ++i) bad |= Bits((std::bit_cast<Bits>(p[i]) & exponent) == exponent);
  return bad == 0;
}

// Elements [begin, begin + n) of a contiguous CPU tensor.
bool finite_elements(const Tensor& t, int64_t begin, int64_t n) {
  std::atomic<bool> ok{true};
  parallel_for(n, 1, [&](int64_t b, int64_t e) {
    const bool chunk = t.dtype() == DType::Float32
                           ? finite_range<float, uint32_t>(t.data<float>() + begin + b, e - b)
                           : finite_range<double, uint64_t>(t.data<double>() + begin + b, e - b);
    if (!chunk) ok = false;
  });
  return ok;
}

bool is_float(const Tensor& t) {
  return t.defined() && (t.dtype() == DType::Float32 || t.dtype() == DType::Float64);
}

Tensor contiguous_cpu(const Tensor& t) {
  return (t.device().is_cpu() ? t : t.to(Device::cpu())).contiguous();
}

// "3 of the batch (dataset index 41)", up to a few of them.
std::string non_finite_images(const Tensor& images, const std::vector<int64_t>& indices) {
  const Tensor c = contiguous_cpu(images);
  const int64_t batch = c.size(0), per_image = batch ? c.numel() / batch : 0;
  std::vector<int64_t> bad;
  for (int64_t b = 0; b < batch; ++b)
    if (!finite_elements(c, b * per_image, per_image)) bad.push_back(b);
  std::ostringstream text;
  text << "the input batch is not finite: " << bad.size() << " of its " << batch
       << " images hold NaN or Inf (";
  for (size_t k = 0; k < bad.size() && k < 5; ++k) {
    const size_t b = size_t(bad[k]);
    text << (k ? "; " : "") << "image " << b << " of the batch";
    if (b < indices.size()) text << ", dataset index " << indices[b];
  }
  text << (bad.size() > 5 ? "; ...)" : ")");
  return text.str();
}

// What the forward pass found: the first module whose output was not finite.
struct FirstNonFinite {
  const nn::Module* module = nullptr;
  bool input_finite = true;
};

// Runs model(images) without gradients, with a hook on every module that records the first one
// whose output is not finite. The hooks are removed however the forward ends.
FirstNonFinite first_non_finite_output(nn::Module& model, const Tensor& images) {
  FirstNonFinite first;
  std::vector<std::pair<nn::Module*, int>> hooks;
  struct RemoveHooks {
    std::vector<std::pair<nn::Module*, int>>& hooks;
    ~RemoveHooks() {
      for (auto& [m, id] : hooks) m->remove_forward_hook(id);
    }
  } remove{hooks};
  for (const auto& [name, m] : model.named_modules()) {
    auto* mm = const_cast<nn::Module*>(m);
    hooks.emplace_back(mm, mm->add_forward_hook([&first](nn::Module& self, const Tensor& in,
                                                         const Tensor& out) {
      if (first.module || all_finite(out)) return;
      first.module = &self;
      first.input_finite = all_finite(in);
    }));
  }
  NoGradGuard no_grad;
  model(images);
  return first;
}

std::string describe_module(const nn::Module& model, const FirstNonFinite& first) {
  std::string name;
  for (const auto& [n, m] : model.named_modules())
    if (m == first.module) name = n;
  std::ostringstream text;
  text << "the first module whose output is not finite is "
       << (name.empty() ? "the model itself" : name) << " (" << first.module->type_name() << ")";
  std::vector<std::string> bad_params;
  for (const auto& [p, t] : first.module->named_parameters())
    if (p.find('.') == std::string::npos && !all_finite(t)) bad_params.push_back(p);
  if (!first.input_finite) {
    text << "; its input is not finite either, so an operation outside any module made it so";
  } else if (!bad_params.empty()) {
    text << "; its input is finite but its parameter " << bad_params.front() << " is not";
  } else {
    text << "; its input and parameters are finite";
  }
  return text.str();
}

// Backward runs from the output towards the input, so of the parameters with non-finite
// gradients the one registered last (nearest the output) is nearest to where it went wrong.
std::string describe_backward(const nn::Module& model) {
  std::string nearest;
  int64_t bad = 0, total = 0;
  for (const auto& [name, p] : model.named_parameters()) {
    if (!p.grad().defined()) continue;
    ++total;
    if (all_finite(p.grad())) continue;
    ++bad;
    nearest = name;
  }
  std::ostringstream text;
  text << "the forward pass and the loss are finite, the backward pass is not: " << bad << " of "
       << total << " parameters have non-finite gradients, the nearest to the output being "
       << nearest;
  return text.str();
}

}  // namespace

bool all_finite(const Tensor& t) {
  if (!is_float(t)) return true;
  const Tensor c = contiguous_cpu(t);
  return finite_elements(c, 0, c.numel());
}

bool gradients_finite(const std::vector<Tensor>& parameters) {
  for (const Tensor& p : parameters)
    if (!all_finite(p.grad())) return false;
  return true;
}

Diagnosis diagnose_step(nn::Module& model, const Tensor& images,
                        const std::vector<int64_t>& indices, bool loss_finite) {
  using Where = Diagnosis::Where;
  if (!all_finite(images)) return {Where::Input, non_finite_images(images, indices)};
  const FirstNonFinite first = first_non_finite_output(model, images);
  if (first.module) return {Where::Module, describe_module(model, first)};
  if (!loss_finite)
    return {Where::Loss, "every module's output is finite, but the loss computed from them is not"};
  return {Where::Backward, describe_backward(model)};
}

std::string first_non_finite_state(const nn::Module& model) {
  for (const auto& [name, t] : model.state_dict())
    if (!all_finite(t)) return name;
  return "";
}

}  // namespace fovea::train
