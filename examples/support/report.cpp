#include "support/report.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/core/cpu_allocator.h"
#include "engine/io/atomic_file.h"
#include "support/plot.h"

namespace fovea::train {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

double mib(int64_t bytes) { return double(bytes) / double(1 << 20); }

// Class k's name, or its number when the dataset names fewer classes.
std::string class_label(const std::vector<std::string>& names, int64_t k) {
  return k < int64_t(names.size()) ? names[size_t(k)] : std::to_string(k);
}

}  // namespace

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

Progress::Progress(std::ostream& out, int64_t epoch, int64_t epochs, int64_t batches, bool quiet)
    : out_(out), epoch_(epoch), epochs_(epochs), batches_(batches), quiet_(quiet),
      tty_(&out == &std::cout && ::isatty(STDOUT_FILENO) != 0), start_(Clock::now()),
      last_draw_(start_) {}

void Progress::update(int64_t done, int64_t images, double loss, double acc) {
  if (quiet_) return;
  const bool last = done == batches_;
  if (tty_) {
    if (!last && seconds_since(last_draw_) < 0.1) return;
    last_draw_ = Clock::now();
    out_ << "\r" << line(done, images, loss, acc, true) << "\x1b[K";
    if (last) out_ << "\r\x1b[K";  // the epoch summary replaces the bar
  } else {
    const int64_t step = std::max<int64_t>(1, batches_ / 10);
    if (done % step != 0 || last) return;
    out_ << line(done, images, loss, acc, false) << "\n";
  }
  out_.flush();
}

std::string Progress::line(int64_t done, int64_t images, double loss, double acc, bool bar) const {
  const double elapsed = seconds_since(start_);
  const double rate = elapsed > 0 ? double(images) / elapsed : 0;
  const double eta = done > 0 ? elapsed * double(batches_ - done) / double(done) : 0;
  // An ostringstream, not string operator+ chains: GCC 12 warns falsely (-Wrestrict) on those.
  std::ostringstream text;
  text << "epoch " << epoch_ << "/" << epochs_ << " ";
  if (bar) {
    constexpr int kWidth = 30;
    const int filled = int(kWidth * done / batches_);
    text << '[' << std::string(size_t(filled), '=') << (filled < kWidth ? ">" : "")
         << std::string(size_t(std::max(0, kWidth - filled - 1)), ' ') << "] ";
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, "%lld/%lld  loss %.4f  acc %.2f%%  %.0f img/s  ETA %.0fs",
                (long long)done, (long long)batches_, loss, 100 * acc, rate, eta);
  text << buf;
  return text.str();
}

std::string epoch_line(const EpochMetrics& m, int64_t epochs) {
  char line[320];
  std::snprintf(line, sizeof line,
                "epoch %lld/%lld: train loss %.4f, train acc %.2f%%, test loss %.4f, test acc "
                "%.2f%%, lr %.4g, %.1f s (%.0f img/s), RSS %.0f MiB (peak %.0f MiB)",
                (long long)m.epoch, (long long)epochs, m.train_loss, 100 * m.train_acc,
                m.test_loss, 100 * m.test_acc, m.lr, m.seconds, m.images_per_second,
                mib(m.rss_bytes), mib(m.peak_rss_bytes));
  return line;
}

void record_memory(EpochMetrics& m) {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) m.peak_rss_bytes = int64_t(usage.ru_maxrss) * 1024;
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  if (statm >> pages >> resident) m.rss_bytes = resident * int64_t(sysconf(_SC_PAGESIZE));
  // The kernel updates the peak lazily, so it can trail the resident size just read.
  m.peak_rss_bytes = std::max(m.peak_rss_bytes, m.rss_bytes);
  const CpuCacheStats stats = cpu_allocator().stats();
  m.tensor_bytes = int64_t(stats.live_bytes);
  m.peak_tensor_bytes = int64_t(stats.peak_live_bytes);
}

json to_json(const EpochMetrics& m) {
  return {{"epoch", m.epoch},          {"lr", m.lr},
          {"train_loss", m.train_loss}, {"train_acc", m.train_acc},
          {"test_loss", m.test_loss},   {"test_acc", m.test_acc},
          {"seconds", m.seconds},       {"images_per_second", m.images_per_second},
          {"train_images", m.train_images}, {"steps", m.steps},
          {"rss_bytes", m.rss_bytes},   {"peak_rss_bytes", m.peak_rss_bytes},
          {"tensor_bytes", m.tensor_bytes}, {"peak_tensor_bytes", m.peak_tensor_bytes}};
}

