// select over several receivers: the blocking forms on plain threads (blocking_select,
// blocking_select_for), and `co_await select(...)` in coroutines — driven by ManualTask
// (test_support.hpp) to see its registrations, and on a real Runtime with threads feeding it.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/channels/select.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/time.hpp"

using namespace std::chrono_literals;
using troupe::Receiver;
using troupe::RecvError;
using troupe::Task;
using troupe::testing::ManualTask;
using troupe::testing::Tracked;

namespace {

// The coroutines take what they use by reference (a capturing lambda coroutine would outlive
// its captures).
template <class... T>
ManualTask select_into(std::optional<std::size_t>& out, Receiver<T>&... receivers) {
  out = co_await troupe::select(receivers...);
}

// A waker that reports when its last reference is released: a registration left behind in a
// channel keeps it alive.
class LastReferenceWaker final : public troupe::Waker {
 public:
  void wake() noexcept override { wakes.fetch_add(1); }
  std::atomic<int> wakes{0};
  bool destroyed = false;

 protected:
  void destroy() noexcept override { destroyed = true; }
};

}  // namespace

// --- the blocking forms -----------------------------------------------------------------------

TEST_CASE("select.blocking_select returns the index of the receiver that has a message") {
  auto [a_tx, a_rx] = troupe::channel<int>(4);
  auto [b_tx, b_rx] = troupe::unbounded_channel<std::string>();
  REQUIRE(b_tx.blocking_send("b"));
  CHECK(troupe::blocking_select(a_rx, b_rx) == 1u);
  CHECK(*b_rx.try_recv() == "b");
  REQUIRE(a_tx.blocking_send(1));
  CHECK(troupe::blocking_select(a_rx, b_rx) == 0u);
}

TEST_CASE("select.blocking_select_for times out when nothing arrives") {
  auto [a_tx, a_rx] = troupe::channel<int>(4);
  auto [b_tx, b_rx] = troupe::channel<int>(0);
  auto ready = troupe::blocking_select_for(2ms, a_rx, b_rx);
  REQUIRE_FALSE(ready);
  CHECK(ready.error() == troupe::SelectError::timeout);
  CHECK_THROWS_AS((void)troupe::blocking_select_for(-1ms, a_rx), troupe::Error);
}

TEST_CASE("select.blocking_select sees a closed receiver as ready so the caller sees its end") {
  auto [a_tx, a_rx] = troupe::channel<int>(4);
  auto [b_tx, b_rx] = troupe::channel<int>(4);
  { auto gone = std::move(b_tx); }
  CHECK(troupe::blocking_select(a_rx, b_rx) == 1u);
  CHECK(b_rx.try_recv().error() == RecvError::closed);
}

TEST_CASE("select.a parked blocking_select is woken by a send on any of its receivers" *
          doctest::timeout(30)) {
  auto [a_tx, a_rx] = troupe::channel<int>(4);
  auto [b_tx, b_rx] = troupe::unbounded_channel<int>();
  auto [c_tx, c_rx] = troupe::channel<int>(0);
  std::thread sender([a = a_tx.clone(), b = b_tx.clone(), c = c_tx.clone()]() mutable {
    for (int i = 0; i < 300; ++i) {
      if (i % 3 == 0) REQUIRE(a.blocking_send(int{i}));
      if (i % 3 == 1) REQUIRE(b.blocking_send(int{i}));
      if (i % 3 == 2) REQUIRE(c.blocking_send(int{i}));  // rendezvous: waits for the selector
    }
  });
  int received = 0, sum = 0;
  while (received < 300) {
    const std::size_t index = troupe::blocking_select(a_rx, b_rx, c_rx);
    troupe::RecvResult<int> r = index == 0   ? a_rx.try_recv()
                                : index == 1 ? b_rx.try_recv()
                                             : c_rx.try_recv();
    if (r) {
      ++received;
      sum += *r;
    }
  }
  sender.join();
  CHECK(sum == 299 * 300 / 2);
}

