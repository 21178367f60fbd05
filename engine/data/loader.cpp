#include "engine/data/loader.h"

#include <algorithm>
#include <numeric>

#include "engine/core/random.h"

namespace fovea::data {

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, int64_t batch_size, bool shuffle,
                       bool drop_last, uint64_t seed)
    : dataset_(std::move(dataset)),
      batch_size_(batch_size),
      shuffle_(shuffle),
      drop_last_(drop_last),
      seed_(seed) {
  FOVEA_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
  FOVEA_CHECK(batch_size_ > 0, "DataLoader: batch_size must be positive, got ", batch_size_);
}

int64_t DataLoader::num_batches() const {
  const int64_t n = dataset_->size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

int64_t DataLoader::num_examples() const {
  return drop_last_ ? num_batches() * batch_size_ : dataset_->size();
}

std::vector<int64_t> DataLoader::order(int64_t epoch) const {
  const int64_t n = dataset_->size();
  std::vector<int64_t> idx(static_cast<size_t>(n));
  if (!shuffle_) {
    std::iota(idx.begin(), idx.end(), int64_t(0));
    return idx;
  }
  // Seeds for different epochs of one run, and for the same epoch of runs with neighbouring
  // seeds, are spread by the odd constant; Generator's seeding scrambles them further.
  Generator gen(seed_ ^ (uint64_t(epoch) + 1) * 0x9e3779b97f4a7c15ULL);
  const Tensor perm = randperm(n, &gen);
  const int64_t* p = perm.data<int64_t>();
  idx.assign(p, p + n);
  return idx;
}

Batch DataLoader::batch(const std::vector<int64_t>& order, int64_t b) const {
  FOVEA_CHECK(b >= 0 && b < num_batches(), "DataLoader: batch ", b, " is out of range for ",
              num_batches(), " batches");
  const auto first = order.begin() + b * batch_size_;
  const auto last = order.begin() + std::min<int64_t>((b + 1) * batch_size_, int64_t(order.size()));
  return dataset_->get_batch(std::vector<int64_t>(first, last));
}

DataLoader::Iterator DataLoader::begin() {
  auto ord = std::make_shared<const std::vector<int64_t>>(order(epoch_++));
  return Iterator(this, std::move(ord), 0);
}

DataLoader::Iterator DataLoader::end() const { return Iterator(this, nullptr, num_batches()); }

DataLoader::Iterator::Iterator(const DataLoader* loader,
                               std::shared_ptr<const std::vector<int64_t>> order, int64_t b)
    : loader_(loader), order_(std::move(order)), b_(b) {
  load();
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  ++b_;
  load();
  return *this;
}

void DataLoader::Iterator::load() {
  current_ = order_ && b_ < loader_->num_batches() ? loader_->batch(*order_, b_) : Batch{};
}

}  // namespace fovea::data