EpochMetrics from_json(const json& j) {
  EpochMetrics m;
  m.epoch = j.at("epoch");
  m.lr = j.at("lr");
  m.train_loss = j.at("train_loss");
  m.train_acc = j.at("train_acc");
  m.test_loss = j.at("test_loss");
  m.test_acc = j.at("test_acc");
  m.seconds = j.at("seconds");
  m.images_per_second = j.at("images_per_second");
  m.train_images = j.value("train_images", int64_t(0));
  m.steps = j.value("steps", int64_t(0));
  m.rss_bytes = j.value("rss_bytes", int64_t(0));
  m.peak_rss_bytes = j.value("peak_rss_bytes", int64_t(0));
  m.tensor_bytes = j.value("tensor_bytes", int64_t(0));
  m.peak_tensor_bytes = j.value("peak_tensor_bytes", int64_t(0));
  return m;
}

void write_text_file(const fs::path& path, const std::string& text) {
  io::write_file_atomically(path.string(), {text}, "train");
}

void write_metrics(const fs::path& dir, const std::vector<EpochMetrics>& history) {
  std::ostringstream csv;
  csv << "epoch,lr,train_loss,train_acc,test_loss,test_acc,epoch_seconds,images_per_second,"
         "train_images,rss_mib,peak_rss_mib,tensor_mib\n";
  for (const EpochMetrics& m : history) {
    char line[320];
    std::snprintf(line, sizeof line, "%lld,%.6g,%.6f,%.6f,%.6f,%.6f,%.2f,%.1f,%lld,%.1f,%.1f,%.1f\n",
                  (long long)m.epoch, m.lr, m.train_loss, m.train_acc, m.test_loss, m.test_acc,
                  m.seconds, m.images_per_second, (long long)m.train_images, mib(m.rss_bytes),
                  mib(m.peak_rss_bytes), mib(m.tensor_bytes));
    csv << line;
  }
  write_text_file(dir / "metrics.csv", csv.str());
  plot::Series tl{"train", {}, {}, 0x1f77b4}, vl{"test", {}, {}, 0xff7f0e};
  plot::Series ta{"train", {}, {}, 0x1f77b4}, va{"test", {}, {}, 0xff7f0e};
  for (const EpochMetrics& m : history) {
    const double e = double(m.epoch);
    tl.x.push_back(e), tl.y.push_back(m.train_loss);
    vl.x.push_back(e), vl.y.push_back(m.test_loss);
    ta.x.push_back(e), ta.y.push_back(100 * m.train_acc);
    va.x.push_back(e), va.y.push_back(100 * m.test_acc);
  }
  plot::write_line_charts_png((dir / "curves.png").string(),
                              {{"loss", "epoch", "loss", {tl, vl}},
                               {"accuracy", "epoch", "accuracy %", {ta, va}}});
}

std::string confusion_table(const std::vector<int64_t>& confusion,
                            const std::vector<std::string>& names, int64_t classes) {
  std::ostringstream os;
  auto label = [&](int64_t k) {
    std::string s = class_label(names, k);
    return s.size() > 12 ? s.substr(0, 12) : s;
  };
  char cell[32];
  std::snprintf(cell, sizeof cell, "%-13s", "true\\pred");
  os << cell;
  for (int64_t p = 0; p < classes; ++p) {
    std::snprintf(cell, sizeof cell, "%7lld", (long long)p);
    os << cell;
  }
  os << "   recall\n";
  for (int64_t t = 0; t < classes; ++t) {
    std::snprintf(cell, sizeof cell, "%-13s", label(t).c_str());
    os << cell;
    int64_t row = 0;
    for (int64_t p = 0; p < classes; ++p) {
      const int64_t v = confusion[size_t(t * classes + p)];
      row += v;
      std::snprintf(cell, sizeof cell, "%7lld", (long long)v);
      os << cell;
    }
    std::snprintf(cell, sizeof cell, "  %6.2f%%\n",
                  row ? 100.0 * double(confusion[size_t(t * classes + t)]) / double(row) : 0.0);
    os << cell;
  }
  return os.str();
}

void write_confusion_csv(const fs::path& path, const std::vector<int64_t>& confusion,
                         const std::vector<std::string>& names, int64_t classes) {
  std::ostringstream csv;
  csv << "true\\predicted";
  for (int64_t p = 0; p < classes; ++p)
    csv << "," << class_label(names, p);
  csv << "\n";
  for (int64_t t = 0; t < classes; ++t) {
    csv << class_label(names, t);
    for (int64_t p = 0; p < classes; ++p) csv << "," << confusion[size_t(t * classes + p)];
    csv << "\n";
  }
  write_text_file(path, csv.str());
}

}  // namespace fovea::train
