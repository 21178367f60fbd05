// Checkpoints: a model round trip (outputs identical after loading into a fresh model), the
// file's layout, a checkpoint of another model and every broken or foreign file as a named error
// that leaves the target model unchanged; optimiser state round trips, a resumed run that ends
// bit-identical to an uninterrupted one, and optimiser mismatches that change nothing.
#include <doctest/doctest.h>

#include <functional>

#include "io/io_support.h"
#include "layers/layers.h"

using namespace fovea;
using nn::TrainingState;
using test::contains;
using test::identical;
using test::TempDir;

namespace {

const char* kDesc = "mlp(in=6, hidden=5, out=3, bn=true)";

// Linear, BatchNorm (running statistics and an int64 counter as buffers), ReLU, Linear.
std::shared_ptr<nn::Sequential> make_mlp(uint64_t seed, int64_t hidden = 5) {
  manual_seed(seed);
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(6, hidden), std::make_shared<nn::BatchNorm1d>(hidden),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(hidden, 3)});
}

// A few training-mode forwards move the BatchNorm statistics away from their initial values.
void exercise(nn::Module& model) {
  Generator gen(11);
  for (int i = 0; i < 3; ++i) model(randn({8, 6}, DType::Float32, &gen));
}

Tensor eval_output(nn::Module& model) {
  Generator gen(99);
  const Tensor x = randn({4, 6}, DType::Float32, &gen);
  model.eval();
  NoGradGuard no_grad;
  Tensor y = model(x);
  model.train();
  return y;
}

// Deep copies of every tensor, to see that a failed load changed nothing.
std::vector<Tensor> snapshot(const nn::Module& model) {
  std::vector<Tensor> out;
  for (const auto& [name, t] : model.state_dict()) out.push_back(t.clone());
  return out;
}

bool unchanged(const nn::Module& model, const std::vector<Tensor>& before) {
  const nn::StateDict now = model.state_dict();
  if (now.size() != before.size()) return false;
  for (size_t i = 0; i < before.size(); ++i)
    if (!identical(now.items()[i].second, before[i])) return false;
  return true;
}

bool same_optimizer_state(const optim::Optimizer& a, const optim::Optimizer& b) {
  const optim::OptimizerState sa = a.state_dict(), sb = b.state_dict();
  if (sa.meta != sb.meta || sa.tensors.size() != sb.tensors.size()) return false;
  for (size_t i = 0; i < sa.tensors.size(); ++i)
    if (sa.tensors[i].first != sb.tensors[i].first ||
        !identical(sa.tensors[i].second, sb.tensors[i].second))
      return false;
  return true;
}

// A fixed synthetic classification set: 32 rows of 6 features, 3 classes.
struct Data {
  Tensor x, y;
  Data() {
    Generator gen(7);
    x = randn({32, 6}, DType::Float32, &gen);
    std::vector<int64_t> labels;
    for (int i = 0; i < 32; ++i) labels.push_back(gen.randint(3));
    y = from_vector(labels, {32});
  }
};

// One epoch of minibatches of 8 in an order drawn from `shuffle`; the model's dropout draws from
// the default generator. Returns the number of optimiser steps taken.
int64_t train_epoch(nn::Module& model, optim::Optimizer& opt, Generator& shuffle,
                    const Data& data) {
  nn::CrossEntropyLoss criterion;
  const Tensor order = randperm(32, &shuffle);
  for (int64_t b = 0; b < 4; ++b) {
    const Tensor idx = order.slice(0, 8 * b, 8 * (b + 1));
    opt.zero_grad();
    criterion(model(index_select(data.x, 0, idx)), index_select(data.y, 0, idx)).backward();
    opt.step();
  }
  return 4;
}

std::shared_ptr<nn::Sequential> make_dropout_mlp(uint64_t seed) {
  manual_seed(seed);
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(6, 5), std::make_shared<nn::BatchNorm1d>(5),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.3),
      std::make_shared<nn::Linear>(5, 3)});
}

TrainingState sample_state() {
  TrainingState s;
  s.epoch = 3;
  s.step = 1234;
  s.model_desc = kDesc;
  Generator data_gen(5);
  data_gen.normal();  // leaves a cached spare value: the state must carry it too
  s.rng = {{"default", default_generator().state()}, {"data", data_gen.state()}};
  s.extra = {{"best_accuracy", 0.8125}, {"history", {1.5, 0.75}}, {"config", {{"lr", 0.1}}}};
  return s;
}

}  // namespace

