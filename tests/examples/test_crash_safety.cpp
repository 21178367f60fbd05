// Crash safety of training runs, with the real train binary (FOVEA_TRAIN_BIN) as a child
// process: killed with SIGKILL at seeded random moments, over and over (half of the kills
// aimed at a checkpoint write), while it writes a 1.2 MB checkpoint every few tens of
// milliseconds (an MLP on 16 tiny images), it must always leave a folder whose newest good
// checkpoint loads and is no older than before the kill; the folder then resumes and finishes;
// a newest checkpoint damaged by hand (truncated, bytes flipped) makes the resume from the
// folder fall back to the previous one.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "layers/layers.h"
#include "support/idx_files.h"
#include "support/report.h"
#include "support/temp_files.h"

extern char** environ;

using namespace fovea;
namespace fs = std::filesystem;
using train::Clock;
using test::read_file;
using train::seconds_since;

namespace {

constexpr int kKills = 32;
constexpr int64_t kHidden = 2048, kClasses = 10;  // MNIST's 10 classes

// 16 training and 8 test images of 8x8 noise in MNIST's layout.
void write_tiny_mnist(const test::TempDir& dir) {
  std::mt19937 gen(5);
  for (const auto& [split, n] : {std::pair<std::string, uint32_t>{"train", 16}, {"t10k", 8}}) {
    std::vector<uint8_t> pixels(size_t(n) * 64), labels(n);
    for (uint8_t& p : pixels) p = uint8_t(gen());
    for (uint32_t i = 0; i < n; ++i) labels[i] = uint8_t(i % 4);
    test::write_bytes(dir.file(split + "-images-idx3-ubyte"),
                      test::idx_bytes(8, {n, 8, 8}, pixels));
    test::write_bytes(dir.file(split + "-labels-idx1-ubyte"), test::idx_bytes(8, {n}, labels));
  }
}

// The trainer as a child process (posix_spawn: this process has OpenMP threads, so no fork
// without an immediate exec), its output appended to `log`; killed and reaped at scope exit.
class Trainer {
 public:
  Trainer(const std::vector<std::string>& args, const std::string& log) {
    std::vector<char*> argv{const_cast<char*>(FOVEA_TRAIN_BIN)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int rc = posix_spawn(&pid_, FOVEA_TRAIN_BIN, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE_MESSAGE(rc == 0, "cannot start ", FOVEA_TRAIN_BIN);
  }
  ~Trainer() { kill(); }
  pid_t pid() const { return pid_; }
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    reap(0);
  }
  // The exit status once it ends within `seconds`; -1 (and killed) when it does not.
  int exit_code_within(double seconds) {
    const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < deadline) {
      int status = 0;
      if (reap(WNOHANG, &status)) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill();
    return -1;
  }

 private:
  bool reap(int options, int* status = nullptr) {
    int s = 0;
    pid_t r;
    while ((r = ::waitpid(pid_, &s, options)) < 0 && errno == EINTR) {
    }
    if (r == 0) return false;
    pid_ = -1;
    if (status) *status = s;
    return true;
  }
  pid_t pid_ = -1;
};

// Names of the temporary files in `folder` ("<name>.tmp.<pid>"), of one process or of all.
std::vector<std::string> temp_files(const fs::path& folder, pid_t pid = 0) {
  const std::string infix = ".tmp." + (pid > 0 ? std::to_string(pid) : "");
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    const size_t at = name.find(infix);
    if (at != std::string::npos && (pid == 0 || at + infix.size() == name.size()))
      out.push_back(name);
  }
  return out;
}

// Loads the folder's newest good checkpoint into the trainer's MLP and its optimiser (the
// checksum, every tensor's shape and the optimiser state are checked); returns its epoch.
int64_t load_newest(const std::string& folder) {
  const nn::LatestCheckpoint found = nn::find_latest_checkpoint(folder);
  CHECK(found.skipped.empty());  // no write, however interrupted, leaves a damaged checkpoint
  auto mlp = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(64, kHidden),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(kHidden, kClasses)});
  optim::SGD sgd(mlp->parameters(), 0.01, 0.9);
  return nn::load_checkpoint(found.path, found.state.model_desc, *mlp, &sgd).epoch;
}

// Polls for `path` (every `poll` seconds); false after `seconds`.
bool wait_for_file(const std::string& path, double seconds, double poll = 1e-3) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (!fs::exists(path)) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::duration<double>(poll));
  }
  return true;
}

}  // namespace

