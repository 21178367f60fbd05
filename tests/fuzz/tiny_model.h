// The model the checkpoint target loads into, shared with make_corpus.cpp (which writes its
// seed checkpoints): Linear, BatchNorm1d (running statistics and an int64 counter), ReLU,
// Linear, with SGD and momentum, so that a checkpoint holds float32 and int64 tensors, metadata
// JSON and optimiser state.
#pragma once

#include <memory>

#include "layers/layers.h"

namespace fovea::fuzz {

constexpr const char* kTinyModelDesc = "mlp(in=6, hidden=5, out=3, bn=true)";

inline std::shared_ptr<nn::Sequential> make_tiny_model(int64_t hidden = 5) {
  manual_seed(1);
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(6, hidden), std::make_shared<nn::BatchNorm1d>(hidden),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(hidden, 3)});
}

inline std::unique_ptr<optim::SGD> make_tiny_optimizer(nn::Module& model) {
  return std::make_unique<optim::SGD>(model.parameters(),
                                      optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
}

}  // namespace fovea::fuzz