TEST_CASE("select.blocking_select starves no ready receiver for another that is always ready") {
  auto [a_tx, a_rx] = troupe::unbounded_channel<int>();
  auto [b_tx, b_rx] = troupe::unbounded_channel<int>();
  for (int i = 0; i < 100; ++i) {
    REQUIRE(a_tx.blocking_send(int{i}));
    REQUIRE(b_tx.blocking_send(int{i}));
  }
  int picked[2] = {0, 0};
  for (int i = 0; i < 100; ++i) {
    const std::size_t index = troupe::blocking_select(a_rx, b_rx);
    ++picked[index];
    (void)(index == 0 ? a_rx.try_recv() : b_rx.try_recv());
  }
  CHECK(picked[0] > 0);
  CHECK(picked[1] > 0);
}

TEST_CASE("select.blocking_select_for names a negative timeout and waits forever on a huge one") {
  auto [tx, rx] = troupe::channel<int>(1);
  CHECK(troupe::testing::error_message_of([&] {
          (void)troupe::blocking_select_for(-1ms, rx);
        }) == "blocking_select_for: timeout -1000000 ns is negative");
  REQUIRE(tx.try_send(1));
  auto ready = troupe::blocking_select_for(std::chrono::hours::max(), rx);
  REQUIRE(ready);  // the select saw the message: the timeout did not overflow into the past
  CHECK(*ready == 0u);
}

TEST_CASE("select.a moved-from receiver is refused when the select is created") {
  auto [tx, rx] = troupe::channel<int>(1);
  auto [other_tx, other_rx] = troupe::channel<int>(1);
  Receiver<int> taken = std::move(rx);
  CHECK(troupe::testing::error_code_of([&] { (void)troupe::blocking_select(other_rx, rx); }) ==
        troupe::ErrorCode::invalid_handle);
  CHECK(troupe::testing::error_code_of([&] { (void)troupe::select(rx, other_rx); }) ==
        troupe::ErrorCode::invalid_handle);
}

// --- co_await select, driven by hand ----------------------------------------------------------

TEST_CASE("select.co_await select completes at once when a receiver is already ready") {
  auto [a_tx, a_rx] = troupe::channel<int>(4);
  auto [b_tx, b_rx] = troupe::channel<int>(4);
  REQUIRE(a_tx.try_send(1));
  std::optional<std::size_t> index;
  ManualTask task = select_into(index, a_rx, b_rx);
  CHECK(task.done());
  CHECK(index == 0u);
  CHECK(*a_rx.try_recv() == 1);
}

TEST_CASE("select.co_await select suspends while none is ready and a send to the second "
          "resumes it with 1") {
  auto [a_tx, a_rx] = troupe::channel<int>(4);
  auto [b_tx, b_rx] = troupe::unbounded_channel<std::string>();
  std::optional<std::size_t> index;
  ManualTask task = select_into(index, a_rx, b_rx);
  CHECK_FALSE(task.done());
  CHECK(task.wakes() == 0);
  CHECK_FALSE(task.step());  // a spurious step: still nothing ready
  REQUIRE(b_tx.try_send("b"));
  CHECK(task.wakes() == 1);
  CHECK(task.step());
  CHECK(index == 1u);
  CHECK(*b_rx.try_recv() == "b");
  // Completed: no registration is left, so later sends wake nothing.
  REQUIRE(a_tx.try_send(1));
  REQUIRE(b_tx.try_send("c"));
  CHECK(task.wakes() == 1);
}

TEST_CASE("select.co_await select yields the index of a receiver whose channel closed") {
  SUBCASE("closed by a sender's close") {
    auto [a_tx, a_rx] = troupe::channel<int>(4);
    auto [b_tx, b_rx] = troupe::channel<int>(0);
    std::optional<std::size_t> index;
    ManualTask task = select_into(index, a_rx, b_rx);
    REQUIRE_FALSE(task.done());
    a_tx.close();
    CHECK(task.wakes() == 1);
    CHECK(task.step());
    CHECK(index == 0u);
    CHECK(a_rx.try_recv().error() == RecvError::closed);
  }
  SUBCASE("closed by dropping the last sender of a rendezvous channel") {
    auto [a_tx, a_rx] = troupe::channel<int>(4);
    auto [b_tx, b_rx] = troupe::channel<int>(0);
    std::optional<std::size_t> index;
    ManualTask task = select_into(index, a_rx, b_rx);
    REQUIRE_FALSE(task.done());
    { auto gone = std::move(b_tx); }
    CHECK(task.wakes() == 1);
    CHECK(task.step());
    CHECK(index == 1u);
    CHECK(b_rx.try_recv().error() == RecvError::closed);
  }
}

