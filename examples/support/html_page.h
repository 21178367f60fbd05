// One HTML page of pictures (issue 10's programs write one per run): a title, a line of text,
// then rows, each a heading, its figures side by side (an image file and its caption) and a
// note under them. Text is escaped; a newline in a caption or note breaks the line. Image paths
// are written as given: give them relative to the page so the folder can move. The page needs
// nothing else (no scripts, no style sheets from elsewhere).
#pragma once

#include <string>
#include <vector>

namespace fovea::viz {

struct Figure {
  std::string file;     // the image, relative to the page
  std::string caption;
};

struct PageRow {
  std::string heading;
  std::vector<Figure> figures;
  std::string note;
};

std::string html_escape(const std::string& text);

// Writes the page at `path` (replaced atomically).
void write_html_page(const std::string& path, const std::string& title, const std::string& intro,
                     const std::vector<PageRow>& rows);

}  // namespace fovea::viz
