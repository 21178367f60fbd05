// The doctest runner. Tests run single-threaded by default so their timings do not fight
// each other under `ctest -j`; set FOVEA_TEST_THREADS to change that.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

#include "engine/core/parallel.h"

int main(int argc, char** argv) {
  const char* env = std::getenv("FOVEA_TEST_THREADS");
  fovea::set_num_threads(env ? std::atoi(env) : 1);
  doctest::Context context(argc, argv);
  return context.run();
}
