// PyTorch parity of every attention module and variant: each fixture of
// tests/fixtures/attention (written by make_attention_fixtures.py from reference modules with
// the spec's names) goes through the probe (attention/probe.h) exactly as attention_probe
// would run it, and every tensor the reference wrote must come back: output, input and
// parameter gradients, updated buffers and maps. Relative error = max |a - r| / max |r| per
// tensor, at most 1e-10 in float64; a parameter gradient that is zero by structure (a bias just
// before a training-mode BatchNorm) is measured against the fixture's largest gradient instead,
// and must be rounding-level (1e-12 of it) on both sides.
#include <doctest/doctest.h>

#include <filesystem>
#include <iomanip>
#include <set>
#include <sstream>

#include "attention/probe.h"
#include "attention/register.h"
#include "engine/fovea.h"
#include "layers/summary.h"

using namespace fovea;

namespace {

struct Fixture {
  std::string name;  // "cbam-train"
  std::string in, out;
};

std::vector<Fixture> fixtures() {
  const std::filesystem::path dir = std::filesystem::path(FOVEA_TEST_FIXTURES) / "attention";
  std::vector<Fixture> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    const std::string suffix = ".in.safetensors";
    if (file.size() <= suffix.size() || file.compare(file.size() - suffix.size(), suffix.size(), suffix))
      continue;
    const std::string name = file.substr(0, file.size() - suffix.size());
    found.push_back({name, entry.path().string(), (dir / (name + ".out.safetensors")).string()});
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return found;
}

double relative_error(const Tensor& actual, const Tensor& reference) {
  const Tensor a = actual.to(DType::Float64), r = reference.to(DType::Float64);
  const double scale = amax(abs(r)).item();
  const double diff = amax(abs(a - r)).item();
  return scale > 0 ? diff / scale : diff;
}

}  // namespace

TEST_CASE("attention fixtures: every module and variant matches PyTorch in float64") {
  const std::vector<Fixture> all = fixtures();
  REQUIRE(all.size() >= 9);
  std::set<std::string> modules;
  std::ostringstream table;
  table << "fixture | output | grad.input | worst parameter gradient | worst buffer / map\n";
  for (const Fixture& f : all) {
    CAPTURE(f.name);
    const io::SafetensorsFile in = io::load_safetensors(f.in);
    const io::SafetensorsFile expected = io::load_safetensors(f.out);
    const probe::Request r = probe::request_of(in.metadata);
    modules.insert(r.module);
    const io::NamedTensors actual = probe::run(r, in);
    // The same keys, in any order.
    std::set<std::string> actual_keys, expected_keys;
    for (const auto& item : actual) actual_keys.insert(item.first);
    for (const auto& item : expected.tensors) expected_keys.insert(item.first);
    CHECK(actual_keys == expected_keys);
    double worst_param = 0, worst_other = 0;
    // The scale of this fixture's gradients. A parameter gradient that is zero up to rounding
    // against it is zero by structure (a bias right before a training-mode BatchNorm: the
    // batch mean cancels it), and both sides hold rounding noise that a relative error cannot
    // judge: such a gradient must be rounding-level on both sides, measured against the scale.
    double grad_scale = 0;
    for (const auto& item : expected.tensors)
      if (item.first.rfind("grad.", 0) == 0)
        grad_scale = std::max(grad_scale, amax(abs(item.second.to(DType::Float64))).item());
    for (const auto& item : actual) {
      const std::string& key = item.first;  // not bindings: INFO's lambda captures them
      const Tensor& value = item.second;
      if (!expected.contains(key)) continue;
      const Tensor& want = expected.at(key);
      INFO(key, ": ", value.str(), " against ", want.str());
      REQUIRE(value.shape() == want.shape());
      if (want.dtype() == DType::Int64) {  // num_batches_tracked
        CHECK(value.to_vector<int64_t>() == want.to_vector<int64_t>());
        continue;
      }
      double e = relative_error(value, want);
      const bool is_param_grad = key.rfind("grad.", 0) == 0 && key != "grad.input";
      if (is_param_grad && amax(abs(want.to(DType::Float64))).item() <= 1e-12 * grad_scale) {
        e = amax(abs(value.to(DType::Float64) - want.to(DType::Float64))).item() / grad_scale;
        CHECK(amax(abs(value.to(DType::Float64))).item() <= 1e-12 * grad_scale);
      }
      CHECK(e <= 1e-10);
      if (key.rfind("grad.", 0) == 0 && key != "grad.input") worst_param = std::max(worst_param, e);
      if (key.rfind("after.", 0) == 0 || key.rfind("map.", 0) == 0)
        worst_other = std::max(worst_other, e);
    }
    table << f.name << " | " << std::setprecision(2) << std::scientific
          << relative_error(actual[0].second, expected.at("output")) << " | "
          << relative_error(actual[1].second, expected.at("grad.input")) << " | " << worst_param
          << " | " << worst_other << "\n";
  }
  MESSAGE(table.str());
  // Every built-in module has at least one fixture.
  for (const auto& name : attention::builtin_names()) {
    CAPTURE(name);
    CHECK(modules.count(name) == 1);
  }
}

