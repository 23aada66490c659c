// A worker's local run queue (runtime/src/local_queue.hpp): the owner takes from both ends
// (pop at the head, pop_back at the tail), thieves steal half from the head, and no task is
// ever taken twice or lost.
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "local_queue.hpp"
#include "test_support.hpp"

using troupe::detail::LocalQueue;
using troupe::detail::RawTask;

namespace {

// A task that is only ever queued, never run.
struct QueuedTask final : RawTask {
  explicit QueuedTask(std::size_t i) : index(i) {}
  bool run() override { return true; }
  void drop() noexcept override {}
  const std::size_t index;
};

std::vector<std::unique_ptr<QueuedTask>> make_tasks(std::size_t n) {
  std::vector<std::unique_ptr<QueuedTask>> tasks;
  for (std::size_t i = 0; i < n; ++i) tasks.push_back(std::make_unique<QueuedTask>(i));
  return tasks;
}

std::size_t index_of(RawTask* task) { return static_cast<QueuedTask*>(task)->index; }

}  // namespace

TEST_CASE("the owner takes the oldest task with pop and the newest with pop_back") {
  auto tasks = make_tasks(3);
  LocalQueue queue;
  for (auto& task : tasks) REQUIRE(queue.push(task.get()));
  REQUIRE_FALSE(queue.back_started());
  CHECK(queue.pop_back() == tasks[2].get());
  CHECK(queue.pop() == tasks[0].get());
  CHECK(queue.len() == 1);
  CHECK(queue.pop_back() == tasks[1].get());
  CHECK(queue.pop_back() == nullptr);
  CHECK(queue.pop() == nullptr);
  CHECK(queue.len() == 0);
}

TEST_CASE("each slot remembers whether its task had started, and hands the task back untagged") {
  auto tasks = make_tasks(4);
  tasks[1]->started.store(true);
  tasks[3]->started.store(true);
  LocalQueue queue;
  for (auto& task : tasks) REQUIRE(queue.push(task.get()));
  CHECK(queue.back_started());
  LocalQueue thief;
  std::uint32_t started = 0;
  RawTask* run_now = queue.steal_into(thief, &started);  // takes tasks 0 and 1, runs 1
  CHECK(run_now == tasks[1].get());
  CHECK(started == 0);  // task 0, left queued in the thief's queue, had not started
  CHECK(thief.pop() == tasks[0].get());
  CHECK(queue.pop_back() == tasks[3].get());
  CHECK_FALSE(queue.back_started());
  CHECK(queue.pop_back() == tasks[2].get());
}

TEST_CASE("the owner's look at its newest task never touches a task thieves took and freed") {
  // Between the owner's len() and its look at the back, a thief can take the whole queue in
  // two steals (each takes half, rounded up), run the tasks and free them. The look reads
  // only the slot (under ASan or TSan, reading the task would be a use after free).
  auto tasks = make_tasks(2);
  tasks[1]->started.store(true);
  LocalQueue queue;
  for (auto& task : tasks) REQUIRE(queue.push(task.get()));
  REQUIRE(queue.len() == 2);
  LocalQueue thief;
  CHECK(queue.steal_into(thief) == tasks[0].get());
  CHECK(queue.steal_into(thief) == tasks[1].get());
  tasks.clear();  // run and freed
  CHECK(queue.back_started());  // stale, but read from the slot
  CHECK(queue.pop_back() == nullptr);
  CHECK(queue.pop() == nullptr);
}

TEST_CASE("pop_back keeps the queue's capacity and order across many wraps of its slots") {
  auto tasks = make_tasks(LocalQueue::kCapacity);
  LocalQueue queue;
  for (int round = 0; round < 1000; ++round) {
    for (auto& task : tasks) REQUIRE(queue.push(task.get()));
    REQUIRE(!queue.push(tasks[0].get()));  // full
    REQUIRE(queue.len() == LocalQueue::kCapacity);
    // Half from the tail, newest first; the rest from the head, oldest first.
    for (std::size_t i = tasks.size(); i > tasks.size() / 2; --i) {
      REQUIRE(queue.pop_back() == tasks[i - 1].get());
    }
    for (std::size_t i = 0; i < tasks.size() / 2; ++i) REQUIRE(queue.pop() == tasks[i].get());
    REQUIRE(queue.len() == 0);
  }
}

