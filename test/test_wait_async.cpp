// wait_async_i32 / wait_async_i64 (runtime/sync/wait_async.hpp): Atomics.waitAsync for tasks —
// not_equal at once, woken by a thread's notify, counted and ordered with blocked threads,
// withdrawn by a timeout or a cancellation (and a notify that chose a cancelled wait handed on),
// the errors of wait_i32, and many words at once.
//
// The cross-thread race between a notify and a cancellation is driven on the poll operation
// directly; its wakers outlive both sides (a notify wakes what it took before it returns).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "test_support.hpp"
#include "troupe/channels/shared_buffer.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/sync.hpp"
#include "troupe/runtime/time.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::ErrorCode;
using troupe::JoinHandle;
using troupe::Runtime;
using troupe::RuntimeOptions;
using troupe::SharedBuffer;
using troupe::Task;
using troupe::WaitAsyncOp;
using troupe::WaitResult;
using troupe::testing::race;
using troupe::testing::spin_until;
using troupe::testing::error_code_of;
using troupe::testing::error_message_of;
using troupe::testing::ManualTask;

// --- compile-time properties ------------------------------------------------------------------

static_assert(troupe::PollOp<WaitAsyncOp>);
static_assert(troupe::detail::HasReadyNow<WaitAsyncOp>);
static_assert(std::is_move_constructible_v<WaitAsyncOp>);  // troupe::timeout moves it in
static_assert(!troupe::detail::OwnsPayload<WaitAsyncOp>);  // ... and may abandon it
static_assert(!std::is_copy_constructible_v<WaitAsyncOp>);

// --- helpers ----------------------------------------------------------------------------------

RuntimeOptions workers(std::size_t n) {
  RuntimeOptions options;
  options.min_threads = n;
  options.max_threads = n;
  return options;
}

ManualTask wait_into(const SharedBuffer& shared, std::size_t index, std::int32_t expected,
                     std::optional<WaitResult>& out) {
  out = co_await troupe::wait_async_i32(shared, index, expected);
}

Task<WaitResult> wait_i32_task(SharedBuffer shared, std::size_t index, std::int32_t expected) {
  co_return co_await troupe::wait_async_i32(shared, index, expected);
}

// Records `id` in `order` once woken (under `mutex`).
Task<WaitResult> wait_and_record(SharedBuffer shared, std::size_t index, int id, std::mutex& mutex,
                                 std::vector<int>& order) {
  const WaitResult result = co_await troupe::wait_async_i32(shared, index, 0);
  std::lock_guard lock(mutex);
  order.push_back(id);
  co_return result;
}

}  // namespace

TEST_CASE("wait_async.a word that already differs completes at once with not_equal" *
          doctest::timeout(30)) {
  SharedBuffer shared(16);
  shared.i32(1).store(5);
  std::optional<WaitResult> got;
  ManualTask task = wait_into(shared, 1, 4, got);
  CHECK(task.done());  // never suspended
  CHECK(got == WaitResult::not_equal);
  CHECK(shared.waiter_count_i32(1) == 0);

  Runtime rt(workers(2));
  CHECK(rt.block_on(wait_i32_task(shared, 1, 4)) == WaitResult::not_equal);
  shared.i64(1).store(-7);
  CHECK(rt.block_on([](SharedBuffer s) -> Task<WaitResult> {
          co_return co_await troupe::wait_async_i64(s, 1, 7);
        }(shared)) == WaitResult::not_equal);
}

TEST_CASE("wait_async.a task waiting on a word is woken by a plain thread's store and notify" *
          doctest::timeout(30)) {
  Runtime rt(workers(2));
  SharedBuffer shared(256);
  auto waiter = rt.spawn([](SharedBuffer s) -> Task<bool> {
    const WaitResult result = co_await troupe::wait_async_i32(s, 0, 0);
    // The plain write before notify is visible once the wait returns ok.
    co_return result == WaitResult::ok && s.bytes()[100] == std::byte{7};
  }(shared));
  spin_until([&] { return shared.waiter_count_i32(0) == 1; });
  std::thread notifier([shared] {
    shared.bytes()[100] = std::byte{7};  // a plain write before notify
    shared.i32(0).store(1);
    CHECK(shared.notify_i32(0) == 1);
  });
  notifier.join();
  CHECK(waiter.get());
  CHECK(shared.waiter_count_i32(0) == 0);
}

