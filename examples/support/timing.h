// Timing for the benchmark programs: the median of repeated runs after untimed warm-up runs
// (these machines are noisy; a median resists the outliers a mean would take in).
#pragma once

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
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

// The options the kernel micro-benchmarks (bench_ops, bench_conv) share.
struct Options {
  int threads = 2, warmup = 3, repeat;
  bool json = false;
  std::string only;

  explicit Options(int default_repeat) : repeat(default_repeat) {}
  void add_to(CLI::App& app) {
    app.add_option("--threads", threads, "threads for OpenMP and OpenBLAS")
        ->check(CLI::PositiveNumber);
    app.add_option("--warmup", warmup, "untimed runs before timing");
    app.add_option("--repeat", repeat, "timed runs (median reported)")->check(CLI::PositiveNumber);
    app.add_option("--only", only, "run only benchmarks whose name contains this");
    app.add_flag("--json", json, "one JSON object per line instead of a table");
  }
  bool selected(const std::string& name) const {
    return only.empty() || name.find(only) != std::string::npos;
  }
};

}  // namespace fovea::bench
