// PyTorch reference fixtures: JSON files written by tests/fixtures/make_fixtures.py into the
// directory FOVEA_TEST_FIXTURES, one per op family (softmax.json, cross_entropy.json, ...).
// The file format is described at the top of that script.
//
// A test checks a whole family with one call, mapping each "op" name found in the file to a
// function that runs fovea's op on the case's inputs (float64, requiring grad) and its args:
//
//   check_fixtures("softmax", {
//     {"softmax", [](const FixtureCase& c, const Xs& x) { return softmax(x[0], c.args["dim"]); }},
//   });
//
// Every case's output is compared with PyTorch's; then output.backward(upstream) runs and each
// float input's gradient is compared too. Each comparison passes when
//   |fovea - torch| / max(1, |torch|) <= tolerance   (element-wise, default 1e-10)
// and a failure names the case, what differed, the worst element and both values.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/core/tensor.h"

namespace fovea::test {

struct FixtureCase {
  std::string name;
  std::string op;
  nlohmann::json args;
  std::vector<Tensor> inputs;          // fresh leaves; float inputs require grad
  std::vector<Tensor> expected_grads;  // per input; undefined for int64 inputs
  Tensor expected_output;
  Tensor upstream;
};

using FixtureOp = std::function<Tensor(const FixtureCase&, const std::vector<Tensor>&)>;

// {"dtype", "shape", "data"} -> a CPU tensor of that dtype (float64 or int64).
Tensor fixture_tensor(const nlohmann::json& j);

// The cases of FOVEA_TEST_FIXTURES/<family>.json; throws std::runtime_error when the file is
// missing or malformed.
std::vector<FixtureCase> load_fixture_cases(const std::string& family);

// Element-wise comparison as described above; one doctest CHECK, named by `what`.
void check_close(const Tensor& actual, const Tensor& expected, double tolerance,
                 const std::string& what);

// Runs every case of the family through ops.at(case.op). A case whose op has no entry, or a
// file without cases, is a test failure, so fixtures cannot silently go unchecked.
void check_fixtures(const std::string& family, const std::map<std::string, FixtureOp>& ops,
                    double tolerance = 1e-10);

}  // namespace fovea::test
