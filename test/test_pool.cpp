// The worker pool: futures, the bounded queue's policies, sizing, closing, and its books.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pool_test_support.hpp"
#include "test_support.hpp"
#include "troupe/actors/pool.hpp"

using namespace std::chrono_literals;
using troupe::Pool;
using troupe::PoolFuture;
using troupe::PoolOptions;
using troupe::PoolStats;
using troupe::QueueFull;
using troupe::testing::check_books;
using troupe::testing::Gate;
using troupe::testing::HeldPool;
using troupe::testing::workers;

TEST_CASE("100 tasks on 4 workers all complete with their values" * doctest::timeout(30)) {
  Pool pool(workers(4, 4));
  std::vector<PoolFuture<int>> futures;
  for (int i = 0; i < 100; ++i) futures.push_back(pool.submit([i] { return i * i; }).value());
  long sum = 0;
  for (auto& future : futures) sum += future.get();
  CHECK(sum == 328350);  // the sum of squares below 100
  pool.close();
  const PoolStats s = pool.stats();
  CHECK(s.submitted == 100);
  CHECK(s.completed == 100);
  check_books(s);
}

TEST_CASE("a task's exception reaches its future and the pool goes on" * doctest::timeout(30)) {
  Pool pool(workers(1, 2));
  auto bad = pool.submit([]() -> int { throw std::runtime_error("task exploded"); }).value();
  auto good = pool.submit([] { return 7; }).value();
  CHECK_THROWS_WITH_AS(bad.get(), "task exploded", std::runtime_error);
  CHECK(good.get() == 7);
  pool.close();
  CHECK(pool.stats().failed == 1);
  CHECK(pool.stats().completed == 1);
  check_books(pool.stats());
}

TEST_CASE("a future can be awaited in a runtime task" * doctest::timeout(30)) {
  troupe::Runtime rt;
  Pool pool(workers(1, 2));
  const int value = rt.block_on([](Pool& p) -> troupe::Task<int> {
    auto future = (co_await p.submit_async([] { return 20; })).value();
    const int first = co_await future;
    auto again = p.submit([] { return 22; }).value();
    co_return first + co_await again;
  }(pool));
  CHECK(value == 42);
}

TEST_CASE("a full queue with reject hands the task back, and the books balance" *
          doctest::timeout(30)) {
  PoolOptions options = workers(1, 1);
  options.max_queue = 2;
  options.on_full = QueueFull::reject;
  HeldPool held(options);
  Pool& pool = held.pool;
  auto a = pool.submit([] { return 1; }).value();
  auto b = pool.submit([] { return 2; }).value();
  auto refused = pool.submit([] { return 3; });  // the queue holds a and b
  REQUIRE_FALSE(refused);
  CHECK(refused.error().is_full());
  CHECK(refused.error().message().find("the queue is full (max_queue 2)") != std::string::npos);
  auto handed_back = std::move(refused).error().into_task();
  CHECK(handed_back() == 3);
  CHECK_FALSE(pool.try_submit([] { return 4; }));
  held.open();
  CHECK(a.get() + b.get() == 3);
  pool.close();
  const PoolStats s = pool.stats();
  CHECK(s.rejected == 2);
  CHECK(s.submitted == 3);
  check_books(s);
}

TEST_CASE("a full queue with wait holds the submitter until a worker takes a task" *
          doctest::timeout(30)) {
  PoolOptions options = workers(1, 1);
  options.max_queue = 1;
  HeldPool held(options);
  Pool& pool = held.pool;
  auto queued = pool.submit([] { return 1; }).value();  // fills the queue
  std::atomic<bool> submitted{false};
  std::thread submitter([&] {
    auto third = pool.submit([] { return 2; });  // waits for room
    submitted.store(true);
    REQUIRE(third);
    CHECK(std::move(third).value().get() == 2);
  });
  CHECK_FALSE(submitted.load());  // the queue is full and its task cannot start: it waits
  held.open();
  submitter.join();
  CHECK(submitted.load());
  CHECK(queued.get() == 1);
  pool.close();
  CHECK(pool.stats().completed == 3);
  check_books(pool.stats());
}