TEST_CASE("wait_async.a notified ManualTask is woken once and completes with ok" *
          doctest::timeout(30)) {
  SharedBuffer shared(8);
  std::optional<WaitResult> got;
  ManualTask task = wait_into(shared, 0, 0, got);
  REQUIRE_FALSE(task.done());
  CHECK(task.step() == false);  // a spurious re-poll keeps one registration
  CHECK(shared.waiter_count_i32(0) == 1);
  CHECK(shared.notify_i32(0) == 1);
  CHECK(task.wakes() == 1);
  CHECK(task.step());
  CHECK(got == WaitResult::ok);
  CHECK(shared.notify_i32(0) == 0);
}

TEST_CASE("wait_async.notify counts async waiters together with blocked threads" *
          doctest::timeout(30)) {
  Runtime rt(workers(2));
  SharedBuffer shared(8);
  std::vector<JoinHandle<WaitResult>> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back(rt.spawn(wait_i32_task(shared, 1, 0)));
  std::atomic<int> threads_ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&threads_ok, shared] {
      if (shared.wait_i32(1, 0) == WaitResult::ok) threads_ok.fetch_add(1);
    });
  }
  spin_until([&] { return shared.waiter_count_i32(1) == 5; });
  CHECK(shared.notify_i32(0) == 0);  // another word: nobody waits there
  CHECK(shared.notify_i32(1, 2) == 2);
  CHECK(shared.waiter_count_i32(1) == 3);
  CHECK(shared.notify_i32(1) == 3);
  CHECK(shared.notify_i32(1) == 0);
  for (auto& task : tasks) CHECK(task.get() == WaitResult::ok);
  for (std::thread& t : threads) t.join();
  CHECK(threads_ok.load() == 2);
}

