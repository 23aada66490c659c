// Timers for tasks: sleeps fire in deadline order and never early, timeouts bound any
// operation, intervals tick, a million pending timers are cheap to cancel, shutdown with
// pending timers leaks nothing.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <vector>

#include "test_support.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/time.hpp"

using namespace std::chrono_literals;
using troupe::Clock;
using troupe::ErrorCode;
using troupe::JoinHandle;
using troupe::Runtime;
using troupe::RuntimeOptions;
using troupe::Task;
using troupe::testing::error_code_of;

namespace {

RuntimeOptions workers(std::size_t n) {
  RuntimeOptions options;
  options.min_threads = n;
  options.max_threads = n;
  return options;
}

}  // namespace

TEST_CASE("a sleep never ends before its deadline" * doctest::timeout(30)) {
  Runtime rt(workers(2));
  auto slept = rt.block_on([]() -> Task<Clock::duration> {
    const auto start = Clock::now();
    co_await troupe::sleep_for(20ms);
    co_return Clock::now() - start;
  }());
  CHECK(slept >= 20ms);
}

TEST_CASE("sleeping tasks wake in the order of their deadlines" * doctest::timeout(30)) {
  Runtime rt(workers(1));
  std::mutex mutex;
  std::vector<int> order;
  std::vector<JoinHandle<void>> sleepers;
  const auto base = Clock::now() + 20ms;
  for (int i : {5, 1, 4, 2, 3, 0}) {
    sleepers.push_back(rt.spawn([](int i, Clock::time_point at, std::mutex& m,
                                   std::vector<int>& out) -> Task<void> {
      co_await troupe::sleep_until(at);
      std::lock_guard lock(m);
      out.push_back(i);
    }(i, base + i * 15ms, mutex, order)));
  }
  for (auto& sleeper : sleepers) sleeper.get();
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("a timeout on a receive that never completes reports Elapsed and withdraws it" *
          doctest::timeout(30)) {
  Runtime rt(workers(2));
  auto [tx, rx] = troupe::channel<int>(1);
  auto outcome = rt.block_on([](troupe::Receiver<int>& rx) -> Task<bool> {
    auto r = co_await troupe::timeout(10ms, rx.recv());
    co_return r.has_value();
  }(rx));
  CHECK_FALSE(outcome);
  // The receiver is usable again: the timed-out receive left no registration behind.
  REQUIRE(tx.try_send(5));
  CHECK(rx.try_recv().value() == 5);
}

TEST_CASE("a timeout on a receive that completes in time yields the message" *
          doctest::timeout(30)) {
  Runtime rt(workers(2));
  auto [tx, rx] = troupe::channel<int>(1);
  auto receiver = rt.spawn([](troupe::Receiver<int> rx) -> Task<int> {
    auto r = co_await troupe::timeout(10s, rx.recv());
    co_return r && *r ? **r : -1;
  }(std::move(rx)));
  REQUIRE(tx.blocking_send(42));
  CHECK(receiver.get() == 42);
}

TEST_CASE("a timeout bounds a join" * doctest::timeout(30)) {
  Runtime rt(workers(2));
  auto result = rt.block_on([]() -> Task<bool> {
    auto slow = troupe::spawn([]() -> Task<int> {
      co_await troupe::sleep_for(1h);
      co_return 1;
    }());
    auto r = co_await troupe::timeout(10ms, slow);  // on timeout the task is detached
    co_return r.has_value();
  }());
  CHECK_FALSE(result);
}

TEST_CASE("an interval ticks on a fixed schedule" * doctest::timeout(30)) {
  Runtime rt(workers(2));
  auto elapsed = rt.block_on([]() -> Task<Clock::duration> {
    troupe::Interval interval(5ms);
    const auto start = Clock::now();
    for (int i = 0; i < 10; ++i) co_await interval.tick();
    co_return Clock::now() - start;
  }());
  CHECK(elapsed >= 50ms);
}

TEST_CASE("bad durations are refused" * doctest::timeout(30)) {
  CHECK(error_code_of([] { (void)troupe::sleep_for(-1ms); }) == ErrorCode::invalid_argument);
  CHECK(error_code_of([] { troupe::Interval interval(0ms); }) == ErrorCode::invalid_argument);
  // Awaiting a timer outside a runtime worker is refused rather than never firing.
  troupe::SleepOp op(Clock::now() + 1h);
  troupe::testing::CountingWaker waker;
  CHECK(error_code_of([&] { (void)op.poll(waker); }) == ErrorCode::invalid_argument);
}

TEST_CASE("a negative duration is refused with a message naming it" * doctest::timeout(30)) {
  using troupe::testing::error_message_of;
  CHECK(error_message_of([] { (void)troupe::sleep_for(-3ms); }) ==
        "sleep_for: duration -3000000 ns is negative");
  auto [tx, rx] = troupe::channel<int>(1);
  CHECK(error_message_of([&] { (void)troupe::timeout(-3ms, rx.recv()); }) ==
        "timeout: duration -3000000 ns is negative");
  CHECK(error_message_of([] { troupe::Interval interval(-3ms); }) ==
        "Interval: period -3000000 ns is not positive");
  CHECK(error_message_of([] { troupe::Interval interval(0ms); }) ==
        "Interval: period 0 ns is not positive");
}

TEST_CASE("a duration too long for the clock means forever, not an overflow into the past" *
          doctest::timeout(30)) {
  // hours::max() in nanoseconds overflows 64 bits: it must not wrap to a deadline already past.
  Runtime rt(workers(2));
  const auto outcome = rt.block_on([]() -> Task<int> {
    int right = 0;
    // The forever sleep is still asleep when a short timeout on its join ends the wait.
    auto sleeper = troupe::spawn([]() -> Task<void> {
      co_await troupe::sleep_for(std::chrono::hours::max());
    }());
    auto slept = co_await troupe::timeout(5ms, sleeper);
    right += slept ? 0 : 1;
    // A forever timeout lets its operation finish.
    auto quick = troupe::spawn([]() -> Task<void> { co_await troupe::sleep_for(1ms); }());
    auto bounded = co_await troupe::timeout(std::chrono::hours::max(), quick);
    right += bounded ? 1 : 0;
    // A forever interval is valid, and its first tick is not due yet.
    auto ticker = troupe::spawn([]() -> Task<void> {
      troupe::Interval forever(std::chrono::hours::max());
      co_await forever.tick();
    }());
    auto ticked = co_await troupe::timeout(5ms, ticker);
    right += ticked ? 0 : 1;
    co_return right;
  }());
  CHECK(outcome == 3);
}

// A million in the release suite; a quarter under a sanitizer (stress_volume), which finds
// what it finds through the order it observes, not the count.
TEST_CASE("a million pending timers are cancelled with their tasks" * doctest::timeout(120)) {
  Runtime rt(workers(2));
  static const int kTimers = static_cast<int>(troupe::testing::stress_volume(1'000'000));
  std::atomic<int> armed{0};
  auto spawner = rt.block_on([](std::atomic<int>& armed) -> Task<std::vector<JoinHandle<void>>> {
    std::vector<JoinHandle<void>> handles;
    handles.reserve(kTimers);
    for (int i = 0; i < kTimers; ++i) {
      handles.push_back(troupe::spawn([](std::atomic<int>& a, int i) -> Task<void> {
        a.fetch_add(1, std::memory_order_relaxed);
        co_await troupe::sleep_for(std::chrono::hours(1) + std::chrono::milliseconds(i));
      }(armed, i)));
    }
    co_return handles;
  }(armed));
  while (armed.load() < kTimers) std::this_thread::yield();
  for (auto& handle : spawner) handle.cancel();
  int cancelled = 0;
  for (auto& handle : spawner) {
    try {
      handle.get();
    } catch (const troupe::Error& error) {
      cancelled += error.code() == ErrorCode::cancelled ? 1 : 0;
    }
  }
  CHECK(cancelled == kTimers);
  CHECK(rt.metrics().live_tasks == 0);
}

TEST_CASE("shutdown with pending timers returns and leaks nothing" * doctest::timeout(30)) {
  std::vector<JoinHandle<void>> handles;
  {
    Runtime rt(workers(2));
    for (int i = 0; i < 100; ++i) {
      handles.push_back(rt.spawn([]() -> Task<void> { co_await troupe::sleep_for(1h); }()));
    }
    std::this_thread::sleep_for(20ms);
  }  // the destructor shuts down
  for (auto& handle : handles) CHECK(error_code_of([&] { handle.get(); }) == ErrorCode::cancelled);
}
