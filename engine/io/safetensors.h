// safetensors files: the public format of https://github.com/huggingface/safetensors, so weights
// written here load in PyTorch, JAX or Rust and theirs load here.
//
//   bytes 0..8     N, the header length, u64 little-endian
//   bytes 8..8+N   UTF-8 JSON: {"__metadata__": {"key": "value", ...},
//                               "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]},
//                               ...}
//                  padded with spaces so that 8 + N is a multiple of 8
//   bytes 8+N..    the data buffer: each tensor's elements row-major, little-endian, at
//                  [b, e) relative to the buffer start; the ranges tile the buffer exactly
//
// fovea reads and writes F32, F64 and I64 (its dtypes); a file holding another dtype (F16, BF16,
// ...) is refused with an error naming it. Writing is atomic (engine/io/atomic_file.h): the bytes
// go to "<path>.tmp.<pid>", are fsync'ed and renamed over `path`, so a crash, SIGKILL, power loss
// or a failed write leaves either the old file or the new one, never a torn one. Reading validates
// the whole file before trusting any of it (sizes, JSON, fields, dtypes, offsets) and every failure
// is a fovea::Error that names the file and the problem.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/tensor.h"

namespace fovea::io {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct SafetensorsFile {
  NamedTensors tensors;                         // in buffer order (= write order for fovea's files)
  std::map<std::string, std::string> metadata;  // "__metadata__"; empty when the file has none

  bool contains(const std::string& name) const;
  const Tensor& at(const std::string& name) const;  // error naming the key when absent
};

// Writes `tensors` in the given order (names unique, non-empty, not "__metadata__"; tensors
// defined; any device and layout: they are copied to contiguous CPU memory). `metadata` becomes
// "__metadata__" and is omitted when empty, as the reference implementation does.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads a whole file into fresh, contiguous CPU tensors.
SafetensorsFile load_safetensors(const std::string& path);

// The dtype names of the format ("F32", "F64", "I64") for fovea's dtypes.
const char* safetensors_dtype_name(DType dtype);

}  // namespace fovea::io
