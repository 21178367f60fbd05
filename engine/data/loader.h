// DataLoader: batches of a Dataset in a (shuffled) order, as PyTorch's DataLoader with the
// default collate: {images float32 [B, C, H, W], labels int64 [B]}.
//
//   DataLoader loader(train_set, 64, /*shuffle=*/true, /*drop_last=*/false, /*seed=*/1);
//   for (int epoch = 0; epoch < epochs; ++epoch)
//     for (const Batch& batch : loader) { ... }   // each pass is the next epoch
//
// The order of epoch e is a permutation drawn from a Generator seeded from (seed, e) only, so a
// run is reproducible, and a resumed run continues with set_epoch(e). The last batch is smaller
// when the batch size does not divide the dataset, unless drop_last.
#pragma once

#include <memory>
#include <vector>

#include "engine/data/dataset.h"

namespace fovea::data {

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, int64_t batch_size, bool shuffle = false,
             bool drop_last = false, uint64_t seed = 0);

  const Dataset& dataset() const { return *dataset_; }
  int64_t batch_size() const { return batch_size_; }
  int64_t num_batches() const;  // per epoch
  int64_t num_examples() const;  // per epoch (all of the dataset unless drop_last cuts some)

  // The epoch that the next pass (begin()) iterates; each begin() advances it by one.
  int64_t epoch() const { return epoch_; }
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  // Dataset indices in the order epoch `e` visits them.
  std::vector<int64_t> order(int64_t epoch) const;
  // Batch number `b` of an epoch whose order is `order`.
  Batch batch(const std::vector<int64_t>& order, int64_t b) const;

  class Iterator {
   public:
    Iterator(const DataLoader* loader, std::shared_ptr<const std::vector<int64_t>> order,
             int64_t b);
    const Batch& operator*() const { return current_; }
    const Batch* operator->() const { return &current_; }
    Iterator& operator++();
    bool operator!=(const Iterator& o) const { return b_ != o.b_; }
    bool operator==(const Iterator& o) const { return b_ == o.b_; }
    int64_t index() const { return b_; }  // the batch number within the epoch

   private:
    void load();
    const DataLoader* loader_;
    std::shared_ptr<const std::vector<int64_t>> order_;
    int64_t b_;
    Batch current_;
  };
  Iterator begin();  // starts epoch epoch() and advances the counter
  Iterator end() const;

 private:
  std::shared_ptr<const Dataset> dataset_;
  int64_t batch_size_;
  bool shuffle_, drop_last_;
  uint64_t seed_;
  int64_t epoch_ = 0;
};

}  // namespace fovea::data
