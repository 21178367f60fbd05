// What the trainer shows and writes besides checkpoints: the progress display, the epoch line,
// metrics.csv and curves.png, the confusion matrix (printed and confusion.csv), the metrics'
// JSON form kept in checkpoints, and the process's memory use. Files are written atomically
// (engine/io/atomic_file.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "support/trainer.h"

namespace fovea::train {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0);

// A bar redrawn in place on a terminal, a plain line every tenth of the epoch otherwise (logs,
// pipes), nothing when quiet.
class Progress {
 public:
  Progress(std::ostream& out, int64_t epoch, int64_t epochs, int64_t batches, bool quiet);
  // After `done` of the epoch's batches, `images` images, with these running loss and accuracy.
  void update(int64_t done, int64_t images, double loss, double acc);

 private:
  std::string line(int64_t done, int64_t images, double loss, double acc, bool bar) const;

  std::ostream& out_;
  int64_t epoch_, epochs_, batches_;
  bool quiet_, tty_;
  Clock::time_point start_, last_draw_;
};

// "epoch 3/10: train loss 0.1891, ..., 113.8 s (556 img/s), RSS 412 MiB (peak 530 MiB)"
std::string epoch_line(const EpochMetrics& m, int64_t epochs);

// The process's memory now, filled into `m`: resident set (/proc/self/statm), its peak
// (getrusage's ru_maxrss, at least the resident set), the bytes of CPU tensors alive and their
// peak since the allocator's last reset_peak() (engine/core/cpu_allocator.h).
void record_memory(EpochMetrics& m);

nlohmann::json to_json(const EpochMetrics& m);
// Fields a checkpoint of an older run lacks read as 0.
EpochMetrics from_json(const nlohmann::json& j);

void write_text_file(const std::filesystem::path& path, const std::string& text);
// <dir>/metrics.csv (one row per epoch) and <dir>/curves.png.
void write_metrics(const std::filesystem::path& dir, const std::vector<EpochMetrics>& history);

// The K x K confusion matrix (row = true class) as a table with each class's recall, and as CSV.
std::string confusion_table(const std::vector<int64_t>& confusion,
                            const std::vector<std::string>& names, int64_t classes);
void write_confusion_csv(const std::filesystem::path& path, const std::vector<int64_t>& confusion,
                         const std::vector<std::string>& names, int64_t classes);

}  // namespace fovea::train
