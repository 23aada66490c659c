// Semantics of channel<T>(n), unbounded_channel<T>() and rendezvous channel<T>(0).
#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "troupe/channels/channel.hpp"
#include "troupe/channels/detail/line_alloc.hpp"

using namespace std::chrono_literals;
using troupe::ErrorCode;
using troupe::RecvError;
using troupe::SendErrorKind;

#include "test_support.hpp"

namespace {

using troupe::testing::Tracked;

template <class F>
void for_each_flavor(F&& f) {
  SUBCASE("bounded") {
    f(troupe::channel<int>(4));
  }
  SUBCASE("unbounded") {
    f(troupe::unbounded_channel<int>());
  }
}

}  // namespace

// Channels are over-aligned and allocated through allocate_lines, which aligns
// inside a plain allocation (line_alloc.hpp): every size gets a line-aligned block it may fill
// (AddressSanitizer checks the writes and the frees).
TEST_CASE("channel.line-aligned allocations are aligned and hold their whole size") {
  std::vector<std::pair<void*, std::size_t>> blocks;
  for (std::size_t size = 1; size <= 3 * troupe::detail::kCacheLine + 1; ++size) {
    void* block = troupe::detail::allocate_lines(size);
    CHECK(reinterpret_cast<std::uintptr_t>(block) % troupe::detail::kCacheLine == 0);
    std::memset(block, 0xA5, size);
    blocks.emplace_back(block, size);
  }
  for (auto [block, size] : blocks) troupe::detail::deallocate_lines(block, size);
  auto [tx, rx] = troupe::channel<int>(4);
  CHECK(reinterpret_cast<std::uintptr_t>(&troupe::detail::ChannelAccess::chan(tx)) %
            troupe::detail::kCacheLine ==
        0);
}

TEST_CASE("channel.a bounded channel reports its capacity and length on both ends") {
  auto [tx, rx] = troupe::channel<int>(3);
  CHECK(tx.capacity() == 3u);
  CHECK(rx.capacity() == 3u);
  CHECK(tx.len() == 0u);
  REQUIRE(tx.try_send(1));
  REQUIRE(tx.try_send(2));
  CHECK(tx.len() == 2u);
  CHECK(rx.len() == 2u);
  CHECK(*rx.try_recv() == 1);
  CHECK(rx.len() == 1u);
}