TEST_CASE("the owner taking from both ends while a thief steals never takes a task twice or "
          "loses one" * doctest::timeout(300)) {
  // Rounds of kTasks pushes, until the thief has stolen enough to have raced the owner often
  // (or, on a machine too busy to run it much, a bounded number of rounds).
  constexpr std::size_t kTasks = 20'000;
  constexpr int kMaxRounds = 400;
  const auto enough_stolen = static_cast<std::size_t>(troupe::testing::stress_volume(100'000));
  auto tasks = make_tasks(kTasks);
  for (std::size_t i = 0; i < kTasks; i += 3) {
    tasks[i]->started.store(true, std::memory_order_relaxed);
  }
  std::vector<std::atomic<int>> taken(kTasks);
  LocalQueue owner_queue;
  std::atomic<bool> done{false};
  std::atomic<std::size_t> stolen{0};  // in the current round
  std::size_t stolen_total = 0;
  std::atomic<std::size_t> started_mismatches{0};

  std::thread thief([&] {
    LocalQueue mine;  // the thief's own queue: steal_into moves the tasks here
    auto take = [&](RawTask* task) {
      taken[index_of(task)].fetch_add(1, std::memory_order_relaxed);
      stolen.fetch_add(1, std::memory_order_release);  // release: the count after the mark
    };
    while (!done.load(std::memory_order_relaxed)) {
      std::uint32_t started = 0;
      RawTask* task = owner_queue.steal_into(mine, &started);
      if (task == nullptr) continue;
      std::uint32_t really_started = 0;
      take(task);
      while (RawTask* other = mine.pop()) {
        if (other->started.load(std::memory_order_relaxed)) ++really_started;
        take(other);
      }
      if (started != really_started) started_mismatches.fetch_add(1);
    }
  });

  std::uint64_t rng = 12345;
  int rounds = 0;
  while (stolen_total < enough_stolen && rounds < kMaxRounds) {
    ++rounds;
    for (auto& count : taken) count.store(0, std::memory_order_relaxed);
    stolen.store(0);
    std::size_t by_owner = 0;
    auto take = [&](RawTask* task) {
      taken[index_of(task)].fetch_add(1, std::memory_order_relaxed);
      ++by_owner;
    };
    for (std::size_t i = 0; i < kTasks; ++i) {
      while (!owner_queue.push(tasks[i].get())) {
        if (RawTask* task = owner_queue.pop()) take(task);
      }
      if (i % 4096 < 200) continue;  // now and then a burst of pushes: a long queue
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      // Otherwise it takes about as many as it pushes, so the queue is mostly short and the
      // thief and the owner race for its last tasks.
      switch (rng % 4) {
        case 0:
          if (RawTask* task = owner_queue.pop()) take(task);
          break;
        case 1:
          if (RawTask* task = owner_queue.pop_back()) take(task);
          if (RawTask* task = owner_queue.pop_back()) take(task);
          break;
        default:
          if (RawTask* task = owner_queue.pop_back()) take(task);
          break;
      }
    }
    while (RawTask* task = owner_queue.pop()) take(task);
    // The thief may still be moving what it stole out of its own queue.
    while (by_owner + stolen.load(std::memory_order_acquire) < kTasks) std::this_thread::yield();

    // The books: every task pushed was taken exactly once, by the owner or by the thief.
    const std::size_t round_stolen = stolen.load(std::memory_order_acquire);
    REQUIRE(by_owner + round_stolen == kTasks);
    std::size_t twice = 0;
    std::size_t never = 0;
    for (auto& count : taken) {
      if (count.load(std::memory_order_acquire) > 1) ++twice;
      if (count.load(std::memory_order_acquire) == 0) ++never;
    }
    REQUIRE(twice == 0);
    REQUIRE(never == 0);
    stolen_total += round_stolen;
  }
  done.store(true);
  thief.join();
  CHECK(started_mismatches.load() == 0);
  CHECK(stolen_total > 0);  // the thief took part
  MESSAGE(rounds << " rounds of " << kTasks << " tasks; the thief stole " << stolen_total);
}
