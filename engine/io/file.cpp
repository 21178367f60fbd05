#include "engine/io/file.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

#include "engine/core/error.h"
#include "engine/io/posix_fd.h"

namespace fovea::io {

std::string read_file(const std::string& path, const char* who) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  FOVEA_CHECK(fd.get() >= 0, who, ": cannot read ", path, ": ", errno_text());
  struct stat st {};
  FOVEA_CHECK(::fstat(fd.get(), &st) == 0, who, ": cannot read ", path, ": ", errno_text());
  FOVEA_CHECK(S_ISREG(st.st_mode), who, ": cannot read ", path, ": not a regular file");
  // The size is a first guess only: the loop reads until the end, should the file change.
  std::string bytes(size_t(std::max<off_t>(st.st_size, 0)) + 1, '\0');
  size_t have = 0;
  for (;;) {
    if (have == bytes.size()) bytes.resize(2 * bytes.size());
    const ssize_t r = ::read(fd.get(), bytes.data() + have, bytes.size() - have);
    if (r < 0 && errno == EINTR) continue;
    FOVEA_CHECK(r >= 0, who, ": cannot read ", path, ": ", errno_text());
    if (r == 0) break;
    have += size_t(r);
  }
  bytes.resize(have);
  return bytes;
}

}  // namespace fovea::io
