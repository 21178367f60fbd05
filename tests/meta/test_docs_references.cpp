// docs/tour.md points at exact lines ("`mean`, `engine/ops/reduce.cpp:164`"), and code moves:
// these tests keep the pointers honest. A reference is one or more identifiers in backticks
// (separated by ", " or " / "), then ", ", " (" or " at ", then `path:line` and perhaps more
// lines (" / :79"). Identifiers and lines pair up in order when their counts agree; otherwise
// one of the identifiers must be on each line. An identifier matches a line that contains its
// last "::" component ("SE::forward" needs "forward"). A bare file name ("reduce.cpp") is the
// last path with that name earlier on the same line, else the only file of that name in the
// source folders. Every other `path:line` or `path:first-last` in backticks (a test's line, a
// reference without an identifier) must at least name an existing file and lines inside it.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/temp_files.h"

namespace fs = std::filesystem;

namespace {

struct Checked {
  int references = 0;  // identifiers checked against their lines
  int locations = 0;   // `path:line` tokens checked to exist
  std::vector<std::string> problems;
};

fs::path source_root() { return fs::path(FOVEA_TEST_FIXTURES).parent_path().parent_path(); }

std::vector<std::string> lines_of(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The file a reference names: a path as written, or a bare name resolved as the header says.
std::string resolve(const std::string& name, const std::string& line_before, const fs::path& root,
                    std::string& problem) {
  if (name.find('/') != std::string::npos) return name;
  static const std::regex path_re(R"([\w.-]+(?:/[\w.-]+)+\.(?:cpp|h|cu|cuh))");
  std::string found;
  for (std::sregex_iterator it(line_before.begin(), line_before.end(), path_re), end; it != end;
       ++it)
    if (fs::path(it->str()).filename() == name) found = it->str();
  if (!found.empty()) return found;
  std::vector<std::string> hits;
  for (const char* dir : {"engine", "layers", "attention", "cuda", "tests", "examples"})
    for (const auto& e : fs::recursive_directory_iterator(root / dir))
      if (e.is_regular_file() && e.path().filename() == name)
        hits.push_back(fs::relative(e.path(), root).string());
  if (hits.size() == 1) return hits[0];
  problem = name + " names " + std::to_string(hits.size()) + " files; write its path";
  return "";
}

std::string key_of(std::string identifier) {
  const size_t colons = identifier.rfind("::");
  if (colons != std::string::npos) identifier = identifier.substr(colons + 2);
  if (identifier.size() > 2 && identifier.ends_with("()")) identifier.resize(identifier.size() - 2);
  return identifier;
}

// Whether line `text` holds `identifier` (an identifier without a key, "X::", never matches).
bool holds(const std::string& text, const std::string& identifier) {
  const std::string key = key_of(identifier);
  return !key.empty() && text.find(key) != std::string::npos;
}

// Every `path:line` and `path:first-last` token of `line`: an existing file, lines inside it.
void check_locations(const std::string& line, const std::string& where, const fs::path& root,
                     Checked& c) {
  static const std::regex token_re(R"(`([\w./-]+\.(?:cpp|h|cu|cuh|py)):(\d+)(?:-(\d+))?`)");
  for (std::sregex_iterator it(line.begin(), line.end(), token_re), end; it != end; ++it) {
    const std::smatch& m = *it;
    ++c.locations;
    std::string problem;
    const std::string file =
        resolve(m[1].str(), line.substr(0, size_t(m.position(1))), root, problem);
    if (file.empty() || !fs::is_regular_file(root / file)) {
      c.problems.push_back(where + (problem.empty() ? file + " does not exist" : problem));
      continue;
    }
    const int count = int(lines_of(root / file).size());
    const int first = std::stoi(m[2].str()), last = m[3].matched ? std::stoi(m[3].str()) : first;
    if (first < 1 || last < first || last > count)
      c.problems.push_back(where + m.str() + " is outside " + file + " (" +
                           std::to_string(count) + " lines)");
  }
}

// Checks every reference of `text` (a markdown document) against the sources under `root`.
Checked check_references(const std::string& text, const fs::path& root, const std::string& doc) {
  static const std::regex ref_re(R"(((?:`[^`]+`(?:, | / ))*`[^`]+`)(?:, | \(| at ))"
                                  R"(`([\w./-]+\.(?:cpp|h|cu|cuh)):(\d+)(?:-\d+)?`((?: / :\d+)*))");
  static const std::regex name_re(R"(`([^`]+)`)"), more_re(R"(:(\d+))");
  Checked c;
  std::istringstream in(text);
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    const std::string where = doc + ":" + std::to_string(number) + ": ";
    for (std::sregex_iterator it(line.begin(), line.end(), ref_re), end; it != end; ++it) {
      const std::smatch& m = *it;
      std::vector<std::string> names;
      const std::string names_text = m[1].str(), more = m[4].str();
      for (std::sregex_iterator n(names_text.begin(), names_text.end(), name_re); n != end; ++n)
        names.push_back((*n)[1].str());
      std::vector<int> lines{std::stoi(m[3].str())};
      for (std::sregex_iterator l(more.begin(), more.end(), more_re); l != end; ++l)
        lines.push_back(std::stoi((*l)[1].str()));
      std::string problem;
      const std::string file =
          resolve(m[2].str(), line.substr(0, size_t(m.position(2))), root, problem);
      if (file.empty() || !fs::is_regular_file(root / file)) continue;  // check_locations says
      const std::vector<std::string> source = lines_of(root / file);
      auto text_at = [&](int n) -> std::string {
        return n >= 1 && size_t(n) <= source.size() ? source[size_t(n) - 1] : "";
      };
      auto report = [&](const std::string& what, int n) {
        c.problems.push_back(where + what + " is not on " + file + ":" + std::to_string(n) +
                             " (\"" + text_at(n) + "\")");
      };
      if (names.size() == lines.size()) {
        for (size_t i = 0; i < names.size(); ++i, ++c.references)
          if (!holds(text_at(lines[i]), names[i])) report("`" + names[i] + "`", lines[i]);
        continue;
      }
      for (int n : lines) {
        ++c.references;
        bool any = false;
        for (const std::string& name : names) any = any || holds(text_at(n), name);
        if (!any) report("none of " + names_text, n);
      }
    }
    check_locations(line, where, root, c);
  }
  return c;
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("docs: every file:line reference of the tour names the code on that line") {
  const fs::path root = source_root();
  const Checked c = check_references(read_text(root / "docs/tour.md"), root, "docs/tour.md");
  for (const std::string& p : c.problems) FAIL_CHECK(p);
  // The tour holds about 60 identifier references and 75 locations; a parser that finds none
  // fails here.
  CHECK(c.references >= 50);
  CHECK(c.locations >= 70);
}

TEST_CASE("docs: a stale, ambiguous or missing reference is reported with its place") {
  const fovea::test::TempDir dir;
  const fs::path root = dir.path;
  fs::create_directories(root / "engine/ops");
  fs::create_directories(root / "engine/cpu");
  for (const char* d : {"layers", "attention", "cuda", "tests", "examples"})
    fs::create_directories(root / d);
  std::ofstream(root / "engine/ops/reduce.cpp") << "// top\nTensor mean(x) {\nTensor sum(x) {\n";
  std::ofstream(root / "engine/cpu/reduce.cpp") << "void sum_cpu() {\n";
  std::ofstream(root / "layers/norm.cpp") << "\nTensor BatchNorm::forward(x) {\n";
  std::ofstream(root / "tests/t.cpp") << "a\nb\nc\n";
  const std::string doc =
      "| `mean`, `engine/ops/reduce.cpp:2` | `BatchNorm::forward`, `norm.cpp:2` |\n"  // good
      "| `mean` / `sum`, `engine/ops/reduce.cpp:2` / :3, then `sum`, `reduce.cpp:3` |\n"  // good
      "| `mean`, `engine/ops/reduce.cpp:3` |\n"        // stale: line 3 holds sum
      "| `sum_cpu` at `reduce.cpp:1` |\n"              // two files named reduce.cpp
      "| `mean` (`engine/ops/gone.cpp:1`) |\n"         // no such file
      "| `mean` / `sum`, `engine/ops/reduce.cpp:3` / :2 |\n"  // swapped pair: both wrong
      "| the test at `tests/t.cpp:2-9` |\n";  // a range past the end
  const Checked c = check_references(doc, root, "x.md");
  CHECK(c.references == 8);
  CHECK(c.locations == 9);
  REQUIRE(c.problems.size() == 6);
  CHECK(c.problems[0] ==
        "x.md:3: `mean` is not on engine/ops/reduce.cpp:3 (\"Tensor sum(x) {\")");
  CHECK(c.problems[1] == "x.md:4: reduce.cpp names 2 files; write its path");
  CHECK(c.problems[2] == "x.md:5: engine/ops/gone.cpp does not exist");
  CHECK(c.problems[3].rfind("x.md:6: `mean` is not on engine/ops/reduce.cpp:3", 0) == 0);
  CHECK(c.problems[4].rfind("x.md:6: `sum` is not on engine/ops/reduce.cpp:2", 0) == 0);
  CHECK(c.problems[5] == "x.md:7: `tests/t.cpp:2-9` is outside tests/t.cpp (3 lines)");
}