TEST_CASE("select.co_await select is woken by an awaited send on a rendezvous channel") {
  auto [a_tx, a_rx] = troupe::channel<int>(4);
  auto [b_tx, b_rx] = troupe::channel<int>(0);
  std::optional<std::size_t> index;
  ManualTask selector = select_into(index, a_rx, b_rx);
  REQUIRE_FALSE(selector.done());
  std::optional<troupe::SendResult<int>> sent;
  ManualTask sender = [](troupe::Sender<int>& tx,
                         std::optional<troupe::SendResult<int>>& out) -> ManualTask {
    out.emplace(co_await tx.send(9));
  }(b_tx, sent);
  REQUIRE_FALSE(sender.done());  // its offer is queued
  CHECK(selector.wakes() == 1);
  CHECK(selector.step());
  CHECK(index == 1u);
  CHECK(*b_rx.try_recv() == 9);
  CHECK(sender.step());
  CHECK(sent->has_value());
}

TEST_CASE("select.polling a waiting select again leaves one registration per channel") {
  auto [a_tx, a_rx] = troupe::channel<int>(4);
  auto [b_tx, b_rx] = troupe::unbounded_channel<int>();
  std::optional<std::size_t> index;
  ManualTask task = select_into(index, a_rx, b_rx);
  for (int i = 0; i < 5; ++i) CHECK_FALSE(task.step());
  REQUIRE(a_tx.try_send(1));
  CHECK(task.wakes() == 1);  // one registration on a: taken by the first send
  REQUIRE(a_tx.try_send(2));
  CHECK(task.wakes() == 1);
  REQUIRE(b_tx.try_send(3));
  CHECK(task.wakes() == 2);  // one registration on b, still there until the task runs
  REQUIRE(b_tx.try_send(4));
  CHECK(task.wakes() == 2);
  CHECK(task.step());
  CHECK(index.has_value());
}

TEST_CASE("select.a select polled again and again gives back every waker reference it took") {
  auto [a_tx, a_rx] = troupe::channel<int>(4);
  auto [b_tx, b_rx] = troupe::spsc_channel<int>(4);
  auto [c_tx, c_rx] = troupe::channel<int>(0);
  LastReferenceWaker waker;
  SUBCASE("destroyed while registered") {
    auto awaitable = troupe::select(a_rx, b_rx, c_rx);
    for (int i = 0; i < 5; ++i) CHECK_FALSE(awaitable.op().poll(waker));
  }
  SUBCASE("cancelled while registered") {
    auto awaitable = troupe::select(a_rx, b_rx, c_rx);
    for (int i = 0; i < 5; ++i) CHECK_FALSE(awaitable.op().poll(waker));
    awaitable.op().cancel(waker);
    REQUIRE(a_tx.try_send(1));
    REQUIRE(b_tx.try_send(2));
    CHECK(waker.wakes.load() == 0);
  }
  SUBCASE("completed after a send took one registration") {
    auto awaitable = troupe::select(a_rx, b_rx, c_rx);
    for (int i = 0; i < 5; ++i) CHECK_FALSE(awaitable.op().poll(waker));
    REQUIRE(b_tx.try_send(2));
    CHECK(waker.wakes.load() == 1);
    CHECK(awaitable.op().poll(waker));
    CHECK(awaitable.op().take() == 1u);
    REQUIRE(a_tx.try_send(1));
    CHECK(waker.wakes.load() == 1);
  }
  SUBCASE("moved into a timeout-like wrapper, then destroyed") {
    auto awaitable = troupe::select(a_rx, b_rx, c_rx);
    CHECK_FALSE(awaitable.op().poll(waker));
    troupe::detail::SelectOp<3> moved(std::move(awaitable).into_op());
    CHECK_FALSE(moved.poll(waker));
  }
  CHECK_FALSE(waker.destroyed);
  waker.release();  // the reference it was created with: the last one if nothing leaked
  CHECK(waker.destroyed);
}

