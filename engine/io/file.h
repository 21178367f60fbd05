// Reading a whole file: the one reader of the engine's callers that take a file in one piece
// (checkpoint copies, image files), so that each reports a failure the same way.
#pragma once

#include <string>

namespace fovea::io {

// The bytes of the file at `path`. A missing, unreadable or non-regular file (a folder) is a
// fovea::Error that starts with `who`, names the file and says why: "<who>: cannot read <path>:
// <reason>".
std::string read_file(const std::string& path, const char* who);

}  // namespace fovea::io