TEST_CASE("channel.an unbounded channel has no capacity and never reports full") {
  auto [tx, rx] = troupe::unbounded_channel<int>();
  CHECK_FALSE(tx.capacity().has_value());
  for (int i = 0; i < 10'000; ++i) REQUIRE(tx.try_send(int{i}));
  CHECK(rx.len() == 10'000u);
  for (int i = 0; i < 10'000; ++i) REQUIRE(*rx.try_recv() == i);  // FIFO across many blocks
  CHECK(rx.try_recv().error() == RecvError::empty);
}

TEST_CASE("channel.try_send on a full channel fails with full and hands the message back") {
  auto [tx, rx] = troupe::channel<std::unique_ptr<int>>(1);
  REQUIRE(tx.try_send(std::make_unique<int>(1)));
  auto message = std::make_unique<int>(2);
  int* const address = message.get();
  auto result = tx.try_send(std::move(message));
  REQUIRE_FALSE(result);
  CHECK(result.error().is_full());
  std::unique_ptr<int> back = std::move(result).error().into_message();
  CHECK(back.get() == address);  // the very same object came back
  CHECK(*back == 2);
}

TEST_CASE("channel.a message is moved through the channel, never copied") {
  auto [tx, rx] = troupe::unbounded_channel<std::unique_ptr<std::string>>();
  auto payload = std::make_unique<std::string>("transfer me");
  const std::string* const address = payload.get();
  REQUIRE(tx.blocking_send(std::move(payload)));
  CHECK(payload == nullptr);  // the sender lost it
  auto received = rx.blocking_recv();
  REQUIRE(received.has_value());
  CHECK(received->get() == address);
}

TEST_CASE("channel.send on a closed channel fails with closed and hands the message back") {
  for_each_flavor([](auto pair) {
    auto& [tx, rx] = pair;
    rx.close();
    CHECK(tx.is_closed());
    auto result = tx.blocking_send(42);
    REQUIRE_FALSE(result);
    CHECK(result.error().is_closed());
    CHECK(result.error().message() == 42);
    auto timed = tx.send_for(43, 10ms);
    REQUIRE_FALSE(timed);
    CHECK(timed.error().kind() == SendErrorKind::closed);
  });
}

TEST_CASE(
    "channel.the receiver drains queued messages after the last sender is gone, then sees the "
    "end") {
  for_each_flavor([](auto pair) {
    auto& [tx, rx] = pair;
    REQUIRE(tx.blocking_send(1));
    REQUIRE(tx.blocking_send(2));
    { auto gone = std::move(tx); }  // the last sender is destroyed
    CHECK(rx.blocking_recv() == 1);
    CHECK(rx.blocking_recv() == 2);
    CHECK_FALSE(rx.blocking_recv().has_value());
    CHECK(rx.try_recv().error() == RecvError::closed);
    CHECK(rx.recv_for(1ms).error() == RecvError::closed);
  });
}

TEST_CASE("channel.closing from the sender side ends the stream for the receiver after draining") {
  for_each_flavor([](auto pair) {
    auto& [tx, rx] = pair;
    auto other = tx.clone();
    REQUIRE(tx.blocking_send(7));
    other.close();
    CHECK(tx.blocking_send(8).error().is_closed());
    CHECK(rx.blocking_recv() == 7);
    CHECK_FALSE(rx.blocking_recv().has_value());
  });
}

TEST_CASE("channel.closing the receiver stops sends but keeps queued messages receivable") {
  auto [tx, rx] = troupe::channel<int>(8);
  REQUIRE(tx.blocking_send(1));
  rx.close();
  rx.close();  // idempotent
  CHECK(tx.try_send(2).error().is_closed());
  CHECK(*rx.try_recv() == 1);
  CHECK(rx.try_recv().error() == RecvError::closed);
}

TEST_CASE("channel.messages still queued are destroyed with the receiver, none leak") {
  Tracked::live = 0;
  {
    auto [tx, rx] = troupe::channel<Tracked>(16);
    for (int i = 0; i < 10; ++i) REQUIRE(tx.blocking_send(Tracked(i)));
    CHECK(Tracked::live.load() == 10);
    { auto gone = std::move(rx); }
    CHECK(Tracked::live.load() == 0);
    auto back = tx.blocking_send(Tracked(99));
    REQUIRE_FALSE(back);
    CHECK(back.error().message().value == 99);
  }
  {
    auto [tx, rx] = troupe::unbounded_channel<Tracked>();
    for (int i = 0; i < 200; ++i) REQUIRE(tx.blocking_send(Tracked(i)));
  }
  CHECK(Tracked::live.load() == 0);
}

TEST_CASE("channel.recv_for times out on an open empty channel") {
  for_each_flavor([](auto pair) {
    auto& [tx, rx] = pair;
    auto result = rx.recv_for(2ms);
    REQUIRE_FALSE(result);
    CHECK(result.error() == RecvError::timeout);
    CHECK(rx.try_recv().error() == RecvError::empty);
    CHECK(rx.recv_for(0ms).error() == RecvError::timeout);
  });
}

TEST_CASE("channel.send_for on a full channel times out and returns the message") {
  auto [tx, rx] = troupe::channel<int>(1);
  REQUIRE(tx.blocking_send(1));
  auto result = tx.send_for(2, 2ms);
  REQUIRE_FALSE(result);
  CHECK(result.error().is_timeout());
  CHECK(result.error().message() == 2);
}

TEST_CASE("channel.a receiver blocked in blocking_recv is woken by a send from another thread" *
          doctest::timeout(10)) {
  for_each_flavor([](auto pair) {
    auto& [tx, rx] = pair;
    std::thread sender([tx = tx.clone()]() mutable {
      for (int i = 0; i < 1000; ++i) REQUIRE(tx.blocking_send(int{i}));
    });
    for (int i = 0; i < 1000; ++i) REQUIRE(rx.blocking_recv() == i);
    sender.join();
  });
}

TEST_CASE("channel.a sender blocked on a full channel resumes when the receiver frees a slot" *
          doctest::timeout(10)) {
  auto [tx, rx] = troupe::channel<int>(1);
  REQUIRE(tx.blocking_send(0));
  std::atomic<bool> sent{false};
  std::thread sender([&, tx = tx.clone()]() mutable {
    REQUIRE(tx.blocking_send(1));  // blocks: the channel is full
    sent = true;
  });
  CHECK(rx.blocking_recv() == 0);
  CHECK(rx.blocking_recv() == 1);
  sender.join();
  CHECK(sent);
}

TEST_CASE("channel.dropping the receiver wakes senders blocked on a full channel with closed" *
          doctest::timeout(10)) {
  auto [tx, rx] = troupe::channel<int>(1);
  REQUIRE(tx.blocking_send(0));
  std::latch started(3);
  std::vector<std::thread> senders;
  std::atomic<int> closed{0};
  for (int i = 0; i < 2; ++i) {
    senders.emplace_back([&, tx = tx.clone(), i]() mutable {
      started.count_down();
      auto result = tx.blocking_send(int{i + 1});
      if (!result && result.error().is_closed() && result.error().message() == i + 1) ++closed;
    });
  }
  started.arrive_and_wait();
  { auto gone = std::move(rx); }
  for (auto& t : senders) t.join();
  CHECK(closed == 2);
}

TEST_CASE("channel.rendezvous send completes only when the receiver takes the message" *
          doctest::timeout(10)) {
  auto [tx, rx] = troupe::channel<int>(0);
  CHECK(tx.capacity() == 0u);
  CHECK(tx.try_send(1).error().is_full());  // nobody is receiving
  CHECK(tx.send_for(1, 1ms).error().is_timeout());
  std::thread receiver([&rx] {
    for (int i = 0; i < 100; ++i) REQUIRE(rx.blocking_recv() == i);
  });
  for (int i = 0; i < 100; ++i) REQUIRE(tx.blocking_send(int{i}));
  receiver.join();
  CHECK(rx.try_recv().error() == RecvError::empty);
  { auto gone = std::move(tx); }
  CHECK_FALSE(rx.blocking_recv().has_value());
}

TEST_CASE("channel.rendezvous: a sender waiting for a receiver gets closed and its message back" *
          doctest::timeout(10)) {
  auto [tx, rx] = troupe::channel<std::unique_ptr<int>>(0);
  std::latch waiting(2);
  std::thread sender([&, tx = tx.clone()]() mutable {
    waiting.count_down();
    auto result = tx.blocking_send(std::make_unique<int>(5));
    REQUIRE_FALSE(result);
    CHECK(result.error().is_closed());
    CHECK(*result.error().message() == 5);
  });
  waiting.arrive_and_wait();
  rx.close();
  sender.join();
}

TEST_CASE("channel.bad capacities are rejected with an error naming the value") {
  CHECK_THROWS_WITH_AS(troupe::channel<int>(-1), "channel: capacity -1 is negative", troupe::Error);
  try {
    (void)troupe::channel<int>(troupe::kMaxChannelCapacity + 1);
    FAIL("an oversized capacity was accepted");
  } catch (const troupe::Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    CHECK(std::string(e.what()).find("1073741825") != std::string::npos);
  }
}

TEST_CASE("channel.a negative timeout is rejected with invalid_argument") {
  auto [tx, rx] = troupe::channel<int>(1);
  try {
    (void)rx.recv_for(-5ms);
    FAIL("a negative timeout was accepted");
  } catch (const troupe::Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
  }
  CHECK_THROWS_AS((void)tx.send_for(1, -1s), troupe::Error);
}

TEST_CASE("channel.a negative send_for timeout is invalid_argument naming the value") {
  auto [tx, rx] = troupe::channel<int>(1);
  try {
    (void)tx.send_for(1, -2ms);
    FAIL("a negative timeout was accepted");
  } catch (const troupe::Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    CHECK(std::string(e.what()) == "Sender::send_for: timeout -2000000 ns is negative");
  }
  CHECK(rx.try_recv().error() == RecvError::empty);  // nothing was sent
}

TEST_CASE("channel.a timeout too long for the clock means forever instead of overflowing") {
  // hours::max() in nanoseconds overflows 64 bits; it must not turn negative (refused) or
  // short (a wait that ends early): it waits without a deadline.
  auto [tx, rx] = troupe::channel<int>(1);
  CHECK(tx.send_for(7, std::chrono::hours::max()));
  CHECK(rx.recv_for(std::chrono::hours::max()).value() == 7);
  CHECK(tx.send_for(8, std::chrono::duration<double>(1e300)));
  CHECK(rx.recv_for(std::chrono::seconds(10'000'000'000'000)).value() == 8);
  tx.close();
  CHECK(rx.recv_for(std::chrono::hours::max()).error() == RecvError::closed);
}

TEST_CASE("channel.a moved-from or default handle throws invalid_handle instead of crashing") {
  auto [tx, rx] = troupe::channel<int>(1);
  auto tx2 = std::move(tx);
  auto rx2 = std::move(rx);
  CHECK_FALSE(tx.valid());
  try {
    (void)tx.blocking_send(1);
    FAIL("a moved-from sender worked");
  } catch (const troupe::Error& e) {
    CHECK(e.code() == ErrorCode::invalid_handle);
    CHECK(std::string(e.what()).find("Sender") != std::string::npos);
  }
  CHECK_THROWS_AS((void)rx.blocking_recv(), troupe::Error);
  CHECK_THROWS_AS((void)troupe::Receiver<int>{}.try_recv(), troupe::Error);
  CHECK(tx2.blocking_send(1));
  CHECK(rx2.blocking_recv() == 1);
}

TEST_CASE("channel.a sender and a receiver can themselves travel through a channel" *
          doctest::timeout(10)) {
  auto [tx, rx] = troupe::unbounded_channel<int>();
  auto [handoff_tx, handoff_rx] = troupe::channel<troupe::Sender<int>>(1);
  REQUIRE(handoff_tx.blocking_send(tx.clone()));
  std::thread worker([&handoff_rx] {
    auto sender = handoff_rx.blocking_recv();
    REQUIRE(sender.has_value());
    REQUIRE(sender->blocking_send(99));
  });
  CHECK(rx.blocking_recv() == 99);
  worker.join();
}

TEST_CASE("channel.result reports are readable") {
  CHECK(troupe::to_string(SendErrorKind::full) == "full");
  CHECK(troupe::to_string(RecvError::timeout) == "timeout");
}

namespace {
struct Ping {
  int hops = 0;
  troupe::Sender<Ping> reply_to;  // a message may carry a Sender of its own type
};
}  // namespace

TEST_CASE("channel.a message type may carry a sender of its own type") {
  static_assert(troupe::Sendable<Ping>);
  auto [tx, rx] = troupe::unbounded_channel<Ping>();
  REQUIRE(tx.blocking_send(Ping{1, tx.clone()}));
  auto ping = rx.blocking_recv();
  REQUIRE(ping.has_value());
  REQUIRE(ping->reply_to.blocking_send(Ping{ping->hops + 1, {}}));
  CHECK(rx.blocking_recv()->hops == 2);
}

TEST_CASE("channel.a non-sendable payload is refused at compile time") {
  // channel<int*> would not compile (static_assert); the concept says why.
  static_assert(!troupe::Sendable<int*>);
  CHECK(troupe::why_not_sendable<int*>().find("int*") != std::string::npos);
}

// --- the receiver's park bit (bounded channels: chan_base.hpp, array_queue.hpp) ---------------

using troupe::testing::RefWaker;

TEST_CASE("channel.a parked receiver is woken once, by the send that finds it") {
  auto [tx, rx] = troupe::channel<int>(2);
  RefWaker waker;
  REQUIRE(rx.poll_recv(waker).error() == RecvError::empty);
  CHECK(waker.refs() == 2);  // the registration holds one
  // A parked receiver changes nothing the handles report.
  CHECK(rx.len() == 0u);
  CHECK(tx.len() == 0u);
  CHECK_FALSE(rx.is_closed());
  CHECK_FALSE(tx.is_closed());
  REQUIRE(tx.try_send(1));
  CHECK(waker.wakes.load() == 1);
  CHECK(waker.refs() == 1);  // the send woke it and gave the reference back
  REQUIRE(tx.try_send(2));
  CHECK(waker.wakes.load() == 1);  // no registration left: no second wake
  CHECK(rx.len() == 2u);
  CHECK(tx.try_send(3).error().is_full());  // full from the stamp alone, park bit or not
  rx.cancel_wait();                         // nothing to withdraw: the send took it
  CHECK(*rx.poll_recv(waker) == 1);
  CHECK(*rx.poll_recv(waker) == 2);
  CHECK(waker.refs() == 1);
  // Parked again at a later position of the ring (the lap moved on): the next send wakes it.
  REQUIRE_FALSE(rx.poll_recv(waker));
  REQUIRE_FALSE(rx.poll_recv(waker));  // polled again while registered: keeps one registration
  CHECK(waker.refs() == 2);
  REQUIRE(tx.try_send(4));
  CHECK(waker.wakes.load() == 2);
  CHECK(waker.refs() == 1);
  CHECK(*rx.poll_recv(waker) == 4);
}

TEST_CASE("channel.a receiver polled with another waker takes the first registration back") {
  auto [tx, rx] = troupe::channel<int>(1);
  RefWaker first;
  RefWaker second;
  REQUIRE_FALSE(rx.poll_recv(first));
  REQUIRE_FALSE(rx.poll_recv(second));
  CHECK(first.refs() == 1);  // withdrawn
  CHECK(second.refs() == 2);
  REQUIRE(tx.try_send(1));
  CHECK(first.wakes.load() == 0);
  CHECK(second.wakes.load() == 1);
  CHECK(second.refs() == 1);
  CHECK(*rx.poll_recv(first) == 1);
  // cancel_wait withdraws a standing registration (the park bit is taken back).
  REQUIRE_FALSE(rx.poll_recv(first));
  rx.cancel_wait();
  CHECK(first.refs() == 1);
  REQUIRE(tx.try_send(2));
  CHECK(first.wakes.load() == 0);
  CHECK(*rx.poll_recv(first) == 2);
  CHECK(first.refs() == 1);
}

TEST_CASE("channel.the close wakes a parked bounded receiver once and ends its stream") {
  for (const bool by_receiver : {false, true}) {
    CAPTURE(by_receiver);
    auto [tx, rx] = troupe::channel<int>(4);
    RefWaker waker;
    REQUIRE_FALSE(rx.poll_recv(waker));
    if (by_receiver) {
      rx.close();
    } else {
      tx.close();
    }
    CHECK(waker.wakes.load() == 1);
    CHECK(waker.refs() == 1);
    CHECK(rx.is_closed());
    CHECK(tx.try_send(1).error().is_closed());
    CHECK(rx.poll_recv(waker).error() == RecvError::closed);
    tx.close();  // a second close finds no registration and wakes no one
    CHECK(waker.wakes.load() == 1);
    CHECK(waker.refs() == 1);
  }
}

namespace {

// Busy-waits about `us` microseconds (a sleep would be far coarser).
void spin_for_us(int us) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  while (std::chrono::steady_clock::now() < until) {
  }
}

}  // namespace

TEST_CASE("channel.a close racing with a parked receiver always ends its wait" *
          doctest::timeout(120)) {
  RefWaker waker;
  for (int round = 0; round < 2000; ++round) {
    auto [tx, rx] = troupe::channel<int>(1);
    // The closer waits 0..95 us first, so the receiver is caught at every stage: still
    // spinning, registering, or parked.
    const int delay_us = (round / 2) % 20 * 5;
    if (round % 2 == 0) {
      // A thread blocked in blocking_recv (spin, then park on its Parker).
      troupe::testing::race([&rx] { CHECK_FALSE(rx.blocking_recv().has_value()); },
                            [&tx, delay_us] {
                              spin_for_us(delay_us);
                              tx = {};  // the last sender: closes
                            });
    } else {
      // A registered waker, as a task's: the send and the close must wake it, or it never
      // polls again.
      int received = 0;
      troupe::testing::race(
          [&rx, &waker, &received] {
            for (;;) {
              const int before = waker.wakes.load(std::memory_order_acquire);
              auto r = rx.poll_recv(waker);
              if (r) {
                CHECK(*r == 7);
                ++received;
                continue;
              }
              if (r.error() == RecvError::closed) return;
              while (waker.wakes.load(std::memory_order_acquire) == before) {
                std::this_thread::yield();
              }
            }
          },
          [&tx, delay_us] {
            spin_for_us(delay_us);
            CHECK(tx.try_send(7));
            spin_for_us(delay_us);
            tx = {};  // the last sender: closes
          });
      CHECK(received == 1);
    }
  }
  CHECK(waker.refs() == 1);  // every registration gave its reference back
  CHECK_FALSE(waker.destroyed.load());
}