TEST_CASE("crash safety: a trainer killed at random moments leaves a good checkpoint each time") {
  test::TempDir data, out;
  write_tiny_mnist(data);
  const std::string folder = out.file("run"), log = out.file("train.log");
  const std::string latest = folder + "/checkpoint.safetensors";
  const std::string previous = folder + "/checkpoint.prev.safetensors";
  const std::vector<std::string> args = {
      "--dataset", "mnist", "--data", data.path.string(), "--model", "mlp", "--hidden",
      std::to_string(kHidden), "--epochs", "1000000", "--batch-size", "8", "--lr", "0.01",
      "--threads", "1", "--workers", "0", "--quiet", "--out", folder};
  std::vector<std::string> resume = args;
  resume.insert(resume.end(), {"--resume", folder});
  auto with = [](std::vector<std::string> a, std::initializer_list<std::string> more) {
    a.insert(a.end(), more);
    return a;
  };

  // A fresh run up to its first checkpoint: how long a start and an epoch take here.
  const auto t0 = Clock::now();
  {
    Trainer first(args, log);
    REQUIRE_MESSAGE(wait_for_file(latest, 30), read_file(log));
  }
  const double first_save = seconds_since(t0);
  int64_t newest = load_newest(folder);

  // Even kills: anywhere from before the first save of a resumed run to several saves into it.
  // Odd kills: aimed at a checkpoint write, a few milliseconds after its temporary file appears.
  std::mt19937 gen(20261121);
  std::uniform_real_distribution<double> delay(0.5 * first_save, 2.0 * first_save + 0.05);
  std::uniform_real_distribution<double> into_write(0, 0.004);
  int inside_a_write = 0, inside_a_checkpoint_write = 0;
  const auto kill_start = Clock::now();
  for (int kill = 0; kill < kKills; ++kill) {
    CAPTURE(kill);
    pid_t pid = 0;
    {
      Trainer t(resume, log);
      pid = t.pid();
      if (kill % 2 == 1)
        REQUIRE_MESSAGE(wait_for_file(latest + ".tmp." + std::to_string(pid), 30, 1e-4),
                        read_file(log));
      std::this_thread::sleep_for(
          std::chrono::duration<double>(kill % 2 == 1 ? into_write(gen) : delay(gen)));
    }
    const std::vector<std::string> left = temp_files(folder, pid);
    inside_a_write += !left.empty();
    inside_a_checkpoint_write += std::any_of(left.begin(), left.end(), [](const std::string& n) {
      return n.starts_with("checkpoint");
    });
    CHECK(nn::read_checkpoint_state(latest).epoch >= 1);  // the documented file stays good
    const int64_t epoch = load_newest(folder);
    CHECK(epoch >= newest);  // a kill never loses a completed checkpoint
    newest = epoch;
  }
  MESSAGE(kKills, " kills (", kKills + 1, " folder loads) in ", seconds_since(kill_start),
          " s; first save after ", first_save, " s; ", inside_a_write,
          " kills left a temporary file (killed inside a write), ", inside_a_checkpoint_write,
          " of a checkpoint; newest epoch ", newest);

  // The folder resumes and finishes; every leftover temporary file is gone after it.
  Trainer finish(with(resume, {"--stop-after", "2"}), log);
  REQUIRE_MESSAGE(finish.exit_code_within(60) == 0, read_file(log));
  CHECK(nn::read_checkpoint_state(latest).epoch == newest + 2);
  CHECK(nn::read_checkpoint_state(previous).epoch == newest + 1);
  CHECK(temp_files(folder).empty());

  // A newest checkpoint damaged by hand: the resume from the folder goes on from the previous.
  auto damage_and_resume = [&](const std::string& how, auto damage) {
    CAPTURE(how);
    const int64_t previous_epoch = nn::read_checkpoint_state(previous).epoch;
    std::vector<uint8_t> bytes = test::read_bytes(latest);
    damage(bytes);
    test::write_bytes(latest, bytes);
    const std::string damaged_log = out.file(how + ".log");
    Trainer t(with(resume, {"--stop-after", "1"}), damaged_log);
    REQUIRE_MESSAGE(t.exit_code_within(60) == 0, read_file(damaged_log));
    CHECK(read_file(damaged_log).find("resume: skipping checkpoint.safetensors: ") !=
          std::string::npos);
    CHECK(nn::read_checkpoint_state(latest).epoch == previous_epoch + 1);
  };
  damage_and_resume("truncated", [](std::vector<uint8_t>& b) { b.resize(b.size() * 2 / 3); });
  damage_and_resume("flipped", [](std::vector<uint8_t>& b) {
    for (size_t i = b.size() / 2; i < b.size() / 2 + 4; ++i) b[i] ^= 0xff;
  });
}
