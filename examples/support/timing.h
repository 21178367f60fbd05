// Timing for the benchmark programs: the median of repeated runs after untimed warm-up runs
// (these machines are noisy; a median resists the outliers a mean would take in).
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace fovea::bench {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Median seconds of `repeat` calls of fn after `warmup` untimed ones.
inline double median_seconds(const std::function<void()>& fn, int warmup, int repeat) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return median(t);
}

}  // namespace fovea::bench
