// What a training Config names, built: the data sets (load_datasets, declared in trainer.h),
// the model, the optimiser and the learning-rate schedule. Every unknown name is a fovea::Error
// that lists the known ones.
#pragma once

#include <memory>
#include <string>

#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "layers/module.h"
#include "support/trainer.h"

namespace fovea::train {

struct Model {
  std::shared_ptr<nn::Module> net;
  std::string description;  // e.g. "resnet20(in_channels=1, num_classes=10, ...)"; checked on resume
};

// The model for images of `d`'s shape and class count.
Model make_model(const Config& c, const data::Dataset& d);
std::unique_ptr<optim::Optimizer> make_optimizer(const Config& c, const nn::Module& net);
// Schedules count optimiser steps, so every one of them changes the lr smoothly within an
// epoch and a resumed run recomputes the lr from the saved step.
optim::SchedulePtr make_schedule(const Config& c, int64_t steps_per_epoch);

}  // namespace fovea::train
