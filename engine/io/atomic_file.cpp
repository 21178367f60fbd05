#include "engine/io/atomic_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "engine/core/error.h"
#include "engine/io/file.h"
#include "engine/io/posix_fd.h"

namespace fovea::io {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kTempInfix = ".tmp.";

// Tries at finding a temporary name that leads to the file just opened and locked; each lost
// try means another process unlinked or renamed it in between, which a few writes at once do
// rarely, so running out means something keeps replacing it.
constexpr int kOpenTries = 100;

fs::path parent_of(const std::string& path) {
  const fs::path dir = fs::path(path).parent_path();
  return dir.empty() ? fs::path(".") : dir;
}

void check_directory(const std::string& path, const char* who) {
  const fs::path dir = parent_of(path);
  std::error_code ec;
  FOVEA_CHECK(fs::is_directory(dir, ec), who, ": cannot write ", path, ": the directory ",
              dir.string(), fs::exists(dir, ec) ? " is not a directory" : " does not exist");
}

void write_all(int fd, const std::string& tmp, std::string_view bytes, const char* who) {
  const char* p = bytes.data();
  size_t n = bytes.size();
  while (n > 0) {
    const ssize_t r = ::write(fd, p, std::min<size_t>(n, 1u << 30));
    if (r < 0 && errno == EINTR) continue;
    FOVEA_CHECK(r > 0, who, ": writing ", tmp, " failed: ", r < 0 ? errno_text() : "no progress");
    p += r;
    n -= size_t(r);
  }
}

// Whether `name` is a temporary file of `target`: "<target>.tmp.<digits>".
bool is_temp_name(const std::string& name, const std::string& target) {
  const size_t digits = target.size() + kTempInfix.size();
  return name.size() > digits && name.starts_with(target) &&
         name.compare(target.size(), kTempInfix.size(), kTempInfix) == 0 &&
         std::all_of(name.begin() + std::ptrdiff_t(digits), name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

// Whether the name `path` still leads to the open file `fd` (not unlinked nor replaced).
bool still_named(int fd, const std::string& path) {
  struct stat held {}, named {};
  return ::fstat(fd, &held) == 0 && ::lstat(path.c_str(), &named) == 0 &&
         held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

// Waits for the exclusive lock of `fd` (a cleaner holds it for a moment; a writer of the same
// temporary name in another pid namespace until its rename). A file system without flock
// refuses it: the write goes on unlocked, and as cleaners cannot lock the file either, they
// leave it alone.
void lock_exclusive(int fd) {
  while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
  }
}

// The empty temporary file `tmp`, created (or a dead writer's leftover reused) and locked. Between
// the open and the lock, a cleaner or the writer that held it may unlink or rename the file; the
// name then leads elsewhere, and the next try opens what it leads to now.
int open_locked_temp(const std::string& tmp, const char* who) {
  for (int tries = 1;; ++tries) {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    FOVEA_CHECK(fd >= 0, who, ": cannot create ", tmp, ": ", errno_text());
    lock_exclusive(fd);
    if (still_named(fd, tmp)) {
      if (::ftruncate(fd, 0) == 0) return fd;
      const std::string why = errno_text();
      ::close(fd);
      FOVEA_FAIL(who, ": cannot empty ", tmp, ": ", why);
    }
    ::close(fd);
    FOVEA_CHECK(tries < kOpenTries, who, ": cannot create ", tmp,
                ": other processes keep replacing it");
  }
}

// Removes the temporary file `path` unless a writer holds its lock. Only the holder of a
// temporary file's lock renames or unlinks it, and no file can be created under a name that is
// taken, so the name that still leads to the locked file once the lock is held keeps leading to
// it until the unlink.
bool remove_if_unlocked(const std::string& path) {
  // O_NONBLOCK: a FIFO of that name must not hang the open.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0 || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return false;
  struct stat st {};
  return ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && still_named(fd.get(), path) &&
         ::unlink(path.c_str()) == 0;
}

}  // namespace

std::string temp_path_for(const std::string& path) {
  return path + std::string(kTempInfix) + std::to_string(::getpid());
}

int remove_stale_temp_files(const std::string& path) {
  const std::string target = fs::path(path).filename().string();
  std::vector<std::string> temps;
  std::error_code ec;
  for (fs::directory_iterator it(parent_of(path), ec), end; !ec && it != end; it.increment(ec))
    if (is_temp_name(it->path().filename().string(), target)) temps.push_back(it->path().string());
  int removed = 0;
  for (const std::string& temp : temps) removed += remove_if_unlocked(temp) ? 1 : 0;
  return removed;
}

void sync_parent_directory(const std::string& path) {
  Fd fd(::open(parent_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

void write_file_atomically(const std::string& path, const std::vector<std::string_view>& chunks,
                           const char* who) {
  check_directory(path, who);
  remove_stale_temp_files(path);
  const std::string tmp = temp_path_for(path);
  Fd fd(open_locked_temp(tmp, who));
  try {
    for (std::string_view chunk : chunks) write_all(fd.get(), tmp, chunk, who);
    FOVEA_CHECK(::fsync(fd.get()) == 0, who, ": fsync of ", tmp, " failed: ", errno_text());
    FOVEA_CHECK(::rename(tmp.c_str(), path.c_str()) == 0, who, ": cannot rename ", tmp, " to ",
                path, ": ", errno_text());
  } catch (...) {
    ::unlink(tmp.c_str());  // still locked, so still this write's file
    throw;
  }
  // The lock goes with the descriptor, only now that the rename is done. A failed close loses
  // nothing: the bytes were synced.
  fd.close();
  sync_parent_directory(path);
}

void link_file_atomically(const std::string& from, const std::string& to, const char* who) {
  // A rename between two names of one file does nothing, which would leave the temporary name.
  std::error_code ec;
  if (fs::equivalent(from, to, ec)) return;
  remove_stale_temp_files(to);
  const std::string tmp = temp_path_for(to);
  // link() refuses a taken name, so the temporary name is this call's own, locked right after
  // (a cleaner that takes the lock first removes it, and the copy below takes over).
  if (::link(from.c_str(), tmp.c_str()) == 0) {
    Fd fd(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() >= 0) {
      lock_exclusive(fd.get());
      if (still_named(fd.get(), tmp)) {
        if (::rename(tmp.c_str(), to.c_str()) == 0) return;
        ::unlink(tmp.c_str());
      }
    }
  }
  write_file_atomically(to, {read_file(from, who)}, who);
}

}  // namespace fovea::io