TEST_CASE("select.destroying a task suspended in select withdraws all its registrations" *
          doctest::timeout(30)) {
  const int live_before = Tracked::live.load();
  {
    auto [a_tx, a_rx] = troupe::channel<Tracked>(4);
    auto [b_tx, b_rx] = troupe::unbounded_channel<Tracked>();
    auto [c_tx, c_rx] = troupe::channel<Tracked>(0);
    {
      std::optional<std::size_t> index;
      ManualTask task = select_into(index, a_rx, b_rx, c_rx);
      REQUIRE_FALSE(task.done());
      CHECK_FALSE(task.step());
    }  // the task (and its waker) is gone: a send that found it registered would wake freed memory
    std::thread sender([&a_tx, &b_tx, &c_tx] {
      CHECK(a_tx.blocking_send(Tracked(1)));
      CHECK(b_tx.blocking_send(Tracked(2)));
      CHECK(c_tx.blocking_send(Tracked(3)));  // rendezvous: waits for blocking_recv below
    });
    CHECK(a_rx.blocking_recv()->value == 1);
    CHECK(b_rx.blocking_recv()->value == 2);
    CHECK(c_rx.blocking_recv()->value == 3);
    sender.join();
    REQUIRE(a_tx.try_send(Tracked(4)));  // queued, destroyed with the channel
  }
  CHECK(Tracked::live.load() == live_before);
}

TEST_CASE("select.co_await select starves no ready receiver for another that is always ready") {
  auto [a_tx, a_rx] = troupe::unbounded_channel<int>();
  auto [b_tx, b_rx] = troupe::unbounded_channel<int>();
  for (int i = 0; i < 100; ++i) {
    REQUIRE(a_tx.try_send(int{i}));
    REQUIRE(b_tx.try_send(int{i}));
  }
  int picked[2] = {0, 0};
  ManualTask task = [](Receiver<int>& a, Receiver<int>& b, int (&counts)[2]) -> ManualTask {
    for (int i = 0; i < 100; ++i) {
      const std::size_t index = co_await troupe::select(a, b);
      ++counts[index];
      (void)(index == 0 ? a.try_recv() : b.try_recv());
    }
  }(a_rx, b_rx, picked);
  REQUIRE(task.done());
  CHECK(picked[0] > 0);
  CHECK(picked[1] > 0);
  CHECK(picked[0] + picked[1] == 100);
}

// --- co_await select on a runtime -------------------------------------------------------------

namespace {

struct Totals {
  std::int64_t count = 0;
  std::int64_t sum = 0;
};

// Selects over both channels until both are closed and drained. A closed receiver stays
// ready, so once one closes the other is drained with recv.
Task<Totals> sum_both(Receiver<std::int64_t> a, Receiver<std::int64_t> b) {
  Totals totals;
  for (;;) {
    const std::size_t index = co_await troupe::select(a, b);
    Receiver<std::int64_t>& ready = index == 0 ? a : b;
    Receiver<std::int64_t>& other = index == 0 ? b : a;
    if (auto message = ready.try_recv()) {
      ++totals.count;
      totals.sum += *message;
    } else if (message.error() == RecvError::closed) {
      while (auto rest = co_await other.recv()) {
        ++totals.count;
        totals.sum += *rest;
      }
      co_return totals;
    }
  }
}

}  // namespace

TEST_CASE("select.a task selecting over two channels fed by two threads receives everything "
          "exactly once" * doctest::timeout(30)) {
  constexpr std::int64_t kEach = 20'000;
  troupe::Runtime rt;
  auto [a_tx, a_rx] = troupe::channel<std::int64_t>(8);
  auto [b_tx, b_rx] = troupe::channel<std::int64_t>(0);  // rendezvous: every send meets the task
  std::atomic<int> failed_sends{0};
  std::thread first([tx = std::move(a_tx), &failed_sends]() mutable {
    for (std::int64_t i = 1; i <= kEach; ++i) {
      if (!tx.blocking_send(std::int64_t{i})) failed_sends.fetch_add(1);
    }
  });
  std::thread second([tx = std::move(b_tx), &failed_sends]() mutable {
    for (std::int64_t i = kEach + 1; i <= 2 * kEach; ++i) {
      if (!tx.blocking_send(std::int64_t{i})) failed_sends.fetch_add(1);
    }
  });
  const Totals totals = rt.block_on(sum_both(std::move(a_rx), std::move(b_rx)));
  first.join();
  second.join();
  CHECK(failed_sends.load() == 0);
  CHECK(totals.count == 2 * kEach);
  CHECK(totals.sum == 2 * kEach * (2 * kEach + 1) / 2);
}

