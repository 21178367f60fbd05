// A POSIX file descriptor that closes itself, and errno as text: shared by the file writers and
// readers of engine/io.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace fovea::io {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int close() {
    const int r = fd_ >= 0 ? ::close(fd_) : 0;
    fd_ = -1;
    return r;
  }

 private:
  int fd_;
};

inline std::string errno_text() { return std::strerror(errno); }

}  // namespace fovea::io