TEST_CASE("checkpoint: a model round trips, a fresh model gives identical outputs after loading") {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  auto model = make_mlp(1);
  exercise(*model);
  const TrainingState state = sample_state();
  nn::save_checkpoint(path, *model, nullptr, state);

  auto fresh = make_mlp(2);
  const Tensor expected = eval_output(*model);
  REQUIRE_FALSE(identical(eval_output(*fresh), expected));  // else the test proves nothing

  const TrainingState loaded = nn::load_checkpoint(path, kDesc, *fresh, nullptr);
  CHECK(identical(eval_output(*fresh), expected));
  const nn::StateDict a = model->state_dict(), b = fresh->state_dict();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a.items()[i].first);
    CHECK(identical(a.items()[i].second, b.items()[i].second));
  }
  CHECK(loaded.epoch == 3);
  CHECK(loaded.step == 1234);
  CHECK(loaded.model_desc == kDesc);
  CHECK(loaded.rng == state.rng);
  CHECK(loaded.extra == state.extra);
  // Parameters are still the module's leaves that require grad (copied in place).
  for (const Tensor& p : fresh->parameters()) CHECK((p.requires_grad() && p.is_leaf()));

  // A restored generator continues the same sequence, spare normal included.
  Generator original(5), restored;
  original.normal();
  restored.set_state(loaded.rng.at("data"));
  for (int i = 0; i < 3; ++i) CHECK(restored.normal() == original.normal());

  CHECK(nn::read_checkpoint_state(path).extra == state.extra);
}

TEST_CASE("checkpoint: the file is a plain safetensors file with prefixed names and metadata") {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  auto model = make_mlp(1);
  nn::save_checkpoint(path, *model, nullptr, sample_state());
  const io::SafetensorsFile file = io::load_safetensors(path);

  std::vector<std::string> expected_names;
  for (const auto& [key, t] : model->state_dict()) expected_names.push_back("model." + key);
  std::vector<std::string> names;
  for (const auto& [name, t] : file.tensors) names.push_back(name);
  CHECK(names == expected_names);
  CHECK(file.contains("model.1.num_batches_tracked"));
  CHECK(file.at("model.1.num_batches_tracked").dtype() == DType::Int64);

  CHECK(file.metadata.at("format") == "fovea-checkpoint");
  CHECK(file.metadata.at("format_version") == "2");
  CHECK(file.metadata.at("checksum").starts_with("crc32:"));
  CHECK(file.metadata.at("model") == kDesc);
  CHECK(file.metadata.at("epoch") == "3");
  CHECK(file.metadata.at("step") == "1234");
  CHECK(nlohmann::json::parse(file.metadata.at("extra")) == sample_state().extra);
  CHECK(nlohmann::json::parse(file.metadata.at("rng"))["data"] == sample_state().rng.at("data"));
  CHECK(file.metadata.count("optim") == 0);
}

TEST_CASE("checkpoint: a checkpoint of another model is a clear error and the model is unchanged") {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  auto model = make_mlp(1);
  nn::save_checkpoint(path, *model, nullptr, sample_state());

  auto target = make_mlp(2);
  const std::vector<Tensor> before = snapshot(*target);
  REQUIRE_FALSE(unchanged(*model, before));  // the two models differ, so a load would show
  SUBCASE("another description") {
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, "resnet20(num_classes=10)", *target, nullptr),
                         contains("load_checkpoint: " + path +
                                  " is a checkpoint of another model: "
                                  "it holds \"" +
                                  kDesc +
                                  "\", this run builds "
                                  "\"resnet20(num_classes=10)\""),
                         Error);
    CHECK(unchanged(*target, before));
  }
  SUBCASE("the same description but other shapes") {
    auto wider = make_mlp(2, 7);
    const std::vector<Tensor> wider_before = snapshot(*wider);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, kDesc, *wider, nullptr),
                         contains("load_checkpoint: " + path +
                                  ": Sequential.load_state_dict: "
                                  "shape mismatch for \"0.weight\": the state dict has [5, 6], the "
                                  "module has [7, 6]"),
                         Error);
    CHECK(unchanged(*wider, wider_before));
  }
  SUBCASE("the same description but other layers") {
    auto deeper = make_mlp(2);
    deeper->push_back(std::make_shared<nn::Linear>(3, 3));
    const std::vector<Tensor> deeper_before = snapshot(*deeper);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, kDesc, *deeper, nullptr),
                         contains("the state dict does not match the module; missing keys: "
                                  "\"4.weight\", \"4.bias\""),
                         Error);
    CHECK(unchanged(*deeper, deeper_before));
  }
  SUBCASE("another dtype") {
    target->to(DType::Float64);
    const std::vector<Tensor> f64_before = snapshot(*target);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, kDesc, *target, nullptr),
                         contains("dtype mismatch for \"0.weight\": the state dict has float32, "
                                  "the module has float64"),
                         Error);
    CHECK(unchanged(*target, f64_before));
  }
}

