#include "support/fixtures.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include "engine/core/factory.h"

namespace fovea::test {

Tensor fixture_tensor(const nlohmann::json& j) {
  const Shape shape = j.at("shape").get<Shape>();
  const std::string dtype = j.at("dtype").get<std::string>();
  if (dtype == "int64") return from_vector(j.at("data").get<std::vector<int64_t>>(), shape);
  if (dtype == "float64") return from_vector(j.at("data").get<std::vector<double>>(), shape);
  throw std::runtime_error("fixture_tensor: unsupported dtype " + dtype);
}

std::vector<FixtureCase> load_fixture_cases(const std::string& family) {
  const std::string path = std::string(FOVEA_TEST_FIXTURES) + "/" + family + ".json";
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error("load_fixture_cases: cannot open " + path +
                             " (regenerate with tests/fixtures/make_fixtures.py)");
  nlohmann::json file;
  try {
    file = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("load_fixture_cases: " + path + ": " + e.what());
  }
  std::vector<FixtureCase> cases;
  for (const nlohmann::json& j : file.at("cases")) {
    FixtureCase c;
    c.name = j.at("name").get<std::string>();
    c.op = j.at("op").get<std::string>();
    c.args = j.value("args", nlohmann::json::object());
    for (const nlohmann::json& input : j.at("inputs")) {
      Tensor t = fixture_tensor(input);
      if (is_floating(t.dtype())) t.set_requires_grad();
      c.inputs.push_back(t);
      c.expected_grads.push_back(
          input.contains("grad")
              ? fixture_tensor({{"dtype", "float64"}, {"shape", input["shape"]},
                                {"data", input["grad"]}})
              : Tensor());
    }
    c.expected_output = fixture_tensor(j.at("output"));
    c.upstream = fixture_tensor(j.at("upstream"));
    cases.push_back(std::move(c));
  }
  return cases;
}

void check_close(const Tensor& actual, const Tensor& expected, double tolerance,
                 const std::string& what) {
  INFO(what);
  const bool same_shape = actual.defined() && actual.shape() == expected.shape();
  CHECK_MESSAGE(same_shape, "got ", actual.defined() ? shape_str(actual.shape()) : "nothing",
                ", expected shape ", shape_str(expected.shape()));
  if (!same_shape) return;
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::abs(a[i] - e[i]) / std::max({1.0, std::abs(e[i])});
    if (!(err <= worst)) {  // NaN counts as the worst error
      worst = err;
      at = i;
      if (std::isnan(err)) break;
    }
  }
  std::ostringstream detail;
  if (!a.empty())
    detail << std::setprecision(17) << "worst relative error " << worst << " at flat index " << at << ": got "
           << a[at] << ", expected " << e[at];
  INFO(detail.str());
  CHECK(worst <= tolerance);
}

void check_fixtures(const std::string& family, const std::map<std::string, FixtureOp>& ops,
                    double tolerance) {
  const std::vector<FixtureCase> cases = load_fixture_cases(family);
  CHECK_MESSAGE(!cases.empty(), family, ".json holds no cases");
  for (const FixtureCase& c : cases) {
    const auto op = ops.find(c.op);
    CHECK_MESSAGE(op != ops.end(), family, ".json: no test function for op '", c.op,
                  "' (case '", c.name, "')");
    if (op == ops.end()) continue;
    Tensor out = op->second(c, c.inputs);
    check_close(out, c.expected_output, tolerance, c.name + ": output");
    out.backward(c.upstream);
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      if (!c.expected_grads[i].defined()) continue;
      check_close(c.inputs[i].grad(), c.expected_grads[i], tolerance,
                  c.name + ": gradient of input " + std::to_string(i));
    }
  }
}

}  // namespace fovea::test