TEST_CASE("a graceful close runs every queued task; after it, submit fails at once with the "
          "task handed back" *
          doctest::timeout(30)) {
  Pool pool(workers(1, 1));
  std::atomic<int> ran{0};
  std::vector<PoolFuture<void>> futures;
  for (int i = 0; i < 50; ++i) {
    futures.push_back(pool.submit([&ran] { ran.fetch_add(1); }).value());
  }
  pool.close();
  CHECK(ran.load() == 50);
  for (auto& future : futures) future.get();
  auto late = pool.submit([] { return 1; });
  REQUIRE_FALSE(late);
  CHECK(late.error().is_closed());
  CHECK(late.error().message() == "pool: the pool is closed");
  CHECK(pool.is_closed());
  CHECK(pool.stats().workers == 0);
  check_books(pool.stats());
}

TEST_CASE("a forced close cancels the queued tasks, waits for the running one, and every "
          "future resolves" *
          doctest::timeout(30)) {
  PoolOptions options = workers(1, 1);
  options.name = "forced";
  HeldPool held(options);
  Pool& pool = held.pool;
  std::vector<PoolFuture<int>> queued;
  for (int i = 0; i < 10; ++i) queued.push_back(pool.submit([i] { return i; }).value());
  std::thread closer([&] { pool.close(true); });
  troupe::testing::spin_until([&] { return pool.is_closed(); });
  for (auto& future : queued) {
    CHECK_THROWS_WITH_AS(future.get(), doctest::Contains("cancelled before it ran"), troupe::Error);
  }
  held.open();  // the running task finishes: close returns
  closer.join();
  const PoolStats s = pool.stats();
  CHECK(s.cancelled == 10);
  CHECK(s.completed == 1);
  check_books(s);
}

TEST_CASE("a waiting submitter is released with Closed when the pool closes" *
          doctest::timeout(30)) {
  PoolOptions options = workers(1, 1);
  options.max_queue = 1;
  HeldPool held(options);
  Pool& pool = held.pool;
  auto queued = pool.submit([] {}).value();
  std::thread submitter([&] {
    auto refused = pool.submit([] {});  // waits for room, then finds the pool closed
    CHECK_FALSE(refused);
    if (!refused) CHECK(refused.error().is_closed());
  });
  std::thread closer([&] { pool.close(true); });
  troupe::testing::spin_until([&] { return pool.is_closed(); });
  held.open();
  submitter.join();
  closer.join();
  CHECK_THROWS_AS(queued.get(), troupe::Error);
  check_books(pool.stats());
}

TEST_CASE("a burst grows the pool to max_workers and idleness shrinks it back to min" *
          doctest::timeout(60)) {
  PoolOptions options = workers(1, 4);
  options.idle_timeout = 50ms;
  Pool pool(options);
  CHECK(pool.stats().workers == 1);
  Gate gate;
  std::vector<PoolFuture<void>> futures;
  for (int i = 0; i < 4; ++i) {
    futures.push_back(pool.submit([&gate] {
      gate.arrived.fetch_add(1);
      gate.open.wait();
    }).value());
  }
  // Four tasks held at once: only four workers can hold them.
  troupe::testing::spin_until([&] { return gate.arrived.load() == 4; });
  CHECK(pool.stats().workers == 4);
  gate.open.count_down();
  for (auto& future : futures) future.get();
  troupe::testing::spin_until([&] { return pool.stats().workers == 1; });
  const PoolStats s = pool.stats();
  CHECK(s.workers_started >= 4);  // an idle extra one may have retired and been replaced
  CHECK(s.workers_started - s.workers_retired == 1);
}

TEST_CASE("bad pool options are refused with a clear error" * doctest::timeout(30)) {
  CHECK_THROWS_WITH_AS(Pool{workers(0, 0)}, doctest::Contains("max_workers must be >= 1, got 0"),
                       troupe::Error);
  CHECK_THROWS_WITH_AS(Pool{workers(3, 2)},
                       doctest::Contains("min_workers (3) exceeds max_workers (2)"),
                       troupe::Error);
  PoolOptions never_idle = workers(1, 1);
  never_idle.idle_timeout = -1ms;
  CHECK_THROWS_WITH_AS(Pool{never_idle}, doctest::Contains("idle_timeout must be positive"),
                       troupe::Error);
  PoolFuture<int> empty;
  CHECK_THROWS_WITH_AS(empty.get(), doctest::Contains("the future is empty"), troupe::Error);
}

