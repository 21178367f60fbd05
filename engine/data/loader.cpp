#include "engine/data/loader.h"

#include "engine/core/parallel.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

#include "engine/core/random.h"

namespace fovea::data {

namespace detail {

// The indices of batch b: order[b * batch_size, min((b + 1) * batch_size, n)).
std::vector<int64_t> batch_slice(const std::vector<int64_t>& order, int64_t b,
                                 int64_t batch_size) {
  const int64_t first = b * batch_size;
  const int64_t last = std::min<int64_t>(first + batch_size, int64_t(order.size()));
  return std::vector<int64_t>(order.begin() + first, order.begin() + last);
}

// One pass over the data. Without workers, take(b) builds batch b on the calling thread. With
// workers, each claims the next unbuilt batch (while fewer than `window` are ahead of the
// consumer), builds it, and files it (or its exception) under its number; take(b) waits for
// batch b. Batches are pure functions of (indices, key), so which worker builds which does not
// change what the consumer gets.
class EpochRun {
 public:
  EpochRun(std::shared_ptr<const Dataset> dataset, std::vector<int64_t> order, EpochKey key,
           const LoaderOptions& options, int64_t num_batches)
      : dataset_(std::move(dataset)),
        order_(std::move(order)),
        key_(key),
        batch_size_(options.batch_size),
        num_batches_(num_batches),
        window_(int64_t(options.num_workers) * std::max(1, options.prefetch)) {
    const int workers = int(std::min<int64_t>(options.num_workers, num_batches_));
    threads_.reserve(size_t(std::max(0, workers)));
    try {
      for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
    } catch (...) {  // the system refused a thread: stop the ones that started
      stop_and_join();
      throw;
    }
  }

  ~EpochRun() { stop_and_join(); }

  EpochRun(const EpochRun&) = delete;
  EpochRun& operator=(const EpochRun&) = delete;

  int64_t num_batches() const { return num_batches_; }

  Batch build(int64_t b) const {
    return dataset_->get_batch(batch_slice(order_, b, batch_size_), key_);
  }

  Batch take(int64_t b) {
    if (threads_.empty()) return build(b);
    Outcome got;
    {
      std::unique_lock<std::mutex> lock(m_);
      cv_.wait(lock, [&] { return ready_.count(b) > 0; });
      got = std::move(ready_[b]);
      ready_.erase(b);
      consumed_ = b + 1;
    }
    cv_.notify_all();  // a worker may be waiting for room in the window
    if (got.error) std::rethrow_exception(got.error);
    return std::move(got.batch);
  }

 private:
  void stop_and_join() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  struct Outcome {
    Batch batch;
    std::exception_ptr error;
  };

  void work() {
    // The parallelism of a worker is the worker: a dataset's parallel_for runs on this thread
    // alone instead of starting an OpenMP team per worker (core/parallel.h).
    SerialRegion serial;
    for (;;) {
      int64_t b = 0;
      {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [&] {
          return stop_ || next_ >= num_batches_ || next_ < consumed_ + window_;
        });
        if (stop_ || next_ >= num_batches_) return;
        b = next_++;
      }
      Outcome out;
      try {
        out.batch = build(b);
      } catch (...) {
        out.error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(m_);
        ready_[b] = std::move(out);
      }
      cv_.notify_all();
    }
  }

  const std::shared_ptr<const Dataset> dataset_;
  const std::vector<int64_t> order_;
  const EpochKey key_;
  const int64_t batch_size_, num_batches_, window_;

  std::mutex m_;
  std::condition_variable cv_;
  std::map<int64_t, Outcome> ready_;
  int64_t next_ = 0;      // the next batch a worker claims
  int64_t consumed_ = 0;  // batches the consumer has taken
  bool stop_ = false;
  std::vector<std::thread> threads_;  // last: started after everything they read
};

}  // namespace detail

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, const LoaderOptions& options)
    : dataset_(std::move(dataset)), options_(options) {
  FOVEA_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
  FOVEA_CHECK(options_.batch_size > 0, "DataLoader: batch_size must be positive, got ",
              options_.batch_size);
  FOVEA_CHECK(options_.num_workers >= 0, "DataLoader: num_workers must be >= 0, got ",
              options_.num_workers);
  FOVEA_CHECK(options_.prefetch >= 1, "DataLoader: prefetch must be >= 1, got ", options_.prefetch);
}

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, int64_t batch_size, bool shuffle,
                       bool drop_last, uint64_t seed)
    : DataLoader(std::move(dataset), LoaderOptions{batch_size, shuffle, drop_last, seed}) {}

int64_t DataLoader::num_batches() const {
  const int64_t n = dataset_->size(), bs = options_.batch_size;
  return options_.drop_last ? n / bs : (n + bs - 1) / bs;
}

int64_t DataLoader::num_examples() const {
  return options_.drop_last ? num_batches() * options_.batch_size : dataset_->size();
}

std::vector<int64_t> DataLoader::order(int64_t epoch) const {
  const int64_t n = dataset_->size();
  std::vector<int64_t> idx(static_cast<size_t>(n));
  if (!options_.shuffle) {
    std::iota(idx.begin(), idx.end(), int64_t(0));
    return idx;
  }
  // Seeds for different epochs of one run, and for the same epoch of runs with neighbouring
  // seeds, are spread by the odd constant; Generator's seeding scrambles them further.
  Generator gen(options_.seed ^ (uint64_t(epoch) + 1) * 0x9e3779b97f4a7c15ULL);
  const Tensor perm = randperm(n, &gen);
  const int64_t* p = perm.data<int64_t>();
  idx.assign(p, p + n);
  return idx;
}

std::vector<int64_t> DataLoader::batch_indices(const std::vector<int64_t>& order, int64_t b) const {
  FOVEA_CHECK(b >= 0 && b < num_batches(), "DataLoader: batch ", b, " is out of range for ",
              num_batches(), " batches");
  FOVEA_CHECK(int64_t(order.size()) == dataset_->size(), "DataLoader: an order of ",
              order.size(), " indices for a dataset of ", dataset_->size());
  return detail::batch_slice(order, b, options_.batch_size);
}

Batch DataLoader::batch(const std::vector<int64_t>& order, int64_t b, int64_t epoch) const {
  return dataset_->get_batch(batch_indices(order, b), EpochKey{options_.seed, epoch});
}

DataLoader::Iterator DataLoader::begin() {
  const int64_t e = epoch_++;
  auto run = std::make_shared<detail::EpochRun>(dataset_, order(e), EpochKey{options_.seed, e},
                                                options_, num_batches());
  return Iterator(std::move(run), 0);
}

DataLoader::Iterator DataLoader::end() const { return Iterator(nullptr, num_batches()); }

DataLoader::Iterator::Iterator(std::shared_ptr<detail::EpochRun> run, int64_t b)
    : run_(std::move(run)), b_(b) {
  load();
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  ++b_;
  load();
  return *this;
}

void DataLoader::Iterator::load() {
  current_ = Batch{};
  if (!run_) return;
  if (b_ < run_->num_batches()) {
    current_ = run_->take(b_);
  } else {
    run_.reset();  // the pass is over: stop and join its workers now
  }
}

}  // namespace fovea::data
