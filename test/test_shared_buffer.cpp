// SharedBuffer: shared bytes, atomic word views, and Atomics.wait/notify semantics.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "test_support.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/channels/shared_buffer.hpp"
#include "troupe/channels/waker.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::ErrorCode;
using troupe::SharedBuffer;
using troupe::WaitResult;

using troupe::testing::error_code_of;
using troupe::testing::error_message_of;

// Spins (yielding the core) until `done()` holds; the test's timeout catches a hang.
template <class F>
void spin_until(F&& done) {
  while (!done()) std::this_thread::yield();
}

static_assert(std::is_nothrow_copy_constructible_v<SharedBuffer>);
static_assert(std::is_nothrow_move_constructible_v<SharedBuffer>);
static_assert(troupe::Sendable<SharedBuffer>);

}  // namespace

TEST_CASE("shared_buffer.a new buffer is zero-filled and cache-line aligned") {
  SharedBuffer shared(1000);
  CHECK(shared.valid());
  CHECK(shared.size() == 1000);
  CHECK(shared.use_count() == 1);
  CHECK(reinterpret_cast<std::uintptr_t>(shared.data()) % SharedBuffer::kAlignment == 0);
  for (std::byte b : shared.bytes()) CHECK(b == std::byte{0});
  CHECK(shared.i64(124).load() == 0);
}

TEST_CASE("shared_buffer.copies share the same bytes") {
  SharedBuffer a(64);
  SharedBuffer b = a;
  CHECK(b.data() == a.data());
  CHECK(a.use_count() == 2);
  b.i32(3).store(17);
  CHECK(a.i32(3).load() == 17);
  {
    SharedBuffer c;
    c = b;
    CHECK(a.use_count() == 3);
  }
  CHECK(a.use_count() == 2);
  SharedBuffer moved = std::move(b);
  CHECK_FALSE(b.valid());  // NOLINT(bugprone-use-after-move): a moved-from handle is empty
  CHECK(b.size() == 0);
  CHECK(b.data() == nullptr);
  CHECK(moved.data() == a.data());
  CHECK(a.use_count() == 2);
}

TEST_CASE("shared_buffer.the bytes live as long as any handle" * doctest::timeout(10)) {
  auto [tx, rx] = troupe::channel<SharedBuffer>(1);
  std::thread worker([&rx] {
    std::optional<SharedBuffer> shared = rx.blocking_recv();
    REQUIRE(shared);
    shared->i32(0).fetch_add(5);
  });
  {
    SharedBuffer shared(16);
    shared.i32(0).store(1);
    REQUIRE(tx.blocking_send(shared));  // a copy of the handle travels
    CHECK(shared.wait_i32(1, 1) == WaitResult::not_equal);
  }  // the sender's handle is gone; the worker's keeps the bytes alive
  worker.join();
}

TEST_CASE("shared_buffer.an empty handle is invalid to use") {
  SharedBuffer empty;
  CHECK_FALSE(empty.valid());
  CHECK(empty.size() == 0);
  CHECK(empty.use_count() == 0);
  CHECK(error_code_of([&] { (void)empty.i32(0); }) == ErrorCode::invalid_handle);
  CHECK(error_code_of([&] { (void)empty.bytes(); }) == ErrorCode::invalid_handle);
  CHECK(error_code_of([&] { (void)empty.notify_i32(0); }) == ErrorCode::invalid_handle);
  SharedBuffer copy = empty;
  CHECK_FALSE(copy.valid());
}

TEST_CASE("shared_buffer.an impossible size is resource_exhausted") {
  CHECK(error_code_of([] { SharedBuffer s(std::size_t{1} << 60); }) ==
        ErrorCode::resource_exhausted);
  CHECK(error_message_of([] { SharedBuffer s(std::size_t{1} << 60); }) ==
        "SharedBuffer: cannot allocate 1152921504606846976 bytes");
  SharedBuffer zero(0);
  CHECK(zero.valid());
  CHECK(zero.size() == 0);
  CHECK(error_code_of([&] { (void)zero.i32(0); }) == ErrorCode::out_of_range);
}

TEST_CASE("shared_buffer.word views index in units of the word, like typed arrays") {
  SharedBuffer shared(16);
  shared.i64(1).store(-1);
  CHECK(shared.i32(2).load() == -1);  // i32(2) is the low half of i64(1) (little endian)
  CHECK(shared.i32(3).load() == -1);
  CHECK(shared.i32(0).load() == 0);
  CHECK(shared.atomic<std::uint8_t>(8).load() == 0xFF);
  CHECK(shared.atomic<std::uint16_t>(0).load() == 0);
}