TEST_CASE("a max_queue beyond the semaphore's range is refused naming the value" *
          doctest::timeout(30)) {
  PoolOptions huge = workers(1, 1);
  huge.max_queue = static_cast<std::size_t>(troupe::Semaphore::kMaxPermits) + 1;
  CHECK(troupe::testing::error_code_of([&] { Pool pool(huge); }) ==
        troupe::ErrorCode::invalid_argument);
  CHECK(troupe::testing::error_message_of([&] { Pool pool(huge); }) ==
        "PoolOptions::max_queue is too large: 1152921504606846977");
}

TEST_CASE("close from one of the pool's own workers is a clear error, not a self-join" *
          doctest::timeout(30)) {
  Pool pool(workers(1, 1));
  auto inside = pool.submit([&pool] { pool.close(); }).value();
  CHECK_THROWS_WITH_AS(inside.get(), doctest::Contains("it would join itself"), troupe::Error);
  pool.close();  // from outside it works
}

TEST_CASE("a stress of many submitters keeps the books: every future resolves and submitted "
          "equals completed plus failed" *
          doctest::timeout(60)) {
  PoolOptions options = workers(2, 4);
  options.max_queue = 64;
  Pool pool(options);
  constexpr int kThreads = 4;
  constexpr int kEach = 5000;
  std::atomic<long> sum{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      std::vector<PoolFuture<int>> futures;
      for (int i = 0; i < kEach; ++i) {
        const int n = t * kEach + i;
        futures.push_back(pool.submit([n]() -> int {
          if (n % 97 == 0) throw std::runtime_error("every 97th");
          return 1;
        }).value());
      }
      for (auto& future : futures) {
        try {
          sum.fetch_add(future.get());
        } catch (const std::runtime_error&) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& s : submitters) s.join();
  pool.close();
  const PoolStats s = pool.stats();
  const int total = kThreads * kEach;
  const int thrown = (total + 96) / 97;  // n = 0, 97, 194, ... below total
  CHECK(failures.load() == thrown);
  CHECK(sum.load() == total - thrown);
  CHECK(s.submitted == static_cast<std::uint64_t>(total));
  CHECK(s.failed == static_cast<std::uint64_t>(thrown));
  check_books(s);
}

TEST_CASE("single submits from many threads while the pool closes are each run or refused, "
          "every future resolves, and the books balance" *
          doctest::timeout(120)) {
  // Unbounded, no time limits: single tasks go through the pool's lock-free intake whenever a
  // worker is sure to come by, so this races the intake against the close that seals it.
  for (int round = 0; round < 24; ++round) {
    Pool pool(workers(1 + round % 3, 3));
    constexpr int kThreads = 3;
    constexpr int kEach = 3000;
    std::atomic<std::uint64_t> accepted{0}, refused{0}, ran{0}, cancelled{0};
    std::latch started(kThreads + 1);
    std::vector<std::thread> submitters;
    for (int t = 0; t < kThreads; ++t) {
      submitters.emplace_back([&] {
        std::vector<PoolFuture<int>> futures;
        started.arrive_and_wait();
        for (int i = 0; i < kEach; ++i) {
          auto submitted = pool.submit([] { return 1; });
          if (!submitted) {
            CHECK(submitted.error().is_closed());
            refused.fetch_add(1);
            continue;
          }
          accepted.fetch_add(1);
          futures.push_back(std::move(submitted).value());
        }
        for (auto& future : futures) {
          try {
            ran.fetch_add(static_cast<std::uint64_t>(future.get()));
          } catch (const troupe::Error& e) {
            CHECK(e.code() == troupe::ErrorCode::cancelled);
            cancelled.fetch_add(1);
          }
        }
      });
    }
    started.arrive_and_wait();
    for (int spin = 0; spin < round * 200; ++spin) std::this_thread::yield();
    pool.close(round % 2 == 1);
    for (auto& s : submitters) s.join();
    const PoolStats s = pool.stats();
    CHECK(accepted.load() + refused.load() == std::uint64_t{kThreads} * kEach);
    CHECK(s.submitted == accepted.load());
    CHECK(s.rejected == refused.load());
    CHECK(s.completed == ran.load());
    CHECK(s.cancelled == cancelled.load());
    if (round % 2 == 0) CHECK(cancelled.load() == 0);  // a graceful close runs what it took
    check_books(s);
  }
}

TEST_CASE("a task submitted while one worker is busy and the other parked runs at once" *
          doctest::timeout(30)) {
  Pool pool(workers(2, 2));
  Gate gate;
  auto holder = pool.submit([&gate] {
    gate.arrived.fetch_add(1);
    gate.open.wait();
  }).value();
  troupe::testing::spin_until([&gate] { return gate.arrived.load() == 1; });
  // Once the idle worker has stopped spinning and parked, the task below must wake it, not
  // wait in the queue for the busy one.
  troupe::testing::spin_until([&pool] { return pool.stats().parked_workers == 1; });
  CHECK(pool.stats().idle_workers == 1);
  for (int i = 0; i < 100; ++i) CHECK(pool.submit([i] { return i; }).value().get() == i);
  gate.open.count_down();
  holder.get();
  pool.close();
  check_books(pool.stats());
}

// ---- priorities ---------------------------------------------------------------------------


TEST_CASE("higher priorities run first, equal ones in submission order" * doctest::timeout(30)) {
  HeldPool held;
  const int priorities[] = {0, 5, 1, 5, -3};
  for (int tag = 0; tag < 5; ++tag) (void)held.add(tag, priorities[tag]);
  held.release();
  CHECK(held.order == std::vector<int>{1, 3, 2, 0, 4});
}

TEST_CASE("a low-priority task ages past a stream of higher ones instead of starving" *
          doctest::timeout(30)) {
  HeldPool held;
  (void)held.add(-1, 0);  // the low one, first
  const int stream = static_cast<int>(3 * Pool::kAgingTasks);
  for (int tag = 0; tag < stream; ++tag) (void)held.add(tag, 1);
  held.release();
  REQUIRE(held.order.size() == static_cast<std::size_t>(stream + 1));
  const auto at = static_cast<std::int64_t>(
      std::find(held.order.begin(), held.order.end(), -1) - held.order.begin());
  // It ranks with the priority-1 tasks submitted kAgingTasks after it: runs within one of that.
  CHECK(at >= Pool::kAgingTasks - 1);
  CHECK(at <= Pool::kAgingTasks);
}

TEST_CASE("100,000 tasks with random priorities all resolve; higher priorities finish earlier "
          "on average and the lowest are not starved" *
          doctest::timeout(120)) {
  constexpr int kTasks = 100'000;
  HeldPool held;
  std::vector<PoolFuture<void>> futures;
  std::vector<int> priority_of;
  std::uint64_t rng = 42;
  for (int tag = 0; tag < kTasks; ++tag) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    const int priority = static_cast<int>((rng >> 33) % 10);
    priority_of.push_back(priority);
    futures.push_back(held.add(tag, priority));
  }
  held.release();
  for (auto& future : futures) future.get();
  REQUIRE(held.order.size() == kTasks);
  double rank_sum[10] = {};
  int count[10] = {};
  for (std::size_t rank = 0; rank < held.order.size(); ++rank) {
    const int p = priority_of[static_cast<std::size_t>(held.order[rank])];
    rank_sum[p] += static_cast<double>(rank);
    ++count[p];
  }
  // Aging keeps adjacent levels close (one level is worth kAgingTasks submissions), so compare
  // groups: the top three levels finish earlier on average than the middle four, and those
  // earlier than the bottom three.
  const auto mean_rank = [&](int from, int to) {
    double sum = 0;
    int n = 0;
    for (int p = from; p <= to; ++p) {
      sum += rank_sum[p];
      n += count[p];
    }
    return sum / n;
  };
  CHECK(mean_rank(7, 9) < mean_rank(3, 6));
  CHECK(mean_rank(3, 6) < mean_rank(0, 2));
  // Not starved: a task runs after at most the tasks submitted before it plus those submitted
  // within 9 * kAgingTasks after it with a priority up to 9 levels higher (and up to 9 ties).
  for (std::size_t rank = 0; rank < held.order.size(); ++rank) {
    const auto seq = static_cast<std::int64_t>(held.order[rank]);
    REQUIRE(static_cast<std::int64_t>(rank) <= seq + 9 * Pool::kAgingTasks + 9);
  }
  const PoolStats s = held.pool.stats();
  CHECK(s.completed == kTasks + 1);  // and the holder
  check_books(s);
}

