// IDX files: the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).
//
//   bytes 0-1  zero            byte 2  element type (0x08 = unsigned byte; the only one read)
//   byte 3     number of dims  then    one big-endian uint32 per dim, then the elements
//
// read_idx reads gzip-compressed files (.gz, as Debian's dataset-fashion-mnist ships them) and
// plain ones alike, and insists on the exact size: a short file is "truncated", extra bytes are
// "trailing data". Every failure is a fovea::Error that starts with "idx: <path>".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/cpu_allocator.h"
#include "engine/core/shape.h"
#include "engine/data/dataset.h"

namespace fovea::data {

struct IdxArray {
  Shape dims;
  std::vector<uint8_t> data;  // row-major, product(dims) bytes
};

// Data larger than the available memory (available_memory(): MemAvailable by default; tests
// stand in a small machine) is refused before it is read.
IdxArray read_idx(const std::string& path,
                  CpuCachingAllocator::MemoryProbe available_memory = &system_available_memory);

// The MNIST file layout in `dir`: {train,t10k}-{images-idx3,labels-idx1}-ubyte, each with or
// without .gz. Images [N, 28, 28] become a 1-channel InMemoryDataset of 10 classes (no
// normalisation set). Counts of images and labels must agree and labels must be < 10.
std::shared_ptr<InMemoryDataset> load_mnist(const std::string& dir, bool train);
// Fashion-MNIST has MNIST's layout (and class count); only the images differ.
std::shared_ptr<InMemoryDataset> load_fashion_mnist(const std::string& dir, bool train);

}  // namespace fovea::data
