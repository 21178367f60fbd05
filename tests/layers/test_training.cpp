// End to end without real data: an MLP learns a synthetic 3-class image problem through the
// DataLoader, CrossEntropyLoss and SGD, and its state_dict carries what it learned.
#include <doctest/doctest.h>

#include "layers/layers.h"

using namespace fovea;

namespace {

// 300 images of 1 x 4 x 4: class c has a bright row c (0..2) over random background noise.
std::shared_ptr<data::InMemoryDataset> stripes(uint64_t seed) {
  Generator gen(seed);
  const int64_t n = 300;
  std::vector<uint8_t> px(static_cast<size_t>(n * 16));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = gen.randint(3);
    labels[size_t(i)] = c;
    for (int64_t p = 0; p < 16; ++p)
      px[size_t(i * 16 + p)] = uint8_t(p / 4 == c ? 150 + gen.randint(100) : gen.randint(120));
  }
  return std::make_shared<data::InMemoryDataset>(std::move(px), std::move(labels),
                                                 std::array<int64_t, 3>{1, 4, 4}, 3, "stripes");
}

double accuracy(nn::Module& model, data::DataLoader& loader) {
  NoGradGuard no_grad;
  int64_t correct = 0, total = 0;
  for (const data::Batch& b : loader) {
    const std::vector<int64_t> predicted = argmax(model(b.images), 1).to_vector<int64_t>();
    const std::vector<int64_t> y = b.labels.to_vector<int64_t>();
    for (size_t i = 0; i < y.size(); ++i) correct += predicted[i] == y[i];
    total += b.size();
  }
  return double(correct) / double(total);
}

}  // namespace

TEST_CASE("training: an MLP learns a synthetic problem with SGD and the DataLoader") {
  auto train_set = stripes(1), test_set = stripes(2);
  const auto [mean, sd] = train_set->channel_stats();
  train_set->set_normalization(mean, sd);
  test_set->set_normalization(mean, sd);
  data::DataLoader train_loader(train_set, 16, true, false, 3), test_loader(test_set, 100);

  manual_seed(4);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(16, 8),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(8, 3)});
  nn::CrossEntropyLoss criterion;
  optim::SGD opt(model->parameters(), 0.05, 0.9, 1e-4);

  const double before = accuracy(*model, test_loader);
  double first_loss = 0, last_loss = 0;
  for (int epoch = 0; epoch < 5; ++epoch) {
    double total = 0;
    for (const data::Batch& b : train_loader) {
      Tensor loss = criterion((*model)(b.images), b.labels);
      opt.zero_grad();
      loss.backward();
      opt.step();
      total += loss.item();
    }
    (epoch == 0 ? first_loss : last_loss) = total / double(train_loader.num_batches());
  }
  const double after = accuracy(*model, test_loader);
  CHECK(before < 0.6);
  CHECK(after > 0.95);
  CHECK(last_loss < 0.5 * first_loss);

  // a fresh model loaded from the state dict predicts the same
  manual_seed(5);
  auto copy = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(16, 8),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(8, 3)});
  copy->load_state_dict(model->state_dict());
  CHECK(accuracy(*copy, test_loader) == after);
}
