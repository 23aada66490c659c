// Pool workers' lifecycle: worker_init and readiness, crashed workers replaced, recycling, and
// a rolling replacement of every worker while submissions go on.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "pool_test_support.hpp"
#include "test_support.hpp"
#include "troupe/actors/pool.hpp"

using namespace std::chrono_literals;
using troupe::Pool;
using troupe::PoolFuture;
using troupe::PoolOptions;
using troupe::PoolStats;
using troupe::WorkerFault;
using troupe::testing::check_books;
using troupe::testing::workers;

namespace {

// Set by worker_init on each worker: which init (in start order) built it, and with which code.
thread_local int worker_serial = 0;
thread_local int worker_version = 0;

// An init numbering its workers from 1 (running `version` of the worker's code).
std::function<void()> numbering(std::atomic<int>& inits, int version = 1) {
  return [&inits, version] {
    worker_serial = inits.fetch_add(1) + 1;
    worker_version = version;
  };
}

}  // namespace

TEST_CASE("worker_init runs on every worker before its first task, and wait_ready returns once "
          "min_workers are initialised" *
          doctest::timeout(30)) {
  std::atomic<int> inits{0};
  PoolOptions options = workers(3, 3);
  options.worker_init = numbering(inits);
  Pool pool(options);
  pool.wait_ready();
  CHECK(inits.load() == 3);
  std::vector<PoolFuture<int>> serials;
  for (int i = 0; i < 50; ++i) serials.push_back(pool.submit([] { return worker_serial; }).value());
  for (auto& serial : serials) {
    const int s = serial.get();
    CHECK(s >= 1);
    CHECK(s <= 3);
  }
}

TEST_CASE("ready can be awaited in a runtime task" * doctest::timeout(30)) {
  troupe::Runtime rt;
  std::atomic<int> inits{0};
  PoolOptions options = workers(2, 2);
  options.worker_init = numbering(inits);
  Pool pool(options);
  rt.block_on([](Pool& p) -> troupe::Task<void> { co_await p.ready(); }(pool));
  CHECK(inits.load() == 2);
}

TEST_CASE("a worker whose init throws is replaced, and no queued task is lost" *
          doctest::timeout(30)) {
  std::atomic<int> inits{0};
  PoolOptions options = workers(1, 1);
  options.worker_init = [&inits] {
    if (inits.fetch_add(1) == 0) throw std::runtime_error("cold cache");
  };
  Pool pool(options);
  std::vector<PoolFuture<int>> results;
  for (int i = 0; i < 100; ++i) results.push_back(pool.submit([i] { return i; }).value());
  pool.wait_ready();
  long sum = 0;
  for (auto& result : results) sum += result.get();
  CHECK(sum == 4950);
  pool.close();
  const PoolStats s = pool.stats();
  CHECK(s.init_failures == 1);
  CHECK(s.workers_started == 2);
  CHECK(s.completed == 100);
  check_books(s);
}

TEST_CASE("an init that always throws makes the pool give up: queued tasks fail naming the "
          "error, wait_ready throws it, and later submits are refused" *
          doctest::timeout(30)) {
  std::latch go{1};
  PoolOptions options = workers(1, 1);
  options.max_init_failures = 3;
  options.worker_init = [&go] {
    go.wait();
    throw std::runtime_error("no database");
  };
  Pool pool(options);
  std::vector<PoolFuture<int>> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(pool.submit([] { return 1; }).value());
  go.count_down();
  CHECK_THROWS_WITH_AS(pool.wait_ready(),
                       doctest::Contains("gave up: worker_init failed 3 times in a row (last: "
                                         "no database)"),
                       troupe::Error);
  for (auto& future : queued) {
    CHECK_THROWS_WITH_AS(future.get(), doctest::Contains("no database"), troupe::Error);
  }
  auto refused = pool.submit([] { return 2; });
  REQUIRE_FALSE(refused);
  CHECK(refused.error().is_closed());
  CHECK(refused.error().message().find("no database") != std::string::npos);
  pool.close();
  const PoolStats s = pool.stats();
  CHECK(s.init_failures == 3);
  CHECK(s.cancelled == 5);
  check_books(s);
}

TEST_CASE("a task that throws WorkerFault fails, and a fresh worker runs the queued tasks" *
          doctest::timeout(30)) {
  std::atomic<int> inits{0};
  PoolOptions options = workers(1, 1);
  options.worker_init = numbering(inits);
  troupe::testing::HeldPool held(options);  // the queue fills while its one worker is held
  auto faulty = held.pool.submit([]() -> int { throw WorkerFault("connection lost"); }).value();
  std::vector<PoolFuture<int>> after;
  for (int i = 0; i < 10; ++i) after.push_back(held.pool.submit([] { return worker_serial; }).value());
  held.open();
  CHECK_THROWS_WITH_AS(faulty.get(), "connection lost", WorkerFault);
  for (auto& serial : after) CHECK(serial.get() == 2);  // the replacement's init
  held.pool.close();
  const PoolStats s = held.pool.stats();
  CHECK(s.workers_faulted == 1);
  CHECK(s.failed == 1);
  CHECK(s.completed == 11);
  check_books(s);
}

