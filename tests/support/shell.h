// Running a program from a test and reading what it printed (through a shell command line with
// its arguments quoted).
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

namespace fovea::test {

struct CommandResult {
  int exit_code = -1;  // -1 when the program did not exit normally (a signal)
  std::string output;  // stdout, and stderr when asked for
};

// 'text' for a POSIX shell: single quotes, with each ' written as '\''.
inline std::string shell_quote(const std::string& text) {
  std::string q = "'";
  for (char c : text) {
    if (c == '\'')
      q.append("'\\''");
    else
      q.push_back(c);
  }
  q.push_back('\'');
  return q;
}

// Runs `args` (the first is the program) with `env` ("NAME=value" entries) added to the
// environment; stderr is dropped unless `with_stderr`.
inline CommandResult run_command(const std::vector<std::string>& args,
                                 const std::vector<std::string>& env = {},
                                 bool with_stderr = true) {
  std::string line = "env";  // appends, not operator+ chains: GCC 12 warns falsely on those
  for (const std::string& e : env) line.append(" ").append(shell_quote(e));
  for (const std::string& a : args) line.append(" ").append(shell_quote(a));
  line.append(with_stderr ? " 2>&1" : " 2>/dev/null");
  CommandResult r;
  FILE* pipe = ::popen(line.c_str(), "r");
  if (!pipe) return r;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

}  // namespace fovea::test