TEST_CASE("shared_buffer.an index past the last whole word is out of range") {
  SharedBuffer shared(12);  // three 32-bit words, one whole 64-bit word
  CHECK_NOTHROW((void)shared.i32(2));
  CHECK(error_code_of([&] { (void)shared.i32(3); }) == ErrorCode::out_of_range);
  CHECK(error_message_of([&] { (void)shared.i32(3); }) ==
        "SharedBuffer::i32: index 3 is out of range for 3 32-bit words (12 bytes)");
  CHECK_NOTHROW((void)shared.i64(0));
  CHECK(error_message_of([&] { (void)shared.i64(1); }) ==
        "SharedBuffer::i64: index 1 is out of range for 1 64-bit words (12 bytes)");
  CHECK(error_code_of([&] { (void)shared.wait_i32(3, 0); }) == ErrorCode::out_of_range);
  CHECK(error_code_of([&] { (void)shared.wait_i64(7, 0, 1ms); }) == ErrorCode::out_of_range);
  CHECK(error_code_of([&] { (void)shared.notify_i64(1); }) == ErrorCode::out_of_range);
  CHECK(error_code_of([&] { (void)shared.atomic<std::int16_t>(6); }) == ErrorCode::out_of_range);
}

TEST_CASE("shared_buffer.atomic views from two threads add up exactly" * doctest::timeout(10)) {
  constexpr int kPerThread = 100000;
  SharedBuffer shared(16);
  std::latch start(2);
  auto work = [&start](SharedBuffer mine) {
    start.arrive_and_wait();
    for (int i = 0; i < kPerThread; ++i) {
      mine.i32(0).fetch_add(1);
      mine.i64(1).fetch_add(3, std::memory_order_relaxed);
    }
  };
  std::thread a(work, shared);
  std::thread b(work, shared);
  a.join();
  b.join();
  CHECK(shared.i32(0).load() == 2 * kPerThread);
  CHECK(shared.i64(1).load() == 6 * std::int64_t{kPerThread});
}

TEST_CASE("shared_buffer.wait on a word that differs returns not_equal at once") {
  SharedBuffer shared(16);
  shared.i32(0).store(5);
  CHECK(shared.wait_i32(0, 4) == WaitResult::not_equal);
  CHECK(shared.wait_i32(0, 4, 1h) == WaitResult::not_equal);
  shared.i64(1).store(std::int64_t{1} << 32);  // differs from 0 only in the high half
  CHECK(shared.wait_i64(1, 0) == WaitResult::not_equal);
}

TEST_CASE("shared_buffer.wait with a timeout and no notify times out") {
  SharedBuffer shared(8);
  CHECK(shared.wait_i32(0, 0, 5ms) == WaitResult::timed_out);
  CHECK(shared.wait_i64(0, 0, 2ms) == WaitResult::timed_out);
  CHECK(shared.wait_i32(0, 0, 0ms) == WaitResult::timed_out);  // zero: compare only
  CHECK(shared.wait_i32(0, 0, std::chrono::duration<double>(0.001)) == WaitResult::timed_out);
  CHECK(shared.waiter_count_i32(0) == 0);  // a timed-out waiter leaves the queue
}

TEST_CASE("shared_buffer.a timeout too long for the clock waits like forever" *
          doctest::timeout(10)) {
  SharedBuffer shared(8);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    shared.i32(0).store(1);
    while (!done.load()) {
      (void)shared.notify_i32(0);
      std::this_thread::yield();
    }
  });
  const WaitResult woken = shared.wait_i32(0, 0, std::chrono::hours::max());
  done.store(true);
  writer.join();
  CHECK(woken != WaitResult::timed_out);  // ok or not_equal: never a deadline already past
}

TEST_CASE("shared_buffer.a negative timeout is an invalid argument") {
  SharedBuffer shared(8);
  CHECK(error_code_of([&] { (void)shared.wait_i32(0, 0, -1ms); }) == ErrorCode::invalid_argument);
  CHECK(error_code_of([&] { (void)shared.wait_i64(0, 0, -1ns); }) == ErrorCode::invalid_argument);
  CHECK(error_code_of([&] {
          (void)shared.wait_i32(0, 0, std::chrono::duration<double>(std::nan("")));
        }) == ErrorCode::invalid_argument);
  CHECK(error_message_of([&] { (void)shared.wait_i32(0, 0, -1s); }) ==
        "SharedBuffer::wait_i32: timeout is negative (or not a number)");
}

TEST_CASE("shared_buffer.notify wakes a waiter and publishes what was written before it" *
          doctest::timeout(10)) {
  SharedBuffer shared(256);
  WaitResult result = WaitResult::not_equal;
  std::thread waiter([&result, shared] {
    result = shared.wait_i32(0, 0);
    if (result == WaitResult::ok) CHECK(shared.bytes()[100] == std::byte{7});  // plain read
  });
  shared.bytes()[100] = std::byte{7};  // a plain write before notify
  spin_until([&] { return shared.notify_i32(0, 1) == 1; });
  waiter.join();
  CHECK(result == WaitResult::ok);
}