TEST_CASE("select.a timeout around select reports Elapsed and leaves the receivers usable" *
          doctest::timeout(30)) {
  troupe::Runtime rt;
  auto [a_tx, a_rx] = troupe::channel<int>(1);
  auto [b_tx, b_rx] = troupe::unbounded_channel<int>();
  const auto elapsed = rt.block_on([](Receiver<int>& a, Receiver<int>& b)
                                       -> Task<std::optional<std::chrono::nanoseconds>> {
    auto r = co_await troupe::timeout(10ms, troupe::select(a, b));
    if (r) co_return std::nullopt;
    co_return r.error().after;
  }(a_rx, b_rx));
  REQUIRE(elapsed.has_value());
  CHECK(*elapsed >= 10ms);
  // The timed-out select left no registration behind: the receivers work as usual.
  REQUIRE(a_tx.try_send(5));
  CHECK(a_rx.try_recv().value() == 5);
  std::thread sender([&b_tx] {
    std::this_thread::sleep_for(5ms);
    CHECK(b_tx.blocking_send(6));
  });
  CHECK(b_rx.blocking_recv() == 6);
  sender.join();
  REQUIRE(b_tx.try_send(7));
  CHECK(troupe::blocking_select(a_rx, b_rx) == 1u);
  CHECK(b_rx.try_recv().value() == 7);
}

TEST_CASE("select.a timeout around select yields the index when a receiver is ready in time" *
          doctest::timeout(30)) {
  troupe::Runtime rt;
  auto [a_tx, a_rx] = troupe::channel<int>(1);
  auto [b_tx, b_rx] = troupe::channel<int>(1);
  std::thread sender([tx = std::move(b_tx)]() mutable {
    std::this_thread::sleep_for(5ms);
    CHECK(tx.blocking_send(8));
  });
  const auto index = rt.block_on(
      [](Receiver<int>& a, Receiver<int>& b) -> Task<std::optional<std::size_t>> {
        auto r = co_await troupe::timeout(10s, troupe::select(a, b));
        if (!r) co_return std::nullopt;
        co_return *r;
      }(a_rx, b_rx));
  sender.join();
  CHECK(index == 1u);
  CHECK(b_rx.try_recv().value() == 8);
}

// --- a bounded channel (its receiver parks through the queue's tail) with an unbounded one ----

namespace {

// Receives from `a` and `b` through select until both have ended; counts and sums.
ManualTask select_all(Receiver<std::int64_t>& a, Receiver<std::int64_t>& b, std::int64_t& count,
                      std::int64_t& sum) {
  bool a_open = true;
  bool b_open = true;
  while (a_open || b_open) {
    std::size_t index = 0;
    if (a_open && b_open) {
      index = co_await troupe::select(a, b);
    } else {
      index = a_open ? 0 : 1;
    }
    Receiver<std::int64_t>& rx = index == 0 ? a : b;
    // The one that is ready, or (once the other ended) the one still open: awaited.
    std::optional<std::int64_t> message = co_await rx.recv();
    if (!message) {
      (index == 0 ? a_open : b_open) = false;
      continue;
    }
    ++count;
    sum += *message;
  }
}

// Sends from..to through `tx` (a thread per range), yielding now and then so the receiver
// runs dry and parks.
template <class Tx>
std::thread send_range_thread(Tx tx, std::int64_t from, std::int64_t to) {
  return std::thread([tx = std::move(tx), from, to]() mutable {
    for (std::int64_t i = from; i <= to; ++i) {
      CHECK(tx.blocking_send(std::int64_t{i}));
      if ((i & 7) == 0) std::this_thread::yield();
    }
  });
}

}  // namespace