TEST_CASE("checkpoint: foreign, newer and damaged checkpoints are named errors") {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  auto model = make_mlp(1);
  nn::save_checkpoint(path, *model, nullptr, sample_state());
  const io::SafetensorsFile good = io::load_safetensors(path);

  struct Case {
    std::string key, value;  // metadata entry to change ("" erases it)
    std::string error;
  };
  const std::vector<Case> cases = {
      {"format", "",
       " is not a fovea checkpoint (its metadata has no \"format\", expected "
       "\"fovea-checkpoint\")"},
      {"format", "other", " is not a fovea checkpoint (its metadata has \"format\": \"other\""},
      {"format_version", "3", " has format_version \"3\"; this build reads versions 1 to 2"},
      {"format_version", "", ": the metadata has no \"format_version\""},
      {"model", "", ": the metadata has no \"model\""},
      {"epoch", "three", ": \"epoch\" is \"three\", not a non-negative integer"},
      {"epoch", "3x", ": \"epoch\" is \"3x\", not a non-negative integer"},
      {"step", "-1", ": \"step\" is \"-1\", not a non-negative integer"},
      {"step", "", ": the metadata has no \"step\""},
      {"extra", "{oops", ": \"extra\" is not valid JSON ("},
      {"rng", "[1]", ": \"rng\" must be a JSON object, got [1]"},
      {"rng", R"({"default": 7})", ": rng \"default\" must be a string, got 7"},
      {"rng", R"({"default": "garbage"})",
       ": rng \"default\": Generator::set_state: cannot parse state \"garbage\""},
  };
  auto target = make_mlp(2);
  const std::vector<Tensor> before = snapshot(*target);
  for (const Case& c : cases) {
    CAPTURE(c.key);
    CAPTURE(c.value);
    // Version 1 files have no checksum, so the parsers behind it see the change.
    std::map<std::string, std::string> meta = test::as_version_1(good.metadata);
    if (c.value.empty())
      meta.erase(c.key);
    else
      meta[c.key] = c.value;
    io::save_safetensors(path, good.tensors, meta);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, kDesc, *target, nullptr),
                         contains("load_checkpoint: " + path + c.error), Error);
    CHECK(unchanged(*target, before));
  }

  // A tensor outside the two namespaces (in a version 1 file: in a later one, the checksum
  // refuses any added tensor first).
  io::NamedTensors tensors = good.tensors;
  tensors.emplace_back("stray", ones({1}));
  io::save_safetensors(path, tensors, test::as_version_1(good.metadata));
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, kDesc, *target, nullptr),
                       contains("load_checkpoint: " + path + ": unexpected tensor \"stray\""),
                       Error);
  // A file that is not safetensors at all.
  test::write_bytes(path, {'n', 'o', 't', ' ', 'a', ' ', 'c', 'k', 'p', 't'});
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, kDesc, *target, nullptr),
                       contains("load_safetensors: " + path + ": header length"), Error);
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(dir.file("missing.ckpt"), kDesc, *target, nullptr),
                       contains(dir.file("missing.ckpt") + " does not exist"), Error);
  CHECK(unchanged(*target, before));
}

