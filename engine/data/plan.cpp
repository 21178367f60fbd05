#include "engine/data/plan.h"

#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"

namespace fovea::data {

EpochPlan epoch_plan(const DataLoader& loader, int64_t epoch) {
  const LoaderOptions& o = loader.options();
  EpochPlan plan;
  plan.seed = o.seed;
  plan.epoch = epoch;
  plan.dataset_size = loader.dataset().size();
  plan.batch_size = o.batch_size;
  plan.num_batches = loader.num_batches();
  plan.shuffle = o.shuffle;
  plan.drop_last = o.drop_last;
  plan.order = loader.order(epoch);
  plan.order.resize(size_t(loader.num_examples()));

  const auto* augmented = dynamic_cast<const TransformedDataset*>(&loader.dataset());
  if (augmented == nullptr) return plan;
  plan.steps = augmented->pipeline().steps();
  plan.mean = augmented->pipeline().mean();
  plan.std = augmented->pipeline().stddev();
  plan.params.resize(plan.order.size());
  const EpochKey key{o.seed, epoch};
  // Image folders without a fixed size read each file's header here, hence the threads.
  detail::parallel_for_rethrow(int64_t(plan.order.size()), 1000, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k)
      plan.params[size_t(k)] = augmented->params(plan.order[size_t(k)], key);
  });
  return plan;
}

std::string epoch_plan_json(const EpochPlan& plan) {
  using nlohmann::json;
  json j = {{"format", "fovea-epoch-plan"},
            {"version", 1},
            {"seed", plan.seed},
            {"epoch", plan.epoch},
            {"dataset_size", plan.dataset_size},
            {"batch_size", plan.batch_size},
            {"num_batches", plan.num_batches},
            {"shuffle", plan.shuffle},
            {"drop_last", plan.drop_last},
            {"order", plan.order}};
  json pipeline = json::array(), params = json::array();
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    const Transform& step = *plan.steps[s];
    pipeline.push_back(json::parse(step.describe()));
    json p = {{"name", step.name()}};
    auto column = [&](auto field) {
      json values = json::array();
      for (const std::vector<Params>& sample : plan.params) values.push_back(field(sample[s]));
      return values;
    };
    if (step.kind() == Transform::Kind::Box) {
      p["top"] = column([](const Params& q) { return q.top; });
      p["left"] = column([](const Params& q) { return q.left; });
      p["height"] = column([](const Params& q) { return q.height; });
      p["width"] = column([](const Params& q) { return q.width; });
    } else if (step.kind() == Transform::Kind::Flip) {
      p["flip"] = column([](const Params& q) { return int(q.flip); });
    }
    params.push_back(std::move(p));
  }
  j["pipeline"] = std::move(pipeline);
  if (!plan.mean.empty()) j["normalize"] = {{"mean", plan.mean}, {"std", plan.std}};
  j["params"] = std::move(params);
  return j.dump();
}

void write_epoch_plan(const EpochPlan& plan, const std::string& path) {
  io::write_file_atomically(path, {epoch_plan_json(plan), "\n"}, "write_epoch_plan");
}

}  // namespace fovea::data