TEST_CASE("wait_async.notify one wakes threads and tasks in the order they started waiting" *
          doctest::timeout(30)) {
  Runtime rt(workers(2));
  SharedBuffer shared(8);
  std::mutex mutex;
  std::vector<int> order;
  std::vector<JoinHandle<WaitResult>> tasks;
  std::vector<std::thread> threads;
  auto woken = [&] {
    std::lock_guard lock(mutex);
    return order.size();
  };
  // Waiters 0..5 queue one after the other: even ones are tasks, odd ones blocked threads.
  for (int id = 0; id < 6; ++id) {
    if (id % 2 == 0) {
      tasks.push_back(rt.spawn(wait_and_record(shared, 0, id, mutex, order)));
    } else {
      threads.emplace_back([&, id, shared] {
        CHECK(shared.wait_i32(0, 0) == WaitResult::ok);
        std::lock_guard lock(mutex);
        order.push_back(id);
      });
    }
    spin_until([&] { return shared.waiter_count_i32(0) == static_cast<std::size_t>(id) + 1; });
  }
  for (std::size_t n = 1; n <= 6; ++n) {
    CHECK(shared.notify_i32(0, 1) == 1);
    spin_until([&] { return woken() == n; });
  }
  CHECK(shared.notify_i32(0, 1) == 0);
  for (auto& task : tasks) CHECK(task.get() == WaitResult::ok);
  for (std::thread& t : threads) t.join();
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("wait_async.a timeout reports Elapsed and withdraws the waiter" * doctest::timeout(30)) {
  Runtime rt(workers(2));
  SharedBuffer shared(8);
  const bool elapsed = rt.block_on([](SharedBuffer s) -> Task<bool> {
    auto r = co_await troupe::timeout(10ms, troupe::wait_async_i32(s, 0, 0));
    co_return !r.has_value() && r.error().after == 10ms;
  }(shared));
  CHECK(elapsed);
  CHECK(shared.waiter_count_i32(0) == 0);
  CHECK(shared.notify_i32(0) == 0);  // the timed-out wait is not counted
}

TEST_CASE("wait_async.a timeout around a wait that completes yields its result" *
          doctest::timeout(30)) {
  Runtime rt(workers(2));
  SharedBuffer shared(8);
  shared.i32(0).store(3);
  auto differs = rt.block_on([](SharedBuffer s) -> Task<std::optional<WaitResult>> {
    auto r = co_await troupe::timeout(10s, troupe::wait_async_i32(s, 0, 0));
    co_return r ? std::optional<WaitResult>(*r) : std::nullopt;
  }(shared));
  CHECK(differs == WaitResult::not_equal);

  auto notified = rt.spawn([](SharedBuffer s) -> Task<std::optional<WaitResult>> {
    auto r = co_await troupe::timeout(10s, troupe::wait_async_i32(s, 0, 3));
    co_return r ? std::optional<WaitResult>(*r) : std::nullopt;
  }(shared));
  spin_until([&] { return shared.waiter_count_i32(0) == 1; });
  CHECK(shared.notify_i32(0) == 1);
  CHECK(notified.get() == WaitResult::ok);
}

TEST_CASE("wait_async.cancelling a waiting task withdraws its wait" * doctest::timeout(30)) {
  Runtime rt(workers(2));
  SharedBuffer shared(8);
  auto handle = rt.spawn(wait_i32_task(shared, 0, 0));
  spin_until([&] { return shared.waiter_count_i32(0) == 1; });
  handle.cancel();
  CHECK(error_code_of([&] { (void)handle.get(); }) == ErrorCode::cancelled);
  CHECK(shared.waiter_count_i32(0) == 0);
  CHECK(shared.notify_i32(0) == 0);
}

TEST_CASE("wait_async.a notify that chose a cancelled wait is handed to the next waiter" *
          doctest::timeout(30)) {
  SharedBuffer shared(8);
  std::optional<WaitResult> lost;
  std::optional<WaitResult> next;
  auto chosen = std::make_optional<ManualTask>(wait_into(shared, 0, 0, lost));
  ManualTask second = wait_into(shared, 0, 0, next);
  CHECK(shared.notify_i32(0, 1) == 1);  // takes the oldest: `chosen`, which is then dropped
  CHECK(chosen->wakes() == 1);
  CHECK(second.wakes() == 0);
  chosen.reset();  // cancel + destroy before it saw the notify
  CHECK(second.wakes() == 1);
  CHECK(second.step());
  CHECK(next == WaitResult::ok);
  CHECK_FALSE(lost.has_value());
  CHECK(shared.waiter_count_i32(0) == 0);
  // With nobody left to hand it to, the wake simply ends.
  std::optional<WaitResult> alone;
  auto only = std::make_optional<ManualTask>(wait_into(shared, 0, 0, alone));
  CHECK(shared.notify_i32(0) == 1);
  only.reset();
  CHECK(shared.waiter_count_i32(0) == 0);
  CHECK(shared.notify_i32(0) == 0);
}

TEST_CASE("wait_async.a wait cancelled while a notify takes it never loses the wake" *
          doctest::timeout(30)) {
  SharedBuffer shared(8);
  for (int round = 0; round < 2000; ++round) {
    troupe::testing::CountingWaker cancelled_waker;
    troupe::testing::CountingWaker next_waker;
    auto cancelled = std::make_optional<WaitAsyncOp>(shared, 0, troupe::detail::WordWidth::i32,
                                                     0, "test");
    WaitAsyncOp next(shared, 0, troupe::detail::WordWidth::i32, 0, "test");
    REQUIRE_FALSE(cancelled->poll(cancelled_waker));
    REQUIRE_FALSE(next.poll(next_waker));
    std::size_t counted = 0;
    // Destroying the operation is what dropping its task does to it. The sides swap threads
    // every round, so that each wins the race often.
    auto cancel = [&] { cancelled.reset(); };
    auto notify = [&] { counted = shared.notify_i32(0, 1); };
    if (round % 2 == 0) {
      race(cancel, notify);
    } else {
      race(notify, cancel);
    }
    CHECK(counted == 1);
    // Whichever came first, the one notify reached `next`: directly, or handed on.
    CHECK(next_waker.wakes.load() == 1);
    REQUIRE(next.ready_now());
    CHECK(next.take() == WaitResult::ok);
    CHECK(shared.waiter_count_i32(0) == 0);
  }
}

TEST_CASE("wait_async.bad indexes and empty handles throw what wait_i32 throws" *
          doctest::timeout(30)) {
  SharedBuffer shared(12);  // three 32-bit words, one whole 64-bit word
  CHECK(error_code_of([&] { (void)troupe::wait_async_i32(shared, 3, 0); }) ==
        error_code_of([&] { (void)shared.wait_i32(3, 0); }));
  CHECK(error_code_of([&] { (void)troupe::wait_async_i32(shared, 3, 0); }) ==
        ErrorCode::out_of_range);
  CHECK(error_message_of([&] { (void)troupe::wait_async_i32(shared, 3, 0); }) ==
        "wait_async_i32: index 3 is out of range for 3 32-bit words (12 bytes)");
  // The last four bytes are no whole 64-bit word: the same answer as wait_i64.
  CHECK(error_code_of([&] { (void)troupe::wait_async_i64(shared, 1, 0); }) ==
        error_code_of([&] { (void)shared.wait_i64(1, 0); }));
  CHECK(error_message_of([&] { (void)troupe::wait_async_i64(shared, 1, 0); }) ==
        "wait_async_i64: index 1 is out of range for 1 64-bit words (12 bytes)");
  const SharedBuffer empty;
  CHECK(error_code_of([&] { (void)troupe::wait_async_i32(empty, 0, 0); }) ==
        ErrorCode::invalid_handle);
  CHECK(error_code_of([&] { (void)empty.wait_i32(0, 0); }) == ErrorCode::invalid_handle);
  CHECK(shared.waiter_count_i32(0) == 0);
}

TEST_CASE("wait_async.an operation moves before its first poll but not while it waits" *
          doctest::timeout(30)) {
  SharedBuffer shared(8);
  troupe::testing::CountingWaker waker;
  WaitAsyncOp first(shared, 0, troupe::detail::WordWidth::i32, 0, "test");
  WaitAsyncOp moved(std::move(first));  // never polled: fine
  REQUIRE_FALSE(moved.poll(waker));
  CHECK(error_code_of([&] { WaitAsyncOp again(std::move(moved)); }) ==
        ErrorCode::invalid_argument);
  CHECK(shared.waiter_count_i32(0) == 1);  // the failed move left the wait where it was
  CHECK(shared.notify_i32(0) == 1);
  CHECK(waker.wakes.load() == 1);
  CHECK(moved.ready_now());
  WaitAsyncOp done(std::move(moved));  // completed: fine, the result goes along
  CHECK(done.take() == WaitResult::ok);
}

TEST_CASE("wait_async.the operation keeps the bytes alive while it waits" *
          doctest::timeout(30)) {
  std::optional<SharedBuffer> shared(std::in_place, 8);
  const SharedBuffer observer = *shared;  // to notify through after the waiter's handle is gone
  std::optional<WaitResult> got;
  ManualTask task = wait_into(*shared, 0, 0, got);
  CHECK(observer.use_count() == 3);  // `shared`, `observer` and the operation's own handle
  shared.reset();
  CHECK(observer.notify_i32(0) == 1);
  CHECK(task.step());
  CHECK(got == WaitResult::ok);
}

TEST_CASE("wait_async.many tasks waiting on different words are each woken by their own notify" *
          doctest::timeout(30)) {
  constexpr std::size_t kWords = 64;
  Runtime rt(workers(4));
  SharedBuffer shared(kWords * 8);
  std::vector<JoinHandle<WaitResult>> waiters;
  for (std::size_t i = 0; i < kWords; ++i) {
    if (i % 2 == 0) {
      waiters.push_back(rt.spawn(wait_i32_task(shared, 2 * i, 0)));  // bytes 8i..8i+3
    } else {
      waiters.push_back(rt.spawn([](SharedBuffer s, std::size_t index) -> Task<WaitResult> {
        co_return co_await troupe::wait_async_i64(s, index, 0);  // bytes 8i..8i+7
      }(shared, i)));
    }
  }
  for (std::size_t i = 0; i < kWords; ++i) {
    spin_until([&] { return shared.waiter_count_i64(i) == 1; });
  }
  // Wake them from the last to the first; each notify reaches exactly its own word's waiter.
  for (std::size_t i = kWords; i-- > 0;) {
    shared.i64(i).store(static_cast<std::int64_t>(i) + 1);
    CHECK(shared.notify_i64(i) == 1);
    CHECK(waiters[i].get() == WaitResult::ok);
    if (i > 0) CHECK(shared.waiter_count_i64(i - 1) == 1);
  }
  for (std::size_t i = 0; i < kWords; ++i) CHECK(shared.waiter_count_i64(i) == 0);
}

TEST_CASE("wait_async.a change followed by notify is never lost to a task" *
          doctest::timeout(30)) {
  // The task either sees the new value (not_equal) or is woken (ok); a lost wake would leave it
  // waiting forever, and the test's timeout would fail it.
  constexpr int kRounds = 2000;
  Runtime rt(workers(2));
  SharedBuffer shared(8);
  auto task = rt.spawn([](SharedBuffer s) -> Task<void> {
    for (int round = 0; round < kRounds; ++round) {
      while (s.i32(0).load() == 2 * round) {
        (void)co_await troupe::wait_async_i32(s, 0, 2 * round);
      }
      s.i32(0).fetch_add(1);  // acknowledge: odd -> even
      s.notify_i32(0);
    }
  }(shared));
  for (int round = 0; round < kRounds; ++round) {
    shared.i32(0).fetch_add(1);  // 2 * round -> 2 * round + 1: release the task
    shared.notify_i32(0);
    while (shared.i32(0).load() != 2 * round + 2) (void)shared.wait_i32(0, 2 * round + 1);
  }
  task.get();
  CHECK(shared.i32(0).load() == 2 * kRounds);
}
