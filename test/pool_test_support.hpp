// Helpers of the pool tests (test_pool.cpp, test_pool_batch.cpp): options, the books, and a
// pool whose one worker the test holds.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <latch>
#include <vector>

#include "test_support.hpp"
#include "troupe/actors/pool.hpp"

namespace troupe::testing {

inline PoolOptions workers(std::size_t min, std::size_t max) {
  PoolOptions options;
  options.min_workers = min;
  options.max_workers = max;
  return options;
}

// Once nothing is queued or running: every submitted task is accounted for.
inline void check_books(const PoolStats& s) {
  CHECK(s.queued == 0);
  CHECK(s.running == 0);
  CHECK(s.submitted == s.completed + s.failed + s.cancelled + s.timed_out + s.deadline_exceeded);
  CHECK(s.parked_workers <= s.idle_workers);
  CHECK(s.idle_workers <= s.workers);
}

// A gate the test opens: tasks that wait on it hold their workers.
struct Gate {
  std::latch open{1};
  std::atomic<int> arrived{0};
};

// One worker (by default), held by a first task until the test opens the gate: what the test
// queues meanwhile waits. Each task added with add() appends its tag to `order` (one worker: no
// two run at once).
struct HeldPool {
  explicit HeldPool(PoolOptions options = workers(1, 1)) : pool(std::move(options)) {
    holder = pool.submit([this] {
      gate.arrived.fetch_add(1);
      gate.open.wait();
    }).value();
    troupe::testing::spin_until([this] { return gate.arrived.load() == 1; });
  }
  PoolFuture<void> add(int tag, int priority) {
    return pool.submit([this, tag] { order.push_back(tag); }, priority).value();
  }
  void open() {
    gate.open.count_down();
    holder.get();
  }
  void release() {
    open();
    pool.close();  // every queued task has run when this returns
  }
  // A test that failed before opening the gate must not leave the holder waiting on a latch
  // about to be destroyed (the pool's destructor would wait for it forever).
  ~HeldPool() {
    if (!opened()) gate.open.count_down();
  }
  bool opened() const { return gate.open.try_wait(); }
  // Declared before the pool: its workers use them until the pool is gone.
  Gate gate;
  std::vector<int> order;
  Pool pool;
  PoolFuture<void> holder;
};

}  // namespace troupe::testing
