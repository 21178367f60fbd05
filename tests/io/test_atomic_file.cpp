// write_file_atomically: the bytes land whole under the target's name and nothing else is left;
// a failed write keeps the old file. Temporary files are told apart by their lock, not by the
// pid in their name: the next write of the same file removes those no process holds locked (a
// killed writer's), whatever their pid, and keeps those a live writer holds (in this process or
// another), those of other files and other names. link_file_atomically gives a file a second
// name the same way; io::read_file reads a whole file or names it in the error.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

#include <atomic>
#include <climits>
#include <thread>

#include "engine/core/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/file.h"
#include "io/io_support.h"

using namespace fovea;
using test::contains;
using test::read_file;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

// No process has this pid (Linux caps pids at 2^22): a pid check would call its file stale.
const std::string kDeadPid = std::to_string(INT_MAX);

// An open file description of `path` holding its exclusive lock, as a writer does.
struct LockedHere {
  int fd;
  explicit LockedHere(const std::string& path) : fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  }
  ~LockedHere() { ::close(fd); }
  LockedHere(const LockedHere&) = delete;
  LockedHere& operator=(const LockedHere&) = delete;
};

// A child process that locks `path` and waits to be killed, as a writer that dies in the middle
// of a write. fork() without exec: the child makes async-signal-safe calls only, since this
// process may run threads.
class LockingChild {
 public:
  explicit LockingChild(const std::string& path) {
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(path.c_str(), O_RDONLY);
      const char ok = fd >= 0 && ::flock(fd, LOCK_EX) == 0 ? 'y' : 'n';
      if (::write(ready[1], &ok, 1) != 1) ::_exit(1);
      for (;;) ::pause();
    }
    ::close(ready[1]);
    char ok = 'n';
    locked_ = pid_ > 0 && ::read(ready[0], &ok, 1) == 1 && ok == 'y';
    ::close(ready[0]);
  }
  ~LockingChild() { kill(); }
  LockingChild(const LockingChild&) = delete;
  LockingChild& operator=(const LockingChild&) = delete;
  bool locked() const { return locked_; }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  bool locked_ = false;
};

}  // namespace

TEST_CASE("atomic file: chunks are written whole and an overwrite leaves no other file") {
  TempDir dir;
  const std::string path = dir.file("metrics.csv");
  io::write_file_atomically(path, {"epoch,", "loss\n", "", "1,0.5\n"});
  CHECK(read_file(path) == "epoch,loss\n1,0.5\n");
  io::write_file_atomically(path, {"new"});
  CHECK(read_file(path) == "new");
  CHECK(dir.listing() == std::vector<std::string>{"metrics.csv"});
  CHECK(io::temp_path_for(path) == path + ".tmp." + std::to_string(::getpid()));
}

TEST_CASE("atomic file: a failed write names the file and keeps the old one") {
  TempDir dir;
  const std::string path = dir.file("config.json");
  io::write_file_atomically(path, {"old"});
  CHECK_THROWS_WITH_AS(io::write_file_atomically(dir.file("none/config.json"), {"x"}, "train"),
                       contains("train: cannot write " + dir.file("none/config.json") +
                                ": the directory " + dir.file("none") + " does not exist"),
                       Error);
  const std::string sub = dir.file("sub");
  fs::create_directories(fs::path(sub) / "inside");
  CHECK_THROWS_WITH_AS(io::write_file_atomically(sub, {"x"}, "train"),
                       contains("train: cannot rename " + sub + ".tmp."), Error);
  CHECK(read_file(path) == "old");
  CHECK(dir.listing() == std::vector<std::string>{"config.json", "sub"});
}