TEST_CASE("attention probe: the forward's op counts and the peak memory of forward + backward") {
  const io::SafetensorsFile in = io::load_safetensors(
      std::string(FOVEA_TEST_FIXTURES) + "/attention/cbam-train.in.safetensors");
  const probe::Request r = probe::request_of(in.metadata);
  probe::Costs costs;
  const io::NamedTensors out = probe::run(r, in, nullptr, &costs);
  // CBAM pools (channel gate over H, W; spatial gate over C) and has an MLP and a 7x7 conv,
  // but no softmax; the hand count of each term is in test_op_counts_a.cpp.
  CHECK(costs.forward.macs > 0);
  CHECK(costs.forward.reduce_reads > 0);
  CHECK(costs.forward.softmax_elements == 0);
  // At the end of the backward the output and every gradient are alive at once.
  size_t at_end = 0;
  for (const auto& [name, t] : out)
    if (name == "output" || name.rfind("grad.", 0) == 0)
      at_end += size_t(t.numel()) * dtype_size(t.dtype());
  CHECK(costs.peak_bytes >= at_end);
  CHECK(costs.peak_bytes < at_end * 64);
  const std::string line = probe::costs_line(costs);
  CHECK(line.find(nn::with_commas(costs.forward.macs) + " MACs, 0 softmax elements") !=
        std::string::npos);
  CHECK(line.find("forward + backward: ") != std::string::npos);
}

TEST_CASE("attention probe: bad files are errors naming the key and the shapes") {
  const io::SafetensorsFile good = io::load_safetensors(
      std::string(FOVEA_TEST_FIXTURES) + "/attention/cbam-train.in.safetensors");
  const probe::Request r = probe::request_of(good.metadata);
  auto with = [&](const std::function<void(io::NamedTensors&)>& edit) {
    io::SafetensorsFile f = good;
    edit(f.tensors);
    return f;
  };
  auto drop = [](io::NamedTensors& t, const std::string& key) {
    t.erase(std::remove_if(t.begin(), t.end(), [&](const auto& i) { return i.first == key; }),
            t.end());
  };
  CHECK_THROWS_WITH_AS(probe::run(r, with([](auto& t) { t.emplace_back("input3", zeros({1})); })),
                       doctest::Contains("attention_probe: unknown key \"input3\" in the input "
                                         "file (valid: ChannelGate.mlp.1.bias"),
                       Error);
  CHECK_THROWS_WITH_AS(probe::run(r, with([&](auto& t) { drop(t, "input"); })),
                       doctest::Contains("the input file has no \"input\""), Error);
  CHECK_THROWS_WITH_AS(probe::run(r, with([&](auto& t) { drop(t, "grad_output"); })),
                       doctest::Contains("the input file has no \"grad_output\""), Error);
  CHECK_THROWS_WITH_AS(
      probe::run(r, with([](auto& t) {
                   for (auto& [k, v] : t)
                     if (k == "grad_output") v = zeros({2, 16, 5, 5}, DType::Float64);
                 })),
      doctest::Contains("grad_output is float64[2, 16, 5, 5] but the output is float64[2, 16, 5, 6]"),
      Error);
  CHECK_THROWS_WITH_AS(
      probe::run(r, with([](auto& t) {
                   for (auto& [k, v] : t)
                     if (k == "ChannelGate.mlp.1.weight") v = zeros({3, 16}, DType::Float64);
                 })),
      doctest::Contains("ChannelGate.mlp.1.weight"), Error);
  CHECK_THROWS_WITH_AS(
      probe::run(r, with([](auto& t) {
                   for (auto& [k, v] : t)
                     if (k == "input") v = zeros({2, 8, 5, 6}, DType::Float64);
                 })),
      doctest::Contains("shape mismatch for \"ChannelGate.mlp.1.weight\": the state dict has "
                        "[4, 16], the module has [2, 8]"),
      Error);
  probe::Request unknown = r;
  unknown.options = "reduction=4";
  CHECK_THROWS_WITH_AS(probe::run(unknown, good),
                       doctest::Contains("attention cbam: unknown option \"reduction\""), Error);
  // Only a module that replaces the block's conv takes that conv's stride and width.
  probe::Request strided = r;
  strided.stride = 2;
  CHECK_THROWS_WITH_AS(probe::run(strided, good),
                       doctest::Contains("--stride and --out-channels apply to modules that "
                                         "replace the block's 3x3 conv (gsa, sk, sk_xmu), "
                                         "not to \"cbam\""),
                       Error);
  probe::Request sk = probe::request_of(io::load_safetensors(
      std::string(FOVEA_TEST_FIXTURES) + "/attention/sk-train.in.safetensors").metadata);
  sk.stride = 0;
  CHECK_THROWS_WITH_AS(probe::run(sk, good), doctest::Contains("stride 0 must be >= 1"), Error);
  // float32 runs too, within float32's accuracy of the float64 reference.
  probe::Request f32 = r;
  f32.dtype = DType::Float32;
  const io::NamedTensors out = probe::run(f32, good);
  const io::SafetensorsFile want = io::load_safetensors(
      std::string(FOVEA_TEST_FIXTURES) + "/attention/cbam-train.out.safetensors");
  CHECK(out[0].second.dtype() == DType::Float32);
  CHECK(relative_error(out[0].second, want.at("output")) < 1e-5);
}
