// fovea::Error and the FOVEA_CHECK macro.
//
// Every user-facing failure in fovea is a fovea::Error whose message starts with the name of
// the op (or file, or module) that refused, followed by the shapes/dtypes/values involved, e.g.
//   "add: shapes [2, 3] and [4] cannot be broadcast together".
// FOVEA_CHECK streams its message arguments only when the condition fails, so a check costs
// one branch on the hot path.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace fovea {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Args>
std::string cat_message(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace fovea

#define FOVEA_CHECK(cond, ...)                                               \
  do {                                                                       \
    if (!(cond)) throw ::fovea::Error(::fovea::detail::cat_message(__VA_ARGS__)); \
  } while (0)

#define FOVEA_FAIL(...) throw ::fovea::Error(::fovea::detail::cat_message(__VA_ARGS__))