TEST_CASE("atomic file: the next write removes the unlocked temporary files of its target only") {
  TempDir dir;
  const std::string path = dir.file("checkpoint.safetensors");
  const std::vector<std::string> other_names = {
      "checkpoint.safetensors.tmp.12x",  // not a pid
      "checkpoint.safetensors.tmp.",     // no pid
      "other.csv.tmp." + kDeadPid,       // another file's
      "checkpoint.safetensors.tmpx" + kDeadPid};
  for (const std::string& name : other_names) test::write_text(dir.file(name), "partial");
  // Unlocked: left by writers that died, whether or not a process has their pid now (pid 1,
  // init, always runs; this process too).
  const std::vector<std::string> stale = {"checkpoint.safetensors.tmp.1",
                                          "checkpoint.safetensors.tmp." + kDeadPid,
                                          fs::path(io::temp_path_for(path)).filename().string()};
  for (const std::string& name : stale) test::write_text(dir.file(name), "partial");
  // Locked by another open file of this process: a live writer, whatever its pid says (one of
  // another pid namespace, say).
  const std::string live = dir.file("checkpoint.safetensors.tmp.2" + kDeadPid);
  test::write_text(live, "partial");
  {
    LockedHere writer(live);
    CHECK(io::remove_stale_temp_files(path) == int(stale.size()));
    for (const std::string& name : stale) test::write_text(dir.file(name), "partial");
    io::write_file_atomically(path, {"whole"});
    CHECK(read_file(live) == "partial");
  }
  std::vector<std::string> expected = other_names;
  expected.push_back("checkpoint.safetensors");
  expected.push_back(fs::path(live).filename().string());
  std::sort(expected.begin(), expected.end());
  CHECK(dir.listing() == expected);
  CHECK(read_file(path) == "whole");

  CHECK(io::remove_stale_temp_files(path) == 1);  // its writer let go without renaming it
  CHECK(!fs::exists(live));
}

TEST_CASE("atomic file: a temporary file locked by a live process stays until the process dies") {
  TempDir dir;
  const std::string path = dir.file("metrics.csv");
  // Its pid names no process, as when the writer runs in another pid namespace.
  const std::string temp = dir.file("metrics.csv.tmp." + kDeadPid);
  test::write_text(temp, "partial");
  LockingChild writer(temp);
  REQUIRE(writer.locked());
  io::write_file_atomically(path, {"whole"});
  CHECK(io::remove_stale_temp_files(path) == 0);
  CHECK(read_file(temp) == "partial");
  writer.kill();  // the kernel releases a killed process's locks
  CHECK(io::remove_stale_temp_files(path) == 1);
  CHECK(dir.listing() == std::vector<std::string>{"metrics.csv"});
}

TEST_CASE("atomic file: a cleaner running beside a writer never removes the file being written") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const std::string bytes(1 << 20, 'x');
  constexpr int kWrites = 20;
  std::atomic<bool> done{false};
  std::thread cleaner([&] {
    while (!done) io::remove_stale_temp_files(path);
  });
  int written = 0;
  std::string error;
  try {
    for (; written < kWrites; ++written) io::write_file_atomically(path, {bytes, "end"});
  } catch (const Error& e) {
    error = e.what();
  }
  done = true;
  cleaner.join();
  CHECK_MESSAGE(written == kWrites, error);
  CHECK(read_file(path) == bytes + "end");
  CHECK(dir.listing() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("atomic file: a link gives a file a second name and leaves no temporary file") {
  TempDir dir;
  const std::string from = dir.file("checkpoint.safetensors");
  const std::string to = dir.file("checkpoint.prev.safetensors");
  io::write_file_atomically(from, {"first"});
  io::write_file_atomically(to, {"older"});
  io::link_file_atomically(from, to);
  CHECK(fs::equivalent(from, to));
  CHECK(read_file(to) == "first");
  // Already one file: a rename of the temporary name over `to` would do nothing and leave it.
  io::link_file_atomically(from, to);
  CHECK(dir.listing() ==
        std::vector<std::string>{"checkpoint.prev.safetensors", "checkpoint.safetensors"});

  io::write_file_atomically(from, {"second"});  // a new file under the name; `to` keeps the old
  CHECK(read_file(to) == "first");
  CHECK_THROWS_WITH_AS(io::link_file_atomically(dir.file("missing"), to, "save_checkpoint"),
                       contains("save_checkpoint: cannot read " + dir.file("missing") + ": "),
                       Error);
  CHECK(read_file(to) == "first");
}

TEST_CASE("read_file: the whole file or an error naming it") {
  TempDir dir;
  std::string bytes(3 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = char(i * 7 % 251);
  io::write_file_atomically(dir.file("data.bin"), {bytes});
  CHECK(io::read_file(dir.file("data.bin"), "test") == bytes);
  test::write_text(dir.file("empty"), "");
  CHECK(io::read_file(dir.file("empty"), "test").empty());
  CHECK_THROWS_WITH_AS(io::read_file(dir.file("missing"), "image_folder"),
                       contains("image_folder: cannot read " + dir.file("missing") +
                                ": No such file or directory"),
                       Error);
  CHECK_THROWS_WITH_AS(io::read_file(dir.path.string(), "image_folder"),
                       contains("image_folder: cannot read " + dir.path.string() +
                                ": not a regular file"),
                       Error);
}
