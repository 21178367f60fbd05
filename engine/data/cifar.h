// CIFAR-10 and CIFAR-100 in their official binary layouts (https://www.cs.toronto.edu/~kriz/cifar.html):
//
//   cifar-10-batches-bin/  data_batch_1.bin ... data_batch_5.bin (train), test_batch.bin,
//                          batches.meta.txt (the 10 class names, one a line)
//     record: 1 label byte (0-9), then 3072 pixel bytes: 1024 red, 1024 green, 1024 blue,
//             each 32 x 32 row-major
//   cifar-100-binary/      train.bin, test.bin, fine_label_names.txt, coarse_label_names.txt
//     record: 1 coarse label byte (0-19), 1 fine label byte (0-99), then the 3072 pixel bytes
//
// `dir` is the batches folder itself or the folder that holds it. Files may hold any number
// of whole records (subsets load unchanged): a size that is not a multiple of the record size
// is "truncated", a label out of range names the file and the record. A missing names file
// leaves the classes unnamed. The result is an InMemoryDataset of uint8 [N, 3, 32, 32] with no
// normalisation set (see its channel_stats), usable directly or as the ImageSource of a
// TransformedDataset. Every failure is a fovea::Error starting "cifar10: " or "cifar100: ".
#pragma once

#include <memory>
#include <string>

#include "engine/data/dataset.h"

namespace fovea::data {

std::shared_ptr<InMemoryDataset> load_cifar10(const std::string& dir, bool train);
// Fine labels (100 classes), or the 20 coarse superclasses when coarse_labels.
std::shared_ptr<InMemoryDataset> load_cifar100(const std::string& dir, bool train,
                                               bool coarse_labels = false);

}  // namespace fovea::data