TEST_CASE("checkpoint: saving checks its inputs and a failed save keeps the previous checkpoint") {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  auto model = make_mlp(1);
  nn::save_checkpoint(path, *model, nullptr, sample_state());
  const std::vector<uint8_t> old_bytes = test::read_bytes(path);

  TrainingState s = sample_state();
  s.model_desc = "";
  CHECK_THROWS_WITH_AS(nn::save_checkpoint(path, *model, nullptr, s),
                       contains("save_checkpoint: " + path + ": the model description is empty"),
                       Error);
  s = sample_state();
  s.step = -5;
  CHECK_THROWS_WITH_AS(nn::save_checkpoint(path, *model, nullptr, s),
                       contains("epoch and step must be non-negative, got epoch 3, step -5"),
                       Error);
  s = sample_state();
  s.extra = {{"name", "bad\xff"}};
  CHECK_THROWS_WITH_AS(
      nn::save_checkpoint(path, *model, nullptr, s),
      contains("save_checkpoint: " + path + ": \"extra\" cannot be written as JSON"), Error);
  CHECK(test::read_bytes(path) == old_bytes);
  CHECK(dir.listing() == std::vector<std::string>{"run.ckpt"});
}

TEST_CASE("checkpoint: optimiser state round trips (SGD momentum, Adam moments, steps, options)") {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  const Data data;
  using MakeOpt = std::function<std::unique_ptr<optim::Optimizer>(nn::Module&, double lr)>;
  const std::vector<std::pair<std::string, MakeOpt>> makers = {
      {"SGD",
       [](nn::Module& m, double lr) {
         return std::make_unique<optim::SGD>(
             m.parameters(),
             optim::SGDOptions{.lr = lr, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
       }},
      {"Adam", [](nn::Module& m, double lr) {
         return std::make_unique<optim::Adam>(m.parameters(),
                                              optim::AdamOptions{.lr = lr, .amsgrad = true});
       }}};
  for (const auto& maker : makers) {
    const auto& name = maker.first;
    const auto& make = maker.second;
    CAPTURE(name);
    auto model = make_mlp(1);
    auto opt = make(*model, 0.05);
    Generator shuffle(3);
    train_epoch(*model, *opt, shuffle, data);
    opt->set_lr(0.02);  // as a schedule would; the saved options carry it
    nn::save_checkpoint(path, *model, opt.get(), sample_state());

    const io::SafetensorsFile file = io::load_safetensors(path);
    CHECK(nlohmann::json::parse(file.metadata.at("optim")) == opt->state_dict().meta);
    CHECK(file.contains(name == "SGD" ? "optim.state.0.momentum_buffer" : "optim.state.0.exp_avg"));

    auto fresh = make_mlp(2);
    auto fresh_opt = make(*fresh, 0.5);
    REQUIRE_FALSE(same_optimizer_state(*opt, *fresh_opt));
    nn::load_checkpoint(path, kDesc, *fresh, fresh_opt.get());
    CHECK(same_optimizer_state(*opt, *fresh_opt));
    CHECK(fresh_opt->lr() == 0.02);
    for (size_t i = 0; i < opt->params().size(); ++i) CHECK(fresh_opt->state(i).step == 4);

    // Both continue identically.
    Generator s1(9), s2(9);
    manual_seed(21);
    train_epoch(*model, *opt, s1, data);
    manual_seed(21);
    train_epoch(*fresh, *fresh_opt, s2, data);
    for (size_t i = 0; i < opt->params().size(); ++i)
      CHECK(identical(opt->params()[i], fresh_opt->params()[i]));
  }
}

TEST_CASE("checkpoint: a resumed run ends bit-identical to an uninterrupted one") {
  // What --resume does: build a fresh model and optimiser, load the checkpoint, restore the
  // generators from its rng states and continue from the stored epoch.
  const Data data;
  const int64_t epochs = 4, stop_after = 2;
  auto run = [&](nn::Module& model, optim::Optimizer& opt, Generator& shuffle, int64_t from,
                 int64_t to, int64_t& step) {
    for (int64_t epoch = from; epoch < to; ++epoch) step += train_epoch(model, opt, shuffle, data);
  };

  auto whole = make_dropout_mlp(1);
  optim::SGD whole_opt(whole->parameters(), 0.1, 0.9, 1e-4);
  Generator whole_shuffle(3);
  manual_seed(100);  // dropout masks
  int64_t whole_steps = 0;
  run(*whole, whole_opt, whole_shuffle, 0, epochs, whole_steps);

  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  {
    auto first = make_dropout_mlp(1);
    optim::SGD first_opt(first->parameters(), 0.1, 0.9, 1e-4);
    Generator shuffle(3);
    manual_seed(100);
    int64_t step = 0;
    run(*first, first_opt, shuffle, 0, stop_after, step);
    TrainingState state;
    state.epoch = stop_after;
    state.step = step;
    state.model_desc = "dropout_mlp";
    state.rng = {{"default", default_generator().state()}, {"shuffle", shuffle.state()}};
    nn::save_checkpoint(path, *first, &first_opt, state);
    // The first process goes on drawing numbers after its last checkpoint, then dies.
    randn({100});
    shuffle.normal();
  }

  auto resumed = make_dropout_mlp(55);
  optim::SGD resumed_opt(resumed->parameters(), 0.1, 0.9, 1e-4);
  const TrainingState state = nn::load_checkpoint(path, "dropout_mlp", *resumed, &resumed_opt);
  Generator shuffle;
  shuffle.set_state(state.rng.at("shuffle"));
  default_generator().set_state(state.rng.at("default"));
  int64_t step = state.step;
  run(*resumed, resumed_opt, shuffle, state.epoch, epochs, step);

  CHECK(step == whole_steps);
  const nn::StateDict a = whole->state_dict(), b = resumed->state_dict();
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a.items()[i].first);
    CHECK(identical(a.items()[i].second, b.items()[i].second));
  }
  CHECK(same_optimizer_state(whole_opt, resumed_opt));
}

