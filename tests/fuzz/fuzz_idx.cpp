// IDX files (engine/data/idx.h), plain and gzip-compressed. The first input byte picks how the
// rest reaches the reader:
//   even: written as is, so a gzip stream in the corpus (magic 1f 8b) exercises zlib's
//         handling of corrupt and truncated streams, anything else the plain path;
//   odd:  gzip-compressed here first, so the IDX header and sizes behind a valid stream are
//         mutated as freely as in a plain file.
// An array that reads is then loaded as the images of an MNIST-layout folder (with as many
// labels as it has rows), which checks the dims further and builds a dataset from them.
#include <zlib.h>

#include <cstdlib>

#include "engine/data/idx.h"
#include "fuzz_support.h"

namespace {

std::string write_gzip(const std::string& name, const uint8_t* data, size_t size) {
  uLongf bound = compressBound(uLong(size)) + 32;
  std::vector<uint8_t> out(bound);
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer rather than zlib's.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    std::abort();
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = uInt(size);
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return fovea::fuzz::write_file(name, out.data(), out.size());
}

// Labels for `n` images, all class 0, so that the images file alone decides what happens.
void write_labels(const std::string& name, int64_t n) {
  std::vector<uint8_t> bytes{0, 0, 8, 1, uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8),
                             uint8_t(n)};
  bytes.resize(bytes.size() + size_t(n), 0);
  fovea::fuzz::write_file(name, bytes.data(), bytes.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fovea;
  if (size == 0) return 0;
  const bool compress = data[0] & 1;
  const std::string name = "train-images-idx3-ubyte";
  const std::string path = compress ? write_gzip(name + ".gz", data + 1, size - 1)
                                    : fuzz::write_file(name, data + 1, size - 1);
  // Only one of the two names may exist: the loader prefers the .gz one.
  std::remove((fuzz::scratch_dir() + "/" + (compress ? name : name + ".gz")).c_str());
  fuzz::accept_or_reject([&] {
    const data::IdxArray a = data::read_idx(path);
    if (a.dims.size() != 3 || a.dims[0] > (1 << 16)) return;  // keeps the labels file small
    write_labels("train-labels-idx1-ubyte", a.dims[0]);
    const auto ds = data::load_mnist(fuzz::scratch_dir(), /*train=*/true);
    if (ds->size() > 0) ds->get(ds->size() - 1);
  });
  return 0;
}
