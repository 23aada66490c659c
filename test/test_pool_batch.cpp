// Batches of pool tasks: one submit for many tasks, one future for all their outcomes.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "pool_test_support.hpp"
#include "test_support.hpp"
#include "troupe/actors/pool.hpp"

using namespace std::chrono_literals;
using troupe::Pool;
using troupe::PoolBatch;
using troupe::PoolOptions;
using troupe::PoolStats;
using troupe::QueueFull;
using troupe::Settled;
using troupe::testing::check_books;
using troupe::testing::HeldPool;
using troupe::testing::workers;

namespace {

// Task i returns i * i. (A batch is a vector of one callable type; std::function would not
// do: the pool refuses type-erased callables, whose captures it cannot check.)
auto square(std::uint64_t i) {
  return [i] { return i * i; };
}
std::vector<decltype(square(0))> squares(std::size_t n) {
  std::vector<decltype(square(0))> tasks;
  tasks.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) tasks.push_back(square(i));
  return tasks;
}
// Task i throws when i % every == at, else returns i.
auto failing_sometimes(int i, int every, int at) {
  return [i, every, at]() -> int {
    if (i % every == at) throw std::runtime_error("task " + std::to_string(i) + " failed");
    return i;
  };
}
using FailingTask = decltype(failing_sometimes(0, 1, 0));
// n tasks that each add one to `ran`.
auto counting(std::atomic<int>& ran) {
  return [&ran] { ran.fetch_add(1); };
}

// The error code a settled task failed with.
troupe::ErrorCode code_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const troupe::Error& e) {
    return e.code();
  } catch (...) {
    FAIL("not a troupe::Error");
  }
  return troupe::ErrorCode::invalid_argument;
}

}  // namespace