TEST_CASE("a priority out of range is refused at the call" * doctest::timeout(30)) {
  Pool pool(workers(1, 1));
  CHECK_THROWS_WITH_AS((void)pool.submit([] {}, Pool::kMaxPriority + 1),
                       doctest::Contains("priority 1000001 is outside [-1000000, 1000000]"),
                       troupe::Error);
  CHECK(pool.stats().submitted == 0);
}

// ---- cancellation -------------------------------------------------------------------------

TEST_CASE("cancelling a queued task resolves its future at once and the task never runs" *
          doctest::timeout(30)) {
  HeldPool held;
  auto doomed = held.add(1, 0);
  auto kept = held.add(2, 0);
  CHECK(doomed.cancel());
  CHECK_FALSE(doomed.cancel());  // once
  CHECK_THROWS_WITH_AS(doomed.get(), doctest::Contains("cancelled before it ran"), troupe::Error);
  held.release();
  kept.get();
  CHECK(held.order == std::vector<int>{2});
  const PoolStats s = held.pool.stats();
  CHECK(s.cancelled == 1);
  CHECK(s.completed == 2);  // the holder and the kept one
  check_books(s);
}

TEST_CASE("cancelling a running task triggers its stop token; its neighbours are untouched" *
          doctest::timeout(30)) {
  Pool pool(workers(2, 2));
  std::latch started(1);
  auto stoppable = pool.submit([&started](std::stop_token stop) {
    started.count_down();
    long spins = 0;
    while (!stop.stop_requested()) {
      ++spins;
      std::this_thread::yield();
    }
    return spins >= 0 ? -1 : 0;  // stopped early
  }).value();
  started.wait();
  auto neighbour = pool.submit([] { return 7; }).value();
  CHECK_FALSE(stoppable.cancel());  // running: cooperative, not removed
  CHECK(stoppable.get() == -1);
  CHECK(neighbour.get() == 7);
  pool.close();
  CHECK(pool.stats().completed == 2);
  check_books(pool.stats());
  CHECK(pool.stats().stop_requests == 1);
  CHECK(pool.stats().stops_unseen == 0);  // it takes a stop_token: it saw the request
}

