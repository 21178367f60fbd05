// Checks on the bytes of an image file before stb_image decodes them.
//
// fovea decodes images with Debian 12's stb_image (2.27), which trusts a few fields of a file
// more than it should: found by fuzzing (tests/fuzz/fuzz_image.cpp), each made a file of a few
// hundred bytes corrupt memory or allocate gigabytes. These checks refuse such files first, with
// a fovea::Error naming the file, and leave every well-formed file to stb:
//   - JPEG: a Huffman table (DHT segment) of more than 256 codes (stb writes past its tables);
//   - PNG: a chunk longer than the rest of the file (stb allocates the declared length first);
//   - PNM of 16 bits (maxval > 255): stb converts their channels as 8-bit data, then reads past
//     the converted image;
//   - the formats stb reads that image folders do not hold (PSD, PIC, HDR) are refused, which
//     keeps their decoders out of reach;
//   - a header may not declare more pixels than its format can pack into the file (stb would
//     allocate them all, then decode past the end of the data as zeros): a 33-byte TGA declared
//     49 million.
//
// The checks take `head`, the first bytes of a file (all of it, or a prefix), and the file's
// size. ImageFolder runs check_image_bytes on a prefix when it only wants the header (indexing
// with skip_unreadable, shape_of: the first 64 KiB, more when the header lies further in), which
// is all stbi_info reads then, and check_image_bytes and check_pixel_count on the whole file
// before stb decodes it. On a prefix each check sees what the prefix holds: the magic numbers
// and the PNM header (at the start), the JPEG Huffman tables in it (a progressive JPEG's tables
// after its first scan are checked when it is decoded), the PNG chunks that start in it
// (measured against the whole file's size). So a prefix of a good file always passes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fovea::data {

void check_image_bytes(const std::vector<uint8_t>& head, uint64_t file_size,
                       const std::string& path);

// That `pixels` (width x height from the header) is at most kMaxImagePixels (image.h) and fits
// in the file's file_size bytes (its format is told by `head`): at most 8256 pixels a byte for
// PNG (deflate's 1032:1 of 1-bit pixels), 4096 for GIF (LZW), 1024 for JPEG (a Huffman code of
// at least a bit per 8 x 8 block, 512), 64 for the rest (TGA's run-length packets; BMP and PNM
// are not compressed).
void check_pixel_count(const std::vector<uint8_t>& head, uint64_t file_size, int64_t pixels,
                       const std::string& path);

}  // namespace fovea::data