TEST_CASE("checkpoint: optimiser mismatches are errors that change neither model nor optimiser") {
  TempDir dir;
  const std::string path = dir.file("run.ckpt");
  const Data data;
  auto model = make_mlp(1);
  optim::SGD opt(model->parameters(), 0.1, 0.9);
  Generator shuffle(3);
  train_epoch(*model, opt, shuffle, data);
  nn::save_checkpoint(path, *model, &opt, sample_state());

  auto target = make_mlp(2);
  const std::vector<Tensor> before = snapshot(*target);
  REQUIRE_FALSE(unchanged(*model, before));

  SUBCASE("an optimiser of another kind") {
    optim::Adam adam(target->parameters(), {.lr = 0.01});
    train_epoch(*target, adam, shuffle, data);
    const std::vector<Tensor> trained = snapshot(*target);
    const optim::OptimizerState adam_before = adam.state_dict();
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, kDesc, *target, &adam),
                         contains("load_checkpoint: " + path +
                                  ": Adam: load_state_dict: the state is of a SGD optimizer, "
                                  "not Adam"),
                         Error);
    CHECK(unchanged(*target, trained));  // the model took its state, then got it back
    CHECK(adam.state_dict().meta == adam_before.meta);
  }
  SUBCASE("an optimiser over other parameters") {
    optim::SGD partial({target->parameters()[0]}, 0.1, 0.9);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, kDesc, *target, &partial),
                         contains("load_checkpoint: " + path + ": SGD: load_state_dict: "), Error);
    CHECK(unchanged(*target, before));
    CHECK(partial.state(0).tensors.empty());
  }
  SUBCASE("a checkpoint saved without an optimiser") {
    nn::save_checkpoint(path, *model, nullptr, sample_state());
    optim::SGD fresh(target->parameters(), 0.1, 0.9);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, kDesc, *target, &fresh),
                         contains("load_checkpoint: " + path +
                                  " holds no optimiser state (it was saved without an optimiser)"),
                         Error);
    CHECK(unchanged(*target, before));
  }
  SUBCASE("damaged optimiser metadata (in a version 1 file: a later one fails its checksum)") {
    io::SafetensorsFile file = io::load_safetensors(path);
    file.metadata["optim"] = "{";
    io::save_safetensors(path, file.tensors, test::as_version_1(file.metadata));
    optim::SGD fresh(target->parameters(), 0.1, 0.9);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, kDesc, *target, &fresh),
                         contains("load_checkpoint: " + path + ": \"optim\" is not valid JSON"),
                         Error);
    CHECK(unchanged(*target, before));
  }
  SUBCASE("loading the weights alone ignores the optimiser state") {
    nn::load_checkpoint(path, kDesc, *target, nullptr);
    CHECK(unchanged(*target, snapshot(*model)));
  }
}