TEST_CASE("a running task that ignores cancellation runs to its end, and its worker goes on" *
          doctest::timeout(30)) {
  Pool pool(workers(1, 1));
  std::latch started(1);
  std::latch finish(1);
  auto ignores_cancel = pool.submit([&] {
    started.count_down();
    finish.wait();
    return 5;
  }).value();
  started.wait();
  CHECK_FALSE(ignores_cancel.cancel());
  finish.count_down();
  CHECK(ignores_cancel.get() == 5);
  CHECK(pool.submit([] { return 6; }).value().get() == 6);  // the same worker, still there
  auto done = pool.submit([] {}).value();
  done.get();
  CHECK_FALSE(done.cancel());  // finished: nothing to cancel
  pool.close();
  check_books(pool.stats());
  // Reported: asked to stop, it could not see the request (no stop_token), and it returned
  // only when the test let it.
  CHECK(pool.stats().stop_requests == 1);
  CHECK(pool.stats().stops_unseen == 1);
  CHECK(pool.stats().max_stop_latency_ns > 0);
}

// ---- time limits ----------------------------------------------------------------------------

namespace {
troupe::TaskOptions limits(std::chrono::milliseconds queue_timeout,
                           std::chrono::milliseconds deadline) {
  troupe::TaskOptions task;
  task.queue_timeout = queue_timeout;
  task.deadline = deadline;
  return task;
}
bool is_timeout(const troupe::Error& e) { return e.code() == troupe::ErrorCode::timeout; }
}  // namespace

TEST_CASE("a task still queued past its queue_timeout fails with timeout and never runs" *
          doctest::timeout(30)) {
  HeldPool held;
  auto late = held.pool.submit([&held] { held.order.push_back(1); }, limits(20ms, 0ms)).value();
  try {
    late.get();  // resolves while the worker is still held
    FAIL("the future should have failed");
  } catch (const troupe::Error& e) {
    CHECK(is_timeout(e));
    CHECK(std::string(e.what()).find("past its queue_timeout and never ran") !=
          std::string::npos);
  }
  held.release();
  CHECK(held.order.empty());
  const PoolStats s = held.pool.stats();
  CHECK(s.timed_out == 1);
  check_books(s);
}

