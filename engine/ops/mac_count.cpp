#include "engine/ops/mac_count.h"

namespace fovea {

namespace {
thread_local MacCounter* innermost = nullptr;
}

MacCounter::MacCounter() : outer_(innermost) { innermost = this; }

MacCounter::~MacCounter() { innermost = outer_; }

void count_macs(int64_t macs) {
  for (MacCounter* c = innermost; c != nullptr; c = c->outer_) c->macs_ += macs;
}

}  // namespace fovea
