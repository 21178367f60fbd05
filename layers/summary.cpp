#include "layers/summary.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <tuple>

#include "engine/autograd/grad_mode.h"
#include "engine/core/cpu_allocator.h"
#include "engine/core/factory.h"
#include "engine/ops/reduce.h"

namespace fovea::nn {

namespace {

struct Record {
  Shape output;
  OpCounts ops;  // inclusive: the module's calls, its children's work inside them included
};

}  // namespace

std::string with_commas(int64_t v) {
  const std::string digits = std::to_string(v);
  const size_t sign = v < 0 ? 1 : 0;
  std::string s = digits.substr(0, sign);
  for (size_t i = sign; i < digits.size(); ++i) {
    if (i > sign && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}

Summary summarize(Module& model, const Shape& input_shape, DType dtype) {
  const auto modules = model.named_modules();
  std::map<const Module*, Record> records;
  // One counter per call in progress: calls nest, so the innermost call's counter is the last
  // one opened, and a counter sees its module's ops and its children's.
  std::vector<std::unique_ptr<MacCounter>> open;
  std::vector<std::tuple<Module*, int, int>> hooks;  // module, pre-hook id, hook id
  std::set<const Module*> hooked;  // a module under two names is still one module
  for (const auto& [name, m] : modules) {
    if (!hooked.insert(m).second) continue;
    Module* mm = const_cast<Module*>(m);
    const int pre = mm->add_forward_pre_hook(
        [&open](Module&, const Tensor&) { open.push_back(std::make_unique<MacCounter>()); });
    const int post = mm->add_forward_hook([&](Module& self, const Tensor&, const Tensor& out) {
      Record& r = records[&self];
      if (r.output.empty()) r.output = out.shape();
      r.ops += open.back()->counts();
      open.pop_back();
    });
    hooks.emplace_back(mm, pre, post);
  }
  const bool was_training = model.is_training();
  Summary s;
  s.input = input_shape;
  auto restore = [&] {
    while (!open.empty()) open.pop_back();  // a forward that threw: innermost first
    for (auto& [m, pre, post] : hooks) {
      m->remove_forward_pre_hook(pre);
      m->remove_forward_hook(post);
    }
    model.train(was_training);
  };
  try {
    NoGradGuard no_grad;
    model.eval();
    const auto params = model.parameters();
    const Device device = params.empty() ? Device::cpu() : params.front().device();
    s.output = model(zeros(input_shape, dtype, device)).shape();
  } catch (...) {
    restore();
    throw;
  }
  restore();

  for (const auto& [name, m] : modules) {
    SummaryRow row;
    row.name = name;
    row.type = m->type_name();
    row.depth = name.empty() ? 0 : 1 + int(std::count(name.begin(), name.end(), '.'));
    row.params = m->num_parameters();
    auto it = records.find(m);
    if (it != records.end()) {
      row.output = it->second.output;
      row.ops = it->second.ops;
    }
    s.rows.push_back(row);
  }
  s.total_params = s.rows.front().params;  // row 0 is the model itself
  for (const Tensor& p : model.parameters())
    if (p.requires_grad()) s.trainable_params += p.numel();
  s.total = s.rows.front().ops;
  return s;
}

size_t forward_backward_peak_bytes(Module& model, const Shape& input_shape, DType dtype) {
  const auto params = model.parameters();
  if (!params.empty() && params.front().device() != Device::cpu()) return 0;
  const bool any_trainable = std::any_of(params.begin(), params.end(),
                                         [](const Tensor& p) { return p.requires_grad(); });
  const bool was_training = model.is_training(), was_recording = GradMode::is_enabled();
  auto restore = [&] {
    model.zero_grad();
    model.train(was_training);
    GradMode::set_enabled(was_recording);
  };
  model.eval();
  GradMode::set_enabled(true);  // a caller under NoGradGuard still gets its backward
  size_t peak = 0;
  try {
    const size_t before = cpu_allocator().stats().live_bytes;
    cpu_allocator().reset_peak();
    {
      Tensor x = zeros(input_shape, dtype);
      // Without trainable parameters only the input's gradient gives the backward something
      // to compute; with them, as in training, the input needs none.
      if (!any_trainable) x.set_requires_grad();
      sum(model(x)).backward();
    }
    peak = cpu_allocator().stats().peak_live_bytes - before;
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return peak;
}

std::string Summary::table() const {
  std::ostringstream os;
  char line[256];
  constexpr const char* kFormat = "%-42s %-20s %12s %15s %11s %13s\n";
  constexpr int kWidth = 42 + 20 + 12 + 15 + 11 + 13 + 5;
  std::snprintf(line, sizeof line, kFormat, "layer (type)", "output shape", "params", "MACs",
                "softmax", "reduce reads");
  os << line << std::string(kWidth, '=') << "\n";
  for (const SummaryRow& r : rows) {
    if (r.depth == 0) continue;
    const std::string label = std::string(2 * (r.depth - 1), ' ') +
                              r.name.substr(r.name.rfind('.') == std::string::npos
                                                ? 0
                                                : r.name.rfind('.') + 1) +
                              " (" + r.type + ")";
    std::snprintf(line, sizeof line, kFormat, label.c_str(),
                  r.output.empty() ? "-" : shape_str(r.output).c_str(),
                  with_commas(r.params).c_str(), with_commas(r.ops.macs).c_str(),
                  with_commas(r.ops.softmax_elements).c_str(),
                  with_commas(r.ops.reduce_reads).c_str());
    os << line;
  }
  os << std::string(kWidth, '=') << "\n";
  os << "input " << shape_str(input) << " -> output " << shape_str(output) << "\n";
  os << "parameters: " << with_commas(total_params) << " (" << with_commas(trainable_params)
     << " trainable)\n";
  std::snprintf(line, sizeof line, "MACs per forward pass: %s (%.2f M)\n",
                with_commas(total.macs).c_str(), double(total.macs) / 1e6);
  os << line << "softmax elements: " << with_commas(total.softmax_elements)
     << "; elements read by poolings and reductions: " << with_commas(total.reduce_reads)
     << " (counted from the ops that ran: engine/ops/mac_count.h)\n";
  return os.str();
}

}  // namespace fovea::nn
