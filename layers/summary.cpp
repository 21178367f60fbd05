#include "layers/summary.h"

#include <cstdio>
#include <map>
#include <sstream>

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"

namespace fovea::nn {

namespace {

struct Record {
  Shape output;
  int64_t own_macs = 0;
};

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

}  // namespace

Summary summarize(Module& model, const Shape& input_shape, DType dtype) {
  const auto modules = model.named_modules();
  std::map<const Module*, Record> records;
  std::vector<std::pair<Module*, int>> hooks;
  for (const auto& [name, m] : modules) {
    Module* mm = const_cast<Module*>(m);
    hooks.emplace_back(mm, mm->add_forward_hook([&records](Module& self, const Tensor& in,
                                                          const Tensor& out) {
      Record& r = records[&self];
      if (r.output.empty()) r.output = out.shape();
      r.own_macs += self.flops(in.shape(), out.shape());
    }));
  }
  const bool was_training = model.is_training();
  Summary s;
  s.input = input_shape;
  auto restore = [&] {
    for (auto& [m, id] : hooks) m->remove_forward_hook(id);
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
    if (it != records.end()) row.output = it->second.output;
    // MACs of this module and its descendants: every module whose name extends this one.
    const std::string prefix = name + ".";
    for (const auto& [other_name, other] : modules) {
      const bool inside = name.empty() || other_name == name || other_name.starts_with(prefix);
      auto rec = records.find(other);
      if (inside && rec != records.end()) row.macs += rec->second.own_macs;
    }
    s.rows.push_back(row);
  }
  s.total_params = s.rows.front().params;  // row 0 is the model itself
  for (const Tensor& p : model.parameters())
    if (p.requires_grad()) s.trainable_params += p.numel();
  s.total_macs = s.rows.front().macs;
  return s;
}

std::string Summary::table() const {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "%-44s %-22s %14s %16s\n", "layer (type)", "output shape",
                "params", "MACs");
  os << line << std::string(99, '=') << "\n";
  for (const SummaryRow& r : rows) {
    if (r.depth == 0) continue;
    const std::string label = std::string(2 * (r.depth - 1), ' ') +
                              r.name.substr(r.name.rfind('.') == std::string::npos
                                                ? 0
                                                : r.name.rfind('.') + 1) +
                              " (" + r.type + ")";
    std::snprintf(line, sizeof line, "%-44s %-22s %14s %16s\n", label.c_str(),
                  r.output.empty() ? "-" : shape_str(r.output).c_str(),
                  with_commas(r.params).c_str(), with_commas(r.macs).c_str());
    os << line;
  }
  os << std::string(99, '=') << "\n";
  os << "input " << shape_str(input) << " -> output " << shape_str(output) << "\n";
  os << "parameters: " << with_commas(total_params) << " (" << with_commas(trainable_params)
     << " trainable)\n";
  std::snprintf(line, sizeof line, "MACs per forward pass: %s (%.2f M)\n",
                with_commas(total_macs).c_str(), double(total_macs) / 1e6);
  os << line;
  return os.str();
}

}  // namespace fovea::nn
