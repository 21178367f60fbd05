#include "support/html_page.h"

#include <sstream>

#include "engine/io/atomic_file.h"

namespace fovea::viz {

namespace {

// Escaped, with each newline a line break.
std::string text_html(const std::string& text) {
  std::string out;
  for (char c : html_escape(text)) out += c == '\n' ? std::string("<br>") : std::string(1, c);
  return out;
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

void write_html_page(const std::string& path, const std::string& title, const std::string& intro,
                     const std::vector<PageRow>& rows) {
  std::ostringstream os;
  os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
     << html_escape(title) << "</title>\n<style>\n"
     << "body { font-family: sans-serif; margin: 1.5em; }\n"
     << "figure { display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }\n"
     << "figcaption { font-size: 0.9em; max-width: 24em; }\n"
     << ".note { font-family: monospace; font-size: 0.9em; }\n</style>\n</head>\n<body>\n"
     << "<h1>" << html_escape(title) << "</h1>\n<p>" << text_html(intro) << "</p>\n";
  for (const PageRow& row : rows) {
    os << "<section>\n<h2>" << html_escape(row.heading) << "</h2>\n";
    for (const Figure& f : row.figures)
      os << "<figure><img src=\"" << html_escape(f.file) << "\" alt=\"" << html_escape(f.caption)
         << "\"><figcaption>" << text_html(f.caption) << "</figcaption></figure>\n";
    if (!row.note.empty()) os << "<p class=\"note\">" << text_html(row.note) << "</p>\n";
    os << "</section>\n";
  }
  os << "</body>\n</html>\n";
  const std::string page = os.str();
  io::write_file_atomically(path, {page}, "html page");
}

}  // namespace fovea::viz