TEST_CASE("a WorkerFault in a batch replaces the worker once its chunk is done" *
          doctest::timeout(30)) {
  std::atomic<int> inits{0};
  PoolOptions options = workers(1, 1);
  options.worker_init = numbering(inits);
  Pool pool(options);
  pool.wait_ready();
  const auto task = [](int i) {
    return [i]() -> int {
      if (i == 0) throw WorkerFault("corrupt state");
      return worker_serial;
    };
  };
  std::vector<decltype(task(0))> tasks;
  for (int i = 0; i < 4; ++i) tasks.push_back(task(i));
  const auto settled = pool.submit_batch(std::move(tasks)).value().settle();
  CHECK_FALSE(settled[0].ok());
  CHECK(pool.submit([] { return worker_serial; }).value().get() == 2);
  pool.close();
  CHECK(pool.stats().workers_faulted == 1);
  check_books(pool.stats());
}

TEST_CASE("a worker is recycled after max_tasks_per_worker tasks" * doctest::timeout(30)) {
  std::atomic<int> inits{0};
  PoolOptions options = workers(1, 1);
  options.worker_init = numbering(inits);
  options.max_tasks_per_worker = 10;
  Pool pool(options);
  std::vector<PoolFuture<int>> serials;
  for (int i = 0; i < 100; ++i) serials.push_back(pool.submit([] { return worker_serial; }).value());
  std::map<int, int> tasks_by_worker;
  for (auto& serial : serials) ++tasks_by_worker[serial.get()];
  CHECK(tasks_by_worker.size() == 10);
  for (const auto& [serial, tasks] : tasks_by_worker) CHECK(tasks == 10);
  pool.close();
  CHECK(pool.stats().workers_recycled >= 9);
  check_books(pool.stats());
}

TEST_CASE("a worker is recycled once older than max_worker_age" * doctest::timeout(30)) {
  std::atomic<int> inits{0};
  PoolOptions options = workers(1, 1);
  options.worker_init = numbering(inits);
  options.max_worker_age = 1ms;
  Pool pool(options);
  std::vector<int> serials;
  for (int i = 0; i < 3; ++i) {
    serials.push_back(pool.submit([] {
                            std::this_thread::sleep_for(2ms);  // outlives its age
                            return worker_serial;
                          })
                          .value()
                          .get());
  }
  CHECK(serials[0] < serials[1]);
  CHECK(serials[1] < serials[2]);
  pool.close();
  CHECK(pool.stats().workers_recycled >= 2);
}

TEST_CASE("a rolling update under continuous submission loses and duplicates nothing" *
          doctest::timeout(60)) {
  std::atomic<int> inits{0};
  PoolOptions options = workers(2, 2);
  options.worker_init = numbering(inits, 1);
  Pool pool(options);
  pool.wait_ready();
  constexpr int kTasks = 4000;
  std::vector<std::atomic<int>> runs(kTasks);
  std::vector<PoolFuture<std::pair<int, int>>> futures(kTasks);
  std::atomic<int> submitted{0};
  std::atomic<int> first_after_update{-1};
  std::thread submitter([&] {
    for (int id = 0; id < kTasks; ++id) {
      futures[static_cast<std::size_t>(id)] =
          pool.submit([&runs, id] {
                runs[static_cast<std::size_t>(id)].fetch_add(1);
                return std::make_pair(id, worker_version);
              })
              .value();
      submitted.store(id + 1);
    }
  });
  troupe::testing::spin_until([&] { return submitted.load() >= kTasks / 4; });
  pool.replace_workers(numbering(inits, 2));
  first_after_update.store(submitted.load());  // submitted from here on: only new workers
  submitter.join();
  int v1 = 0;
  int v2 = 0;
  for (int id = 0; id < kTasks; ++id) {
    const auto [got, version] = futures[static_cast<std::size_t>(id)].get();
    CHECK(got == id);
    CHECK(runs[static_cast<std::size_t>(id)].load() == 1);
    (version == 1 ? v1 : v2) += 1;
    if (id > first_after_update.load()) CHECK(version == 2);
  }
  CHECK(v1 + v2 == kTasks);
  pool.close();
  const PoolStats s = pool.stats();
  CHECK(s.generation == 1);
  CHECK(s.workers_recycled == 2);
  CHECK(s.completed == kTasks);
  check_books(s);
}

TEST_CASE("an update whose new init always fails makes the pool give up, and says why" *
          doctest::timeout(30)) {
  PoolOptions options = workers(1, 1);
  options.max_init_failures = 2;
  Pool pool(options);
  pool.wait_ready();
  CHECK_THROWS_WITH_AS(pool.replace_workers([] { throw std::runtime_error("bad build"); }),
                       doctest::Contains("bad build"), troupe::Error);
  CHECK(pool.is_closed());
  CHECK_THROWS_WITH_AS(pool.replace_workers({}), doctest::Contains("the pool is closed"),
                       troupe::Error);
}

TEST_CASE("replace_workers from one of the pool's own workers is a clear error" *
          doctest::timeout(30)) {
  Pool pool(workers(1, 1));
  auto inside = pool.submit([&pool] { pool.replace_workers({}); }).value();
  CHECK_THROWS_WITH_AS(inside.get(), doctest::Contains("it would wait for itself"),
                       troupe::Error);
}

TEST_CASE("bad worker options are refused with a clear error" * doctest::timeout(30)) {
  PoolOptions no_failures = workers(1, 1);
  no_failures.max_init_failures = 0;
  CHECK_THROWS_WITH_AS(Pool{no_failures}, doctest::Contains("max_init_failures must be >= 1"),
                       troupe::Error);
  PoolOptions negative_age = workers(1, 1);
  negative_age.max_worker_age = -1ms;
  CHECK_THROWS_WITH_AS(Pool{negative_age}, doctest::Contains("max_worker_age must not be negative"),
                       troupe::Error);
}
