#include "engine/ops/mac_count.h"

#include <cstdio>
#include <cstdlib>

namespace fovea {

namespace {
thread_local MacCounter* innermost = nullptr;
thread_local bool paused = false;
}

MacCounter::MacCounter() : outer_(innermost) { innermost = this; }

MacCounter::~MacCounter() {
  // Counters live on the stack of their thread: the innermost one ends first.
  if (innermost != this) {  // a destructor cannot throw; unlinking the wrong one would dangle
    std::fputs("MacCounter: counters must end in the reverse order they began\n", stderr);
    std::abort();
  }
  innermost = outer_;
}

void count_ops(const OpCounts& work) {
  if (paused) return;
  for (MacCounter* c = innermost; c != nullptr; c = c->outer_) c->counts_ += work;
}

OpCountPause::OpCountPause() : previous_(paused) { paused = true; }
OpCountPause::~OpCountPause() { paused = previous_; }

}  // namespace fovea
