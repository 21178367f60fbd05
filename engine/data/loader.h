// DataLoader: batches of a Dataset in a (shuffled) order, as PyTorch's DataLoader with the
// default collate: {images float32 [B, C, H, W], labels int64 [B]}.
//
//   DataLoader loader(train_set, {.batch_size = 128, .shuffle = true, .seed = 1,
//                                 .num_workers = 2});
//   for (int epoch = 0; epoch < epochs; ++epoch)
//     for (const Batch& batch : loader) { ... }   // each pass is the next epoch
//
// The order of epoch e is a permutation drawn from a Generator seeded from (seed, e) only, and
// the dataset builds each batch from its indices and EpochKey{seed, e} only (augmentation draws
// from (seed, e, index); see transforms.h), so a run is reproducible, a resumed run continues
// with set_epoch(e), and batches are the same whatever num_workers is. The last batch is
// smaller when the batch size does not divide the dataset, unless drop_last.
//
// Workers. With num_workers = 0 the consuming thread builds each batch when it is asked for (a
// dataset's get_batch may still use OpenMP threads inside). With num_workers = n > 0, n
// threads build the batches of the epoch ahead of the consumer, at most n * prefetch batches
// ahead; the consumer receives them in batch order. Inside a worker OpenMP is limited to one
// thread (a SerialRegion, core/parallel.h), so n workers use n cores for data and do not
// multiply with the OpenMP pool of the training kernels; on a machine with few cores, 1-2
// workers hide CIFAR augmentation or JPEG decoding behind the training step. An exception in a
// worker is rethrown, unchanged (same type and message), when the consumer reaches that batch.
// Leaving the loop early (break, exception) stops the workers: the iterator's destructor waits
// for the batches in progress and joins the threads.
#pragma once

#include <memory>
#include <vector>

#include "engine/data/dataset.h"

namespace fovea::data {

struct LoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = false;
  bool drop_last = false;
  uint64_t seed = 0;
  int num_workers = 0;  // background threads building batches; 0: the consumer builds them
  int prefetch = 2;     // batches in flight per worker
};

namespace detail {
class EpochRun;  // the batches of one pass and, with workers, the threads that build them
}

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, const LoaderOptions& options);
  DataLoader(std::shared_ptr<const Dataset> dataset, int64_t batch_size, bool shuffle = false,
             bool drop_last = false, uint64_t seed = 0);

  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }
  int64_t batch_size() const { return options_.batch_size; }
  int64_t num_batches() const;   // per epoch
  int64_t num_examples() const;  // per epoch (all of the dataset unless drop_last cuts some)

  // The epoch that the next pass (begin()) iterates; each begin() advances it by one.
  int64_t epoch() const { return epoch_; }
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  // Dataset indices in the order epoch `e` visits them (all of them, also with drop_last).
  std::vector<int64_t> order(int64_t epoch) const;
  // The dataset indices of batch `b` of an epoch whose order is `order`.
  std::vector<int64_t> batch_indices(const std::vector<int64_t>& order, int64_t b) const;
  // Batch `b` of epoch `epoch`, whose order is `order`, built on this thread.
  Batch batch(const std::vector<int64_t>& order, int64_t b, int64_t epoch) const;

  // Move-only: two copies would take the same batches from one pass.
  class Iterator {
   public:
    Iterator(std::shared_ptr<detail::EpochRun> run, int64_t b);
    Iterator(Iterator&&) = default;
    Iterator& operator=(Iterator&&) = default;
    Iterator(const Iterator&) = delete;
    Iterator& operator=(const Iterator&) = delete;
    const Batch& operator*() const { return current_; }
    const Batch* operator->() const { return &current_; }
    Iterator& operator++();
    bool operator!=(const Iterator& o) const { return b_ != o.b_; }
    bool operator==(const Iterator& o) const { return b_ == o.b_; }
    int64_t index() const { return b_; }  // the batch number within the epoch

   private:
    void load();
    std::shared_ptr<detail::EpochRun> run_;
    int64_t b_;
    Batch current_;
  };
  Iterator begin();  // starts epoch epoch() (and its workers) and advances the counter
  Iterator end() const;

 private:
  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  int64_t epoch_ = 0;
};

}  // namespace fovea::data
