#include "engine/data/image_bytes.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "engine/core/error.h"
#include "engine/data/image.h"

namespace fovea::data {

namespace {

using Bytes = std::vector<uint8_t>;

bool starts_with(const Bytes& b, std::string_view magic) {
  return b.size() >= magic.size() && std::equal(magic.begin(), magic.end(), b.begin(),
                                                [](char m, uint8_t c) { return uint8_t(m) == c; });
}

// The byte at `i`, or 0 past the end, as stb reads it.
uint8_t at(const Bytes& b, size_t i) { return i < b.size() ? b[i] : 0; }

uint32_t be16(const Bytes& b, size_t i) { return uint32_t(at(b, i)) << 8 | at(b, i + 1); }

uint64_t be32(const Bytes& b, size_t i) { return uint64_t(be16(b, i)) << 16 | be16(b, i + 2); }

// Which Huffman tables (DC, AC; ids 0..3) DHT segments have defined so far.
using DefinedTables = bool[2][4];

// The tables of the DHT segment whose length field is at `pos`, read as stb reads them: while
// bytes of the segment remain, a class/id byte, 16 code counts, then as many symbols.
void check_dht(const Bytes& b, size_t pos, DefinedTables& defined, const std::string& path) {
  int64_t left = int64_t(be16(b, pos)) - 2;
  for (size_t p = pos + 2; left > 0;) {
    int64_t codes = 0;
    for (size_t i = 1; i <= 16; ++i) codes += at(b, p + i);
    FOVEA_CHECK(codes <= 256, "image_folder: ", path, " is a corrupt JPEG: a Huffman table at ",
                "byte ", p, " declares ", codes, " codes (at most 256)");
    const uint8_t table_class = at(b, p) >> 4, id = at(b, p) & 15;
    if (table_class <= 1 && id <= 3) defined[table_class][id] = true;  // stb refuses the rest
    p += size_t(17 + codes);
    left -= 17 + codes;
  }
}

// The scan header (SOS) whose length field is at `pos` may only use Huffman tables that a DHT
// segment defined before it: stb 2.27 decodes with an undefined table's uninitialised memory
// and indexes its symbol array with garbage (found by fuzzing). Which tables a scan decodes
// with, as stb does: a baseline scan its components' DC and AC tables; a progressive scan of
// the DC coefficients (Ss = 0) the DC tables in its first pass (Ah = 0) only, one of AC
// coefficients the AC tables.
void check_sos(const Bytes& b, size_t pos, bool progressive, const DefinedTables& defined,
               const std::string& path) {
  const size_t components = at(b, pos + 2), after = pos + 3 + 2 * components;
  const uint8_t spectral_start = at(b, after), high_bit = at(b, after + 2) >> 4;
  const bool dc = !progressive || (spectral_start == 0 && high_bit == 0);
  const bool ac = !progressive || spectral_start > 0;
  for (size_t i = 0; i < components; ++i) {
    const uint8_t tables = at(b, pos + 4 + 2 * i), dc_id = tables >> 4, ac_id = tables & 15;
    FOVEA_CHECK(!dc || dc_id > 3 || defined[0][dc_id], "image_folder: ", path,
                " is a corrupt JPEG: the scan at byte ", pos, " uses DC Huffman table ", int(dc_id),
                ", which no DHT segment before it defines");
    FOVEA_CHECK(!ac || ac_id > 3 || defined[1][ac_id], "image_folder: ", path,
                " is a corrupt JPEG: the scan at byte ", pos, " uses AC Huffman table ", int(ac_id),
                ", which no DHT segment before it defines");
  }
}

// Walks the JPEG's markers as stb does: fill bytes (FF) before a marker, stray bytes between
// segments skipped, a segment skipped by its length, and after a scan header (SOS) its
// entropy-coded data up to the next marker (FF 00 and the restart markers FF D0..D7 are data).
void check_jpeg(const Bytes& b, size_t start, const std::string& path) {
  const size_t n = b.size();
  DefinedTables defined = {};
  bool progressive = false;
  for (size_t pos = start; pos < n;) {
    if (b[pos] != 0xFF) {
      ++pos;
      continue;
    }
    while (pos < n && b[pos] == 0xFF) ++pos;
    if (pos >= n) return;
    const uint8_t marker = b[pos++];
    if (marker == 0xD9) return;  // end of image
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;
    if (marker == 0xC2) progressive = true;  // SOF2
    if (marker == 0xC4) check_dht(b, pos, defined, path);
    if (marker == 0xDA) check_sos(b, pos, progressive, defined, path);
    pos += be16(b, pos);
    if (marker != 0xDA) continue;
    while (pos + 1 < n && !(b[pos] == 0xFF && b[pos + 1] != 0 && (b[pos + 1] & 0xF8) != 0xD0))
      ++pos;
  }
}

// Where a JPEG's segments start (after its SOI marker, FF D8), or 0 when it is not one. stb
// skips fill bytes (FF) before the SOI as before any marker.
size_t jpeg_start(const Bytes& b) {
  size_t p = 0;
  while (p < b.size() && b[p] == 0xFF) ++p;
  return p > 0 && p < b.size() && b[p] == 0xD8 ? p + 1 : 0;
}

// Every chunk (length, type, data, CRC) that starts in `b` must fit in the file, up to IEND.
void check_png(const Bytes& b, uint64_t file_size, const std::string& path) {
  for (size_t pos = 8; pos + 8 <= b.size();) {
    const uint64_t length = be32(b, pos);
    FOVEA_CHECK(length + 12 <= file_size - pos, "image_folder: ", path,
                " is a truncated or corrupt PNG: the chunk at byte ", pos, " declares ", length,
                " bytes, more than the file holds");
    if (std::equal(b.begin() + long(pos) + 4, b.begin() + long(pos) + 8, "IEND")) return;
    pos += size_t(length) + 12;
  }
}

// PNM's maxval, read as stb reads the header: "P5" or "P6", then width, height and maxval as
// decimal numbers, each after whitespace and '#' comments.
int64_t pnm_maxval(const Bytes& b) {
  size_t p = 2;
  auto skip = [&] {
    for (;;) {
      while (p < b.size() && std::isspace(b[p])) ++p;
      if (p >= b.size() || b[p] != '#') return;
      while (p < b.size() && b[p] != '\n' && b[p] != '\r') ++p;
    }
  };
  auto number = [&] {
    int64_t v = 0;
    for (; p < b.size() && std::isdigit(b[p]); ++p)
      v = std::min<int64_t>(v * 10 + (b[p] - '0'), 1 << 30);
    return v;
  };
  int64_t v = 0;
  for (int field = 0; field < 3; ++field) {
    skip();
    v = number();
  }
  return v;
}

int64_t max_pixels_per_byte(const Bytes& b) {
  if (starts_with(b, "\x89PNG\r\n\x1A\n")) return 8256;
  if (starts_with(b, "GIF8")) return 4096;
  if (jpeg_start(b) > 0) return 1024;
  return 64;
}

}  // namespace

void check_pixel_count(const Bytes& head, uint64_t file_size, int64_t pixels,
                       const std::string& path) {
  FOVEA_CHECK(pixels <= kMaxImagePixels, "image_folder: ", path, " has ", pixels,
              " pixels, more than the limit of ", kMaxImagePixels);
  // Past kMaxImagePixels bytes any allowed count fits; the bound keeps the product small.
  const int64_t fits =
      max_pixels_per_byte(head) * int64_t(std::min<uint64_t>(file_size, kMaxImagePixels));
  FOVEA_CHECK(pixels <= fits, "image_folder: ", path, " declares ", pixels, " pixels, more than ",
              "its ", file_size, " bytes can hold: the file is truncated or corrupt");
}

void check_image_bytes(const Bytes& head, uint64_t file_size, const std::string& path) {
  if (const size_t start = jpeg_start(head); start > 0) check_jpeg(head, start, path);
  if (starts_with(head, "\x89PNG\r\n\x1A\n")) check_png(head, file_size, path);
  if (starts_with(head, "P5") || starts_with(head, "P6")) {
    const int64_t maxval = pnm_maxval(head);
    FOVEA_CHECK(maxval <= 255, "image_folder: ", path, " is a 16-bit PNM (maxval ", maxval,
                "), which is not supported");
  }
  for (const auto& [magic, format] : {std::pair<std::string_view, const char*>{"8BPS", "Photoshop"},
                                      {"\x53\x80\xF6\x34", "Softimage PIC"},
                                      {"#?RADIANCE\n", "Radiance HDR"},
                                      {"#?RGBE\n", "Radiance HDR"}})
    FOVEA_CHECK(!starts_with(head, magic), "image_folder: ", path, " is a ", format,
                " image; image folders hold JPEG, PNG, BMP, GIF, PNM or TGA files");
}

}  // namespace fovea::data