TEST_CASE("a task past its deadline fails its future at once and is asked to stop; the worker "
          "goes on" *
          doctest::timeout(30)) {
  Pool pool(workers(1, 1));
  std::atomic<bool> stopped{false};
  auto slow = pool.submit(
                      [&stopped](std::stop_token stop) {
                        while (!stop.stop_requested()) std::this_thread::yield();
                        stopped.store(true);
                        return 1;
                      },
                      limits(0ms, 20ms))
                  .value();
  try {
    (void)slow.get();
    FAIL("the future should have failed");
  } catch (const troupe::Error& e) {
    CHECK(is_timeout(e));
    CHECK(std::string(e.what()).find("ran past its deadline (20 ms)") != std::string::npos);
  }
  CHECK(pool.submit([] { return 2; }).value().get() == 2);  // the same worker, after it
  CHECK(stopped.load());
  pool.close();
  const PoolStats s = pool.stats();
  CHECK(s.deadline_exceeded == 1);
  CHECK(s.completed == 1);
  check_books(s);
}

TEST_CASE("a deadline counts from the task's start, not from its submission" *
          doctest::timeout(30)) {
  HeldPool held;
  auto quick = held.pool.submit([] { return 7; }, limits(0ms, 2000ms)).value();
  std::this_thread::sleep_for(2500ms);  // queued longer than its deadline
  held.release();
  CHECK(quick.get() == 7);
  CHECK(held.pool.stats().deadline_exceeded == 0);
}

TEST_CASE("negative time limits are refused at the call" * doctest::timeout(30)) {
  Pool pool(workers(1, 1));
  CHECK_THROWS_WITH_AS((void)pool.submit([] {}, limits(-1ms, 0ms)),
                       "Pool: TaskOptions::queue_timeout -1 ms is negative", troupe::Error);
  CHECK_THROWS_WITH_AS((void)pool.submit([] {}, limits(0ms, -1ms)),
                       "Pool: TaskOptions::deadline -1 ms is negative", troupe::Error);
}

// ---- statistics -------------------------------------------------------------------------------

TEST_CASE("the pool's wait and run histograms and its utilization describe what ran" *
          doctest::timeout(30)) {
  HeldPool held;
  std::vector<PoolFuture<void>> futures;
  for (int i = 0; i < 3; ++i) {
    futures.push_back(held.pool.submit([] { std::this_thread::sleep_for(5ms); }).value());
  }
  std::this_thread::sleep_for(30ms);  // the three wait at least this long behind the holder
  held.release();
  for (auto& future : futures) future.get();
  const PoolStats s = held.pool.stats();
  CHECK(s.run_time.count == 4);  // the holder and the three
  CHECK(s.wait_time.count == 4);
  CHECK(s.max_wait_ns >= 30'000'000u);
  CHECK(s.max_run_ns >= 30'000'000u);  // the holder ran while the test slept
  CHECK(s.run_time.quantile_ns(0.5) >= 5'000'000u);  // each sleeping task ran 5 ms or more
  CHECK(s.wait_time.quantile_ns(1.0) >= s.max_wait_ns);
  CHECK(s.utilization > 0);
  CHECK(s.utilization <= 1);
  check_books(s);
}

TEST_CASE("a histogram's quantiles are the upper edges of their buckets" * doctest::timeout(30)) {
  troupe::TimeHistogram h;
  CHECK(h.quantile_ns(0.5) == 0);
  for (int i = 0; i < 90; ++i) h.add(100);    // bucket 6: [64, 128)
  for (int i = 0; i < 10; ++i) h.add(5000);   // bucket 12: [4096, 8192)
  CHECK(h.quantile_ns(0.5) == 128);
  CHECK(h.quantile_ns(0.9) == 128);
  CHECK(h.quantile_ns(0.99) == 8192);
  CHECK(h.count == 100);
  CHECK(h.sum_ns == 90 * 100 + 10 * 5000);
}

TEST_CASE("time limits beyond a century mean no limit" * doctest::timeout(30)) {
  Pool pool(workers(1, 1));
  auto f = pool.submit([] { return 3; }, limits(std::chrono::milliseconds::max(),
                                               std::chrono::milliseconds::max()))
               .value();
  CHECK(f.get() == 3);
  pool.close();
  CHECK(pool.stats().timed_out == 0);
  CHECK(pool.stats().deadline_exceeded == 0);
}

TEST_CASE("an awaited future is taken: a second take is a clear error" * doctest::timeout(30)) {
  troupe::Runtime rt;
  Pool pool(workers(1, 1));
  auto future = pool.submit([] { return 4; }).value();
  CHECK(rt.block_on([](PoolFuture<int>& f) -> troupe::Task<int> { co_return co_await f; }(
            future)) == 4);
  CHECK_FALSE(future.valid());
  CHECK_THROWS_WITH_AS(future.get(), doctest::Contains("the future is empty"), troupe::Error);
}

