// The doctest runner.
//
// Threads: tests run single-threaded by default so their timings do not fight each other under
// `ctest -j`; FOVEA_TEST_THREADS=N changes that. FOVEA_TEST_GRAIN=G lowers the work below which
// loops stay on one thread (engine/core/parallel.h), so that the suite's small tensors take the
// multi-chunk paths too: .ci/run runs the suite a second time with 2 threads and grain 1.
//
// CUDA: Device::cuda() runs on the CUDA emulator (engine/core/cuda_backend.h) unless
// FOVEA_CUDA_BACKEND says otherwise, so every CUDA parity test runs without a GPU; with
// FOVEA_CUDA_BACKEND=gpu the same tests run on the GPU, and without one the run exits 77.
//
// Selection: doctest exits 0 when its filters select nothing, so a ctest entry whose filter
// matches no test case (a name that ctest's discovery split at a ';', a wildcard in a name)
// would count as a pass without running anything. Here a run whose filters select no test case
// fails, and with FOVEA_TEST_EXPECT_CASES=N (which tests/CMakeLists.txt sets to 1 for every
// ctest entry) a run that selects any other number of test cases fails too.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "engine/core/build_info.h"
#include "engine/core/cuda_backend.h"
#include "engine/core/parallel.h"

namespace {

// Whether the run executed tests (not a query such as --list-test-cases), and how many test
// cases its filters selected.
struct Selection {
  bool ran = false;
  unsigned selected = 0;
};
Selection g_selection;

struct SelectionListener : doctest::IReporter {
  explicit SelectionListener(const doctest::ContextOptions&) {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    g_selection = {true, stats.numTestCasesPassingFilters};
  }
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

// An integer in [lowest, highest] from the environment, `fallback` when unset or empty; exits
// on anything else.
long env_count(const char* name, long fallback, long lowest, long highest) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (*end != '\0' || v < lowest || v > highest) {
    std::cerr << "fovea_tests: " << name << "=\"" << text << "\" is not a number in [" << lowest
              << ", " << highest << "]\n";
    std::exit(2);
  }
  return v;
}

}  // namespace

DOCTEST_REGISTER_LISTENER("fovea-selection", 1, SelectionListener);

int main(int argc, char** argv) {
  fovea::set_num_threads(int(env_count("FOVEA_TEST_THREADS", 1, 1, 1024)));
  fovea::set_parallel_grain(env_count("FOVEA_TEST_GRAIN", fovea::kParallelGrain, 1, 1L << 40));
  const char* backend = std::getenv("FOVEA_CUDA_BACKEND");
  fovea::select_cuda_backend(backend && *backend ? backend : "emu");
  // The GPU run (tests/CMakeLists.txt's "cuda suite on the GPU" entry): without a usable GPU
  // the whole run is skipped (ctest's SKIP_RETURN_CODE), or fails with FOVEA_REQUIRE_GPU=1.
  if (backend && std::string(backend) == "gpu") {
    std::string why;
    if (!fovea::cuda_available(&why)) {
      const char* require = std::getenv("FOVEA_REQUIRE_GPU");
      std::cout << "fovea_tests: no usable GPU for FOVEA_CUDA_BACKEND=gpu: " << why << "\n";
      return require && std::string(require) == "1" ? 1 : 77;
    }
  }
  const long expected = env_count("FOVEA_TEST_EXPECT_CASES", -1, 0, 1L << 20);
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (!g_selection.ran) return result;  // a query (--list-test-cases, --help, ...)
  const unsigned n = g_selection.selected;
  if (n == 0 || (expected >= 0 && n != static_cast<unsigned long>(expected))) {
    std::cerr << "fovea_tests: the filters selected " << n << " test case(s)";
    if (expected >= 0) std::cerr << ", expected " << expected;
    std::cerr << ": a test name that ctest cannot pass through as a filter (';', '*', '?' or "
                 "a duplicate name) would otherwise be counted as passing without running\n";
    return 1;
  }
  return result;
}
