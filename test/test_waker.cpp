// The Waker interface: a waiter that is not a thread (as a coroutine or an actor will be) is
// woken through poll_recv / poll_send registrations.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "test_support.hpp"
#include "troupe/channels/channel.hpp"

namespace {

using troupe::testing::CountingWaker;

}  // namespace

TEST_CASE("waker.poll_recv on an empty channel registers the waker and a send wakes it" *
          doctest::timeout(10)) {
  auto [tx, rx] = troupe::channel<int>(4);
  CountingWaker waker;
  auto first = rx.poll_recv(waker);
  REQUIRE_FALSE(first);
  CHECK(first.error() == troupe::RecvError::empty);
  std::thread sender([tx = tx.clone()]() mutable { REQUIRE(tx.blocking_send(7)); });
  while (waker.wakes.load(std::memory_order_acquire) == 0) std::this_thread::yield();
  sender.join();
  CHECK(*rx.poll_recv(waker) == 7);
  CHECK(waker.wakes.load() == 1);  // one send, one wake: no wake per message once it is running
}

TEST_CASE("waker.the close of the channel wakes a registered receiver") {
  auto [tx, rx] = troupe::unbounded_channel<int>();
  CountingWaker waker;
  REQUIRE_FALSE(rx.poll_recv(waker));
  tx.close();
  CHECK(waker.wakes.load() == 1);
  CHECK(rx.poll_recv(waker).error() == troupe::RecvError::closed);
}

// Runs `body(tx, rx)` on a bounded MPSC channel and on an spsc channel of the same capacity:
// both kinds of sender wake through the same registrations.
template <class Body>
void for_each_sender_kind(std::int64_t capacity, Body body) {
  SUBCASE("channel") {
    auto [tx, rx] = troupe::channel<int>(capacity);
    body(tx, rx);
  }
  SUBCASE("spsc_channel") {
    auto [tx, rx] = troupe::spsc_channel<int>(capacity);
    body(tx, rx);
  }
}

TEST_CASE("waker.cancel_wait withdraws a receiver registration so a send no longer wakes it") {
  for_each_sender_kind(4, [](auto& tx, auto& rx) {
    CountingWaker waker;
    REQUIRE_FALSE(rx.poll_recv(waker));
    rx.cancel_wait();
    REQUIRE(tx.blocking_send(1));
    CHECK(waker.wakes.load() == 0);
  });
}

TEST_CASE("waker.poll_send on a full channel registers the waker and a receive wakes it") {
  for_each_sender_kind(1, [](auto& tx, auto& rx) {
    REQUIRE(tx.blocking_send(1));
    CountingWaker waker;
    auto blocked = tx.poll_send(2, waker);
    REQUIRE_FALSE(blocked);
    CHECK(blocked.error().is_full());
    CHECK(rx.blocking_recv() == 1);  // frees the slot
    CHECK(waker.wakes.load() == 1);
    CHECK(tx.poll_send(std::move(blocked).error().into_message(), waker));
    CHECK(rx.blocking_recv() == 2);
  });
}

TEST_CASE("waker.a sender registration can be cancelled and dropping the receiver wakes the rest") {
  auto [tx, rx] = troupe::channel<int>(1);
  REQUIRE(tx.blocking_send(1));
  CountingWaker cancelled, waiting;
  REQUIRE_FALSE(tx.poll_send(2, cancelled));
  REQUIRE_FALSE(tx.poll_send(3, waiting));
  tx.cancel_wait(cancelled);
  { auto gone = std::move(rx); }
  CHECK(cancelled.wakes.load() == 0);
  CHECK(waiting.wakes.load() == 1);
  CHECK(tx.poll_send(3, waiting).error().is_closed());
}
