// What every fuzz target shares: where it writes its input and what counts as a rejection.
//
// The readers take paths, so a target writes each input to a file in a scratch directory of its
// own process (under /dev/shm when there is one: no disk traffic at thousands of inputs a second;
// else the system temp dir), removed when the process exits normally. A fovea::Error is the
// expected answer to a bad file; anything else (another exception, a crash, a sanitizer report,
// a timeout, an allocation past -malloc_limit_mb) is left to fail the run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/core/error.h"

namespace fovea::fuzz {

// The scratch directory of this process (created on first use).
const std::string& scratch_dir();

// Writes `size` bytes to `name` inside scratch_dir() (replacing it) and returns its path.
std::string write_file(const std::string& name, const uint8_t* data, size_t size);

// Whether FOVEA_FUZZ_VERBOSE is set: then rejections are printed (to see why a seed fails).
bool verbose();
void report_rejection(const fovea::Error& e);  // prints its message to stderr

// Runs `f`, treating a fovea::Error as the expected rejection of a bad input.
template <typename F>
void accept_or_reject(F&& f) {
  try {
    f();
  } catch (const fovea::Error& e) {
    if (verbose()) report_rejection(e);
  }
}

}  // namespace fovea::fuzz