TEST_CASE("a batch of 10,000 tasks on 2 workers gives every value in submission order" *
          doctest::timeout(60)) {
  Pool pool(workers(2, 2));
  PoolBatch<std::uint64_t> batch = pool.submit_batch(squares(10'000)).value();
  CHECK(batch.size() == 10'000);
  const std::vector<std::uint64_t> values = batch.get();
  REQUIRE(values.size() == 10'000);
  for (std::uint64_t i = 0; i < values.size(); ++i) REQUIRE(values[i] == i * i);
  pool.close();
  const PoolStats s = pool.stats();
  CHECK(s.submitted == 10'000);
  CHECK(s.completed == 10'000);
  CHECK(s.wait_time.count == 10'000);
  CHECK(s.run_time.count == 10'000);
  check_books(s);
}

TEST_CASE("a batch's failing tasks: get rethrows the first by index, settle gives each outcome" *
          doctest::timeout(30)) {
  Pool pool(workers(2, 2));
  std::vector<FailingTask> tasks;
  for (int i = 0; i < 100; ++i) tasks.push_back(failing_sometimes(i, 10, 3));
  auto copy = tasks;
  CHECK_THROWS_WITH_AS(pool.submit_batch(std::move(tasks)).value().get(), "task 3 failed",
                       std::runtime_error);
  const std::vector<Settled<int>> settled = pool.submit_batch(std::move(copy)).value().settle();
  REQUIRE(settled.size() == 100);
  for (int i = 0; i < 100; ++i) {
    const Settled<int>& one = settled[static_cast<std::size_t>(i)];
    if (i % 10 == 3) {
      REQUIRE_FALSE(one.ok());
      CHECK_FALSE(one.value.has_value());
    } else {
      REQUIRE(one.ok());
      CHECK(*one.value == i);
    }
  }
  pool.close();
  CHECK(pool.stats().failed == 20);
  CHECK(pool.stats().completed == 180);
  check_books(pool.stats());
}

TEST_CASE("an empty batch resolves at once with nothing and counts nothing" *
          doctest::timeout(30)) {
  Pool pool(workers(1, 1));
  auto batch = pool.submit_batch(std::vector<decltype(square(0))>{}).value();
  CHECK(batch.size() == 0);
  batch.get();
  CHECK(pool.stats().submitted == 0);
}

TEST_CASE("cancelling a queued batch settles every task as cancelled and none runs" *
          doctest::timeout(30)) {
  HeldPool held;
  std::atomic<int> ran{0};
  std::vector<decltype(counting(ran))> tasks(50, counting(ran));
  auto batch = held.pool.submit_batch(std::move(tasks)).value();
  CHECK(held.pool.stats().queued == 50);
  CHECK(batch.cancel() == 50);
  CHECK(batch.cancel() == 0);  // nothing left to cancel
  const auto settled = batch.settle();  // resolved already: the worker is still held
  for (const auto& one : settled) CHECK(code_of(one.error) == troupe::ErrorCode::cancelled);
  held.release();
  CHECK(ran.load() == 0);
  const PoolStats s = held.pool.stats();
  CHECK(s.cancelled == 50);
  check_books(s);
}

TEST_CASE("cancelling a batch midway stops only the tasks not yet started" *
          doctest::timeout(30)) {
  Pool pool(workers(1, 1));
  std::latch started{1};
  std::latch go_on{1};
  const auto task = [&](int i) {
    return [&, i](std::stop_token stop) {
      if (i == 0) {
        started.count_down();
        go_on.wait();
        return stop.stop_requested() ? -1 : 0;  // the running task sees the cancel
      }
      return i;
    };
  };
  std::vector<decltype(task(0))> tasks;
  for (int i = 0; i < 100; ++i) tasks.push_back(task(i));
  auto batch = pool.submit_batch(std::move(tasks)).value();
  started.wait();
  // One worker takes half of what is left at a time: tasks 0..49 are its, 50..99 still wait.
  CHECK(batch.cancel() == 50);
  go_on.count_down();
  const auto settled = batch.settle();
  CHECK(*settled[0].value == -1);
  for (int i = 1; i < 50; ++i) CHECK(*settled[static_cast<std::size_t>(i)].value == i);
  for (int i = 50; i < 100; ++i) {
    CHECK(code_of(settled[static_cast<std::size_t>(i)].error) == troupe::ErrorCode::cancelled);
  }
  pool.close();
  CHECK(pool.stats().completed == 50);
  CHECK(pool.stats().cancelled == 50);
  check_books(pool.stats());
}

TEST_CASE("a bounded queue refuses a batch larger than max_queue and hands it back whole" *
          doctest::timeout(30)) {
  PoolOptions options = workers(1, 1);
  options.max_queue = 10;
  Pool pool(options);
  auto refused = pool.submit_batch(squares(11));  // even under wait: it can never fit
  REQUIRE_FALSE(refused);
  CHECK(refused.error().is_full());
  CHECK(refused.error().message().find("a batch of 11 tasks can never fit in max_queue 10") !=
        std::string::npos);
  auto back = std::move(refused).error().into_task();
  REQUIRE(back.size() == 11);
  CHECK(back[10]() == 100);
  CHECK(pool.submit_batch(squares(10)).value().get().size() == 10);
  pool.close();
  CHECK(pool.stats().rejected == 1);
  check_books(pool.stats());
}

TEST_CASE("a batch waits for room for all its tasks, or is handed back under reject" *
          doctest::timeout(30)) {
  PoolOptions options = workers(1, 1);
  options.max_queue = 4;
  HeldPool held(options);
  auto first = held.pool.submit_batch(squares(3)).value();  // 3 of 4 places
  auto refused = held.pool.try_submit_batch(squares(2));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().is_full());
  std::atomic<bool> queued{false};
  std::thread submitter([&] {
    auto second = held.pool.submit_batch(squares(4));  // waits for all 4 places
    queued.store(true);
    REQUIRE(second);
    CHECK(std::move(second).value().get().back() == 9);
  });
  CHECK_FALSE(queued.load());
  held.open();
  submitter.join();
  CHECK(first.get() == std::vector<std::uint64_t>{0, 1, 4});
  held.pool.close();
  CHECK(held.pool.stats().completed == 1 + 3 + 4);
  check_books(held.pool.stats());
}

TEST_CASE("a closed pool refuses a batch at once and hands it back" * doctest::timeout(30)) {
  Pool pool(workers(1, 1));
  pool.close();
  auto refused = pool.submit_batch(squares(5));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().is_closed());
  CHECK(std::move(refused).error().into_task().size() == 5);
  CHECK_FALSE(pool.submit_batch(squares(0)));  // even an empty one
}

TEST_CASE("a batch still queued past its queue_timeout fails every task with timeout" *
          doctest::timeout(30)) {
  HeldPool held;
  troupe::TaskOptions options;
  options.queue_timeout = 20ms;
  auto batch = held.pool.submit_batch(squares(30), options).value();
  const auto settled = batch.settle();  // the worker is held: the timer settles them all
  for (const auto& one : settled) CHECK(code_of(one.error) == troupe::ErrorCode::timeout);
  held.release();
  const PoolStats s = held.pool.stats();
  CHECK(s.timed_out == 30);
  CHECK(s.cancelled == 0);
  check_books(s);
}

TEST_CASE("a deadline on a batch is refused at the call" * doctest::timeout(30)) {
  Pool pool(workers(1, 1));
  troupe::TaskOptions options;
  options.deadline = 10ms;
  CHECK_THROWS_WITH_AS((void)pool.submit_batch(squares(3), options),
                       doctest::Contains("deadline is for single tasks"), troupe::Error);
}

TEST_CASE("a forced close cancels a queued batch and its future resolves" *
          doctest::timeout(30)) {
  HeldPool held;
  auto batch = held.pool.submit_batch(squares(40)).value();
  std::thread closer([&] { held.pool.close(true); });
  const auto settled = batch.settle();  // before the held worker is let go
  for (const auto& one : settled) CHECK(code_of(one.error) == troupe::ErrorCode::cancelled);
  held.open();
  closer.join();
  CHECK(held.pool.stats().cancelled == 40);
  check_books(held.pool.stats());
}

TEST_CASE("a batch can be submitted and awaited in a runtime task" * doctest::timeout(30)) {
  troupe::Runtime rt;
  PoolOptions options = workers(1, 2);
  options.max_queue = 8;
  Pool pool(options);
  const std::uint64_t total = rt.block_on([](Pool& p) -> troupe::Task<std::uint64_t> {
    auto batch = (co_await p.submit_batch_async(squares(8))).value();
    std::uint64_t sum = 0;
    for (const std::uint64_t v : co_await batch) sum += v;
    auto again = p.submit_batch(squares(4)).value();
    for (const auto& one : co_await again.settled()) sum += *one.value;
    co_return sum;
  }(pool));
  CHECK(total == 140 + 14);
}

TEST_CASE("a stress of batches and single tasks, some cancelled and some failing, keeps the "
          "books" *
          doctest::timeout(120)) {
  PoolOptions options = workers(1, 3);
  options.max_queue = 2000;
  Pool pool(options);
  constexpr int kSubmitters = 3;
  constexpr int kRounds = 200;
  std::atomic<std::uint64_t> settled_ok{0}, settled_failed{0}, accepted{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < kSubmitters; ++t) {
    submitters.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t) * 7919U + 1U);
      for (int round = 0; round < kRounds; ++round) {
        const std::size_t n = random() % 300;
        std::vector<FailingTask> tasks;
        for (std::size_t i = 0; i < n; ++i) {
          tasks.push_back(failing_sometimes(static_cast<int>(i), 17, 5));
        }
        auto batch = pool.submit_batch(std::move(tasks), static_cast<int>(random() % 5));
        REQUIRE(batch);
        accepted.fetch_add(n);
        if (random() % 4 == 0) (void)batch.value().cancel();
        auto single = pool.submit([] { return 1; }).value();
        accepted.fetch_add(1);
        for (const auto& one : batch.value().settle()) {
          (one.ok() ? settled_ok : settled_failed).fetch_add(1);
        }
        CHECK(single.get() == 1);
        settled_ok.fetch_add(1);
      }
    });
  }
  for (auto& s : submitters) s.join();
  pool.close();
  const PoolStats s = pool.stats();
  CHECK(s.submitted == accepted.load());
  CHECK(s.completed == settled_ok.load());
  CHECK(s.failed + s.cancelled == settled_failed.load());
  check_books(s);
}