TEST_CASE("select.a task selecting over a bounded and an unbounded channel, each fed by two "
          "threads, receives everything exactly once" * doctest::timeout(120)) {
  constexpr std::int64_t kEach = 20'000;  // per thread
  auto [a_tx, a_rx] = troupe::channel<std::int64_t>(1);
  auto [b_tx, b_rx] = troupe::unbounded_channel<std::int64_t>();
  std::int64_t count = 0;
  std::int64_t sum = 0;
  std::vector<std::thread> senders;
  senders.push_back(send_range_thread(a_tx.clone(), 1, kEach));
  senders.push_back(send_range_thread(a_tx.clone(), kEach + 1, 2 * kEach));
  senders.push_back(send_range_thread(b_tx.clone(), 2 * kEach + 1, 3 * kEach));
  senders.push_back(send_range_thread(b_tx.clone(), 3 * kEach + 1, 4 * kEach));
  a_tx = {};
  b_tx = {};
  {
    ManualTask task = select_all(a_rx, b_rx, count, sum);
    std::uint64_t round = 0;
    while (!task.done()) {
      const int before = task.wakes();
      if (task.step()) break;
      if (++round % 16 == 0) continue;  // a spurious poll: keeps one registration per channel
      while (task.wakes() == before) std::this_thread::yield();
    }
    for (auto& t : senders) t.join();  // no sender may still wake the task's waker
    task.rethrow_if_failed();
  }
  CHECK(count == 4 * kEach);
  CHECK(sum == 4 * kEach * (4 * kEach + 1) / 2);
}

TEST_CASE("select.blocking_select over a bounded and an unbounded channel fed by threads "
          "receives everything exactly once" * doctest::timeout(120)) {
  constexpr std::int64_t kEach = 20'000;
  auto [a_tx, a_rx] = troupe::channel<std::int64_t>(2);
  auto [b_tx, b_rx] = troupe::unbounded_channel<std::int64_t>();
  std::vector<std::thread> senders;
  senders.push_back(send_range_thread(std::move(a_tx), 1, kEach));
  senders.push_back(send_range_thread(std::move(b_tx), kEach + 1, 2 * kEach));
  std::int64_t count = 0;
  std::int64_t sum = 0;
  bool open[2] = {true, true};
  Receiver<std::int64_t>* receivers[2] = {&a_rx, &b_rx};
  while (open[0] || open[1]) {
    std::size_t index = 0;
    if (open[0] && open[1]) {
      index = troupe::blocking_select(a_rx, b_rx);
    } else {
      index = open[0] ? 0 : 1;
    }
    auto message = receivers[index]->blocking_recv();
    if (!message) {
      open[index] = false;
      continue;
    }
    ++count;
    sum += *message;
  }
  for (auto& t : senders) t.join();
  CHECK(count == 2 * kEach);
  CHECK(sum == 2 * kEach * (2 * kEach + 1) / 2);
}

TEST_CASE("select.a close racing with a select parked on a bounded channel wakes it" *
          doctest::timeout(120)) {
  LastReferenceWaker waker;
  for (int round = 0; round < 1000; ++round) {
    auto [a_tx, a_rx] = troupe::channel<int>(1);
    auto [b_tx, b_rx] = troupe::unbounded_channel<int>();
    // The closer waits 0..95 us first, so the select is caught at every stage.
    const int delay_us = (round / 2) % 20 * 5;
    auto close_a = [&a_tx, delay_us] {
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(delay_us);
      while (std::chrono::steady_clock::now() < until) {
      }
      a_tx = {};
    };
    if (round % 2 == 0) {
      troupe::testing::race([&] { CHECK(troupe::blocking_select(a_rx, b_rx) == 0u); }, close_a);
      CHECK(a_rx.try_recv().error() == RecvError::closed);
    } else {
      std::optional<std::size_t> index;
      troupe::testing::race(
          [&] {
            auto awaitable = troupe::select(a_rx, b_rx);
            for (;;) {
              const int before = waker.wakes.load();
              if (awaitable.op().poll(waker)) break;
              while (waker.wakes.load() == before) std::this_thread::yield();
            }
            index = awaitable.op().take();
          },
          close_a);
      CHECK(index == 0u);
    }
  }
  CHECK_FALSE(waker.destroyed);
  waker.release();  // the reference it was created with: the last one if nothing leaked
  CHECK(waker.destroyed);
}
