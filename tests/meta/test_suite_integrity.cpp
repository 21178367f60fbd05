// The suite's own honesty. ctest's doctest discovery turns every test case into one ctest
// entry that runs the binary with --test-case=<name>; a name it cannot pass through (a ';'
// splits it into two entries, '*' or '?' are wildcards) yields entries that select nothing or
// the wrong cases, and doctest exits 0 when nothing is selected. Two guards make that fail:
// the runner (tests/main.cpp) fails a run that selects no test case, or under ctest any number
// but one; and the entries are compared with the test cases one to one. The probe binary
// (tests/meta/probe/) shows that a ';' in a name trips both.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/shell.h"
#include "support/temp_files.h"

using fovea::test::run_command;

namespace {

// What tests/CMakeLists.txt sets for every ctest entry, and its absence (this test's own entry
// sets it, and children inherit it).
const std::string kExpectOne = "FOVEA_TEST_EXPECT_CASES=1";
const std::string kExpectAny = "FOVEA_TEST_EXPECT_CASES=";

std::string self_path() { return std::filesystem::canonical("/proc/self/exe").string(); }

// The test case names `binary` lists.
std::vector<std::string> list_test_cases(const std::string& binary) {
  const fovea::test::CommandResult r = run_command({binary, "--list-test-cases"});
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> names;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) {
    const bool banner = line.rfind("[doctest]", 0) == 0 ||
                        line.find_first_not_of('=') == std::string::npos;
    if (!banner) names.push_back(line);
  }
  return names;
}

struct CtestEntry {
  std::string name, program;
  std::vector<std::string> environment;
};

// The entries ctest registers in the build folder `dir`.
std::vector<CtestEntry> ctest_entries(const std::string& dir) {
  const fovea::test::CommandResult r =
      run_command({FOVEA_CTEST, "--test-dir", dir, "--show-only=json-v1"}, {}, false);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json listing = nlohmann::json::parse(r.output);
  std::vector<CtestEntry> entries;
  for (const nlohmann::json& t : listing.at("tests")) {
    CtestEntry e{t.at("name"), "", {}};
    if (t.contains("command") && !t["command"].empty()) e.program = t["command"][0];
    for (const nlohmann::json& p : t.value("properties", nlohmann::json::array()))
      if (p.at("name") == "ENVIRONMENT")
        for (const nlohmann::json& v : p.at("value")) e.environment.push_back(v);
    entries.push_back(e);
  }
  return entries;
}

// "" when every name occurs exactly once among the entries and once among the test cases;
// otherwise each name that does not, with both counts.
std::string mismatch(const std::vector<std::string>& entries,
                     const std::vector<std::string>& cases) {
  std::map<std::string, std::pair<int, int>> counts;
  for (const std::string& e : entries) counts[e].first++;
  for (const std::string& c : cases) counts[c].second++;
  std::ostringstream report;
  for (const auto& [name, n] : counts)
    if (n.first != 1 || n.second != 1)
      report << '"' << name << "\": " << n.first << " ctest entries, " << n.second
             << " test cases\n";
  return report.str();
}

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

TEST_CASE("ctest: one entry per test case and each entry must select exactly one") {
  const std::string self = self_path();
  std::vector<std::string> entries;
  int gpu_runs = 0;
  for (const CtestEntry& e : ctest_entries(FOVEA_TEST_BUILD_DIR)) {
    if (e.program.empty() || std::filesystem::weakly_canonical(e.program).string() != self)
      continue;
    // The one added entry that reruns the CUDA tests on the GPU (tests/CMakeLists.txt).
    if (has(e.environment, "FOVEA_CUDA_BACKEND=gpu")) {
      ++gpu_runs;
      continue;
    }
    entries.push_back(e.name);
    CHECK_MESSAGE(has(e.environment, kExpectOne), e.name);
  }
  CHECK(gpu_runs <= 1);
  const std::vector<std::string> cases = list_test_cases(self);
  CHECK(cases.size() > 100);
  CHECK(entries.size() == cases.size());
  CHECK(mismatch(entries, cases) == "");
}

TEST_CASE("ctest: the runner fails a run that selects no test case or more than expected") {
  const std::string probe = FOVEA_TEST_PROBE;
  const std::string one = "--test-case=probe: an ordinary name";
  CHECK(run_command({probe, one}, {kExpectOne}).exit_code == 0);
  CHECK(run_command({probe}, {kExpectAny}).exit_code == 0);  // no filter: both cases
  const fovea::test::CommandResult none =
      run_command({probe, "--test-case=probe: no such"}, {kExpectAny});
  CHECK(none.exit_code == 1);
  CHECK(none.output.find("selected 0 test case(s)") != std::string::npos);
  const std::string both = "--test-case=probe: *";
  CHECK(run_command({probe, both}, {kExpectAny}).exit_code == 0);
  const fovea::test::CommandResult two = run_command({probe, both}, {kExpectOne});
  CHECK(two.exit_code == 1);
  CHECK(two.output.find("selected 2 test case(s), expected 1") != std::string::npos);
}

TEST_CASE("ctest: a test name with a semicolon fails both the entries and the count") {
  // Discover the probe's tests exactly as doctest_discover_tests does, into a scratch folder.
  const fovea::test::TempDir dir;
  const std::string probe = FOVEA_TEST_PROBE;
  const std::string tests_file = dir.file("probe_tests.cmake");
  auto define = [](const char* name, const std::string& value) {
    return std::string(name).append("=").append(value);
  };
  const fovea::test::CommandResult discovered = run_command(
      {FOVEA_CMAKE, "-D", define("TEST_EXECUTABLE", probe), "-D",
       define("TEST_WORKING_DIR", dir.path.string()), "-D",
       define("TEST_PROPERTIES", "ENVIRONMENT;" + kExpectOne), "-D", "TEST_ADD_LABELS=0", "-D",
       "TEST_LIST=probe_tests", "-D", define("CTEST_FILE", tests_file), "-P",
       FOVEA_DOCTEST_DISCOVER_SCRIPT});
  REQUIRE_MESSAGE(discovered.exit_code == 0, discovered.output);
  std::ostringstream include;
  include << "include(\"" << tests_file << "\")\n";
  fovea::test::write_text(dir.file("CTestTestfile.cmake"), include.str());

  std::vector<std::string> entries;
  for (const CtestEntry& e : ctest_entries(dir.path.string())) entries.push_back(e.name);
  const std::vector<std::string> cases = list_test_cases(probe);
  CHECK(cases.size() == 2);
  CHECK(entries.size() == 3);  // the ';' made two entries of one name
  CHECK(mismatch(entries, cases).find("a name with a semicolon") != std::string::npos);

  const fovea::test::CommandResult run =
      run_command({FOVEA_CTEST, "--test-dir", dir.path.string(), "--output-on-failure"});
  CHECK(run.exit_code != 0);
  CHECK(run.output.find("2 tests failed out of 3") != std::string::npos);
  CHECK(run.output.find("selected 0 test case(s), expected 1") != std::string::npos);
}