TEST_CASE("every live pool appears in the runtime's metrics export, as JSON and Prometheus" *
          doctest::timeout(30)) {
  PoolOptions options = workers(1, 1);
  options.name = "exported \"pool\"";
  Pool pool(options);
  for (int i = 0; i < 3; ++i) pool.submit([] {}).value().get();
  troupe::Runtime rt;
  const troupe::RuntimeMetrics metrics = rt.metrics();
  const std::string json = metrics.to_json();
  const std::string id = std::to_string(pool.id());
  CHECK(json.find("\"pools\":[") != std::string::npos);
  CHECK(json.find("{\"id\":" + id + ",\"name\":\"exported \\\"pool\\\"\",\"workers\":1,") !=
        std::string::npos);
  CHECK(json.find("\"completed\":3,") != std::string::npos);
  const std::string prom = metrics.to_prometheus();
  const std::string labels = "{pool=\"" + id + "\",name=\"exported \\\"pool\\\"\"";
  CHECK(prom.find("troupe_pool_completed" + labels + "} 3\n") != std::string::npos);
  CHECK(prom.find("troupe_pool_run_ns_count" + labels + "} 3\n") != std::string::npos);
}

TEST_CASE("a destroyed pool leaves the metrics export" * doctest::timeout(30)) {
  {
    PoolOptions options = workers(1, 1);
    options.name = "short-lived";
    Pool pool(options);
    troupe::Runtime rt;
    CHECK(rt.metrics().to_json().find("\"name\":\"short-lived\"") != std::string::npos);
  }
  troupe::Runtime rt;
  CHECK(rt.metrics().to_json().find("\"name\":\"short-lived\"") == std::string::npos);
}

TEST_CASE("needs_drain holds exactly while the queue is full, and wait_drain returns once a "
          "worker takes a task" *
          doctest::timeout(30)) {
  PoolOptions options = workers(1, 1);
  options.max_queue = 2;
  HeldPool held(options);
  Pool& pool = held.pool;
  CHECK_FALSE(pool.needs_drain());
  auto a = pool.submit([] { return 1; }).value();
  CHECK_FALSE(pool.needs_drain());
  auto b = pool.submit([] { return 2; }).value();
  CHECK(pool.needs_drain());  // full: the next submit would wait
  std::atomic<bool> drained{false};
  std::thread producer([&] {
    pool.wait_drain();
    drained.store(true);
  });
  CHECK_FALSE(drained.load());  // the held worker takes nothing: still full
  held.open();                  // the worker takes a, and the queue has room again
  producer.join();
  CHECK(drained.load());
  CHECK(a.get() + b.get() == 3);
  pool.wait_idle();
  CHECK_FALSE(pool.needs_drain());
  const PoolStats s = pool.stats();
  CHECK(s.queued == 0);
  CHECK(s.running == 0);
}

TEST_CASE("a drain threshold gives an unbounded queue a drain signal" * doctest::timeout(30)) {
  PoolOptions options = workers(1, 1);
  options.drain_threshold = 3;
  HeldPool held(options);
  std::vector<PoolFuture<void>> queued;
  for (int i = 0; i < 3; ++i) {
    CHECK_FALSE(held.pool.needs_drain());
    queued.push_back(held.add(i, 0));
  }
  CHECK(held.pool.needs_drain());
  held.open();
  held.pool.wait_drain();
  CHECK_FALSE(held.pool.needs_drain());
  held.pool.wait_idle();
  CHECK(held.order.size() == 3);
}

TEST_CASE("drained and idle can be awaited in a runtime task, and a close releases a drain "
          "waiter" *
          doctest::timeout(30)) {
  troupe::Runtime rt;
  PoolOptions options = workers(1, 1);
  options.max_queue = 1;
  HeldPool held(options);
  auto queued = held.add(1, 0);
  CHECK(held.pool.needs_drain());
  auto waiter = rt.spawn([](Pool& p) -> troupe::Task<void> {
    co_await p.drained();
    co_await p.idle();
  }(held.pool));
  held.open();
  waiter.get();
  CHECK(held.order == std::vector<int>{1});

  HeldPool full(options);
  (void)full.add(2, 0);
  std::thread waiting([&] { full.pool.wait_drain(); });
  std::thread closer([&] { full.pool.close(true); });  // the queued task is dropped: room
  waiting.join();
  full.open();
  closer.join();
  CHECK(full.pool.stats().cancelled == 1);
}