TEST_CASE("shared_buffer.notify returns the number of waiters woken" * doctest::timeout(10)) {
  SharedBuffer shared(16);
  std::atomic<int> returned{0};
  std::vector<WaitResult> results(3, WaitResult::not_equal);
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&, i] {
      results[i] = shared.wait_i32(1, 0);
      returned.fetch_add(1);
    });
  }
  spin_until([&] { return shared.waiter_count_i32(1) == 3; });
  CHECK(shared.notify_i32(1, 0) == 0);
  CHECK(shared.notify_i32(0) == 0);  // a different word: nobody waits there
  CHECK(shared.notify_i32(1, 2) == 2);
  spin_until([&] { return returned.load() == 2; });
  CHECK(shared.waiter_count_i32(1) == 1);
  CHECK(shared.notify_i32(1, SharedBuffer::kNotifyAll) == 1);
  for (std::thread& t : waiters) t.join();
  for (WaitResult r : results) CHECK(r == WaitResult::ok);
  CHECK(shared.notify_i32(1) == 0);
}

TEST_CASE("shared_buffer.notify all wakes more waiters than fit inline" * doctest::timeout(10)) {
  constexpr int kWaiters = 40;
  SharedBuffer shared(8);
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&] {
      if (shared.wait_i64(0, 0) == WaitResult::ok) woken.fetch_add(1);
    });
  }
  spin_until([&] { return shared.waiter_count_i64(0) == kWaiters; });
  CHECK(shared.notify_i64(0) == kWaiters);
  for (std::thread& t : waiters) t.join();
  CHECK(woken.load() == kWaiters);
}

TEST_CASE("shared_buffer.64-bit words wait and notify across threads" * doctest::timeout(10)) {
  SharedBuffer shared(16);
  constexpr std::int64_t kBig = (std::int64_t{1} << 40) + 3;
  shared.i64(1).store(kBig);
  WaitResult result = WaitResult::not_equal;
  std::thread waiter([&result, shared] {
    result = shared.wait_i64(1, kBig);
    CHECK(shared.i64(1).load() == kBig + 1);
  });
  spin_until([&] { return shared.waiter_count_i64(1) == 1; });
  shared.i64(1).store(kBig + 1);
  CHECK(shared.notify_i64(1) == 1);
  waiter.join();
  CHECK(result == WaitResult::ok);
}

TEST_CASE("shared_buffer.waiters are keyed by address across word sizes" * doctest::timeout(10)) {
  SharedBuffer shared(16);
  WaitResult result = WaitResult::not_equal;
  std::thread waiter([&result, shared] { result = shared.wait_i32(2, 0); });
  spin_until([&] { return shared.waiter_count_i64(1) == 1; });  // i64(1) starts at i32(2)
  CHECK(shared.notify_i32(3) == 0);                             // another address
  CHECK(shared.notify_i64(1) == 1);
  waiter.join();
  CHECK(result == WaitResult::ok);
}

TEST_CASE("shared_buffer.a change followed by notify is never lost" * doctest::timeout(10)) {
  // The waiter either sees the new value (not_equal) or is woken (ok); a lost wake would leave
  // it waiting until its long safety timeout.
  constexpr int kRounds = 2000;
  SharedBuffer shared(8);
  std::atomic<int> lost{0};
  std::latch done(1);
  std::thread waiter([&] {
    for (int round = 0; round < kRounds; ++round) {
      while (shared.i32(0).load() == 2 * round) {
        if (shared.wait_i32(0, 2 * round, 20s) == WaitResult::timed_out) lost.fetch_add(1);
      }
      shared.i32(0).fetch_add(1);  // acknowledge: odd
      shared.notify_i32(0);
    }
    done.count_down();
  });
  for (int round = 0; round < kRounds; ++round) {
    shared.i32(0).fetch_add(1);  // 2 * round -> 2 * round + 1: release the waiter
    shared.notify_i32(0);
    // wait for the acknowledgement (2 * round + 2)
    while (shared.i32(0).load() != 2 * round + 2) {
      if (shared.wait_i32(0, 2 * round + 1, 20s) == WaitResult::timed_out) lost.fetch_add(1);
    }
  }
  done.wait();
  waiter.join();
  CHECK(lost.load() == 0);
  CHECK(shared.i32(0).load() == 2 * kRounds);
}

TEST_CASE("shared_buffer.a stale wake of the thread's parker does not end a wait") {
  SharedBuffer shared(8);
  troupe::Parker::current().wake();  // a token left over from something else
  CHECK(shared.wait_i32(0, 0, 5ms) == WaitResult::timed_out);
  CHECK(shared.waiter_count_i32(0) == 0);
}

TEST_CASE("shared_buffer.wait results have names") {
  CHECK(troupe::to_string(WaitResult::ok) == "ok");
  CHECK(troupe::to_string(WaitResult::not_equal) == "not_equal");
  CHECK(troupe::to_string(WaitResult::timed_out) == "timed_out");
}
