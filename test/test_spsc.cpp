// spsc_channel<T>(n): the single-producer flavor. Its semantics mirror test_channel.cpp (one
// sender); the stress cases at the end hammer what is new in it: the close protocol without a
// CAS on the send path (a send racing with the receiver's close is received or handed back,
// never both, never neither).
// TROUPE_STRESS_MESSAGES overrides the message count of the throughput stress (4,000,000; a
// quarter under a sanitizer),
// TROUPE_SPSC_RACE_ROUNDS the number of rounds of the close race (200).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "troupe/channels/channel.hpp"
#include "troupe/channels/detail/spsc_queue.hpp"
#include "troupe/channels/select.hpp"

using namespace std::chrono_literals;
using troupe::ErrorCode;
using troupe::RecvError;
using troupe::SendErrorKind;
using troupe::SpscSender;

// The handle's properties, pinned at compile time: one producer, so no copy and no clone.
static_assert(!std::is_copy_constructible_v<SpscSender<int>>);
static_assert(!std::is_copy_assignable_v<SpscSender<int>>);
static_assert(std::is_nothrow_move_constructible_v<SpscSender<int>>);
static_assert(std::is_nothrow_move_assignable_v<SpscSender<int>>);
static_assert(troupe::Sendable<SpscSender<int>>);
static_assert(std::is_same_v<decltype(troupe::spsc_channel<int>(1).second), troupe::Receiver<int>>);

#include "test_support.hpp"

namespace {

using troupe::testing::Tracked;

using troupe::testing::CountingWaker;

std::int64_t stress_messages() {
  if (const char* env = std::getenv("TROUPE_STRESS_MESSAGES")) return std::atoll(env);
  return troupe::testing::stress_volume(4'000'000);
}

int race_rounds() {
  if (const char* env = std::getenv("TROUPE_SPSC_RACE_ROUNDS")) return std::atoi(env);
  return 200;
}

}  // namespace

TEST_CASE("spsc.a channel reports its capacity and length on both ends") {
  auto [tx, rx] = troupe::spsc_channel<int>(3);
  CHECK(tx.capacity() == 3u);
  CHECK(rx.capacity() == 3u);
  CHECK(tx.len() == 0u);
  REQUIRE(tx.try_send(1));
  REQUIRE(tx.try_send(2));
  CHECK(tx.len() == 2u);
  CHECK(rx.len() == 2u);
  CHECK(*rx.try_recv() == 1);
  CHECK(rx.len() == 1u);
  CHECK_FALSE(tx.is_closed());
}

TEST_CASE("spsc.messages keep their order across many laps of a small ring") {
  auto [tx, rx] = troupe::spsc_channel<int>(3);
  int sent = 0, received = 0;
  for (int round = 0; round < 1000; ++round) {
    const int burst = 1 + round % 3;  // 1, 2 or 3: the ring's positions drift every lap
    for (int i = 0; i < burst; ++i) REQUIRE(tx.try_send(int{sent++}));
    for (int i = 0; i < burst; ++i) REQUIRE(*rx.try_recv() == received++);
  }
  CHECK(rx.try_recv().error() == RecvError::empty);
}

TEST_CASE("spsc.try_send on a full channel fails with full and hands the same message back") {
  auto [tx, rx] = troupe::spsc_channel<std::unique_ptr<int>>(1);
  REQUIRE(tx.try_send(std::make_unique<int>(1)));
  auto message = std::make_unique<int>(2);
  int* const address = message.get();
  auto result = tx.try_send(std::move(message));
  REQUIRE_FALSE(result);
  CHECK(result.error().is_full());
  std::unique_ptr<int> back = std::move(result).error().into_message();
  CHECK(back.get() == address);  // the very same object came back
  CHECK(*back == 2);
  CHECK(**rx.try_recv() == 1);
  CHECK(tx.try_send(std::move(back)));  // and it can be offered again
}

TEST_CASE("spsc.a message is moved through the channel, never copied") {
  auto [tx, rx] = troupe::spsc_channel<std::unique_ptr<std::string>>(4);
  auto payload = std::make_unique<std::string>("transfer me");
  const std::string* const address = payload.get();
  REQUIRE(tx.blocking_send(std::move(payload)));
  CHECK(payload == nullptr);  // the sender lost it
  auto received = rx.blocking_recv();
  REQUIRE(received.has_value());
  CHECK(received->get() == address);
}

TEST_CASE("spsc.send after the receiver closed fails with closed and hands the message back") {
  auto [tx, rx] = troupe::spsc_channel<std::unique_ptr<int>>(4);
  rx.close();
  CHECK(tx.is_closed());
  CHECK(rx.is_closed());
  auto message = std::make_unique<int>(42);
  int* const address = message.get();
  auto result = tx.blocking_send(std::move(message));
  REQUIRE_FALSE(result);
  CHECK(result.error().is_closed());
  CHECK(result.error().message().get() == address);
  CHECK(tx.try_send(std::make_unique<int>(43)).error().is_closed());
  auto timed = tx.send_for(std::make_unique<int>(44), 10ms);
  REQUIRE_FALSE(timed);
  CHECK(timed.error().kind() == SendErrorKind::closed);
  CHECK(*timed.error().message() == 44);
}

TEST_CASE("spsc.closing the receiver stops sends but keeps queued messages receivable") {
  auto [tx, rx] = troupe::spsc_channel<int>(8);
  REQUIRE(tx.blocking_send(1));
  REQUIRE(tx.blocking_send(2));
  rx.close();
  rx.close();  // idempotent
  CHECK(tx.try_send(3).error().is_closed());
  CHECK(*rx.try_recv() == 1);
  CHECK(rx.blocking_recv() == 2);
  CHECK(rx.try_recv().error() == RecvError::closed);
  CHECK_FALSE(rx.blocking_recv().has_value());
}

TEST_CASE("spsc.closing from the sender side ends the stream for the receiver after draining") {
  auto [tx, rx] = troupe::spsc_channel<int>(4);
  REQUIRE(tx.blocking_send(7));
  tx.close();
  tx.close();  // idempotent
  CHECK(tx.blocking_send(8).error().is_closed());
  CHECK(rx.is_closed());
  CHECK(rx.blocking_recv() == 7);
  CHECK_FALSE(rx.blocking_recv().has_value());
  CHECK(rx.try_recv().error() == RecvError::closed);
  rx.close();  // closing both ends is fine too
  CHECK(rx.try_recv().error() == RecvError::closed);
}

TEST_CASE("spsc.the receiver drains queued messages after the sender is gone, then sees the end") {
  auto [tx, rx] = troupe::spsc_channel<int>(4);
  REQUIRE(tx.blocking_send(1));
  REQUIRE(tx.blocking_send(2));
  { auto gone = std::move(tx); }
  CHECK(rx.blocking_recv() == 1);
  CHECK(rx.blocking_recv() == 2);
  CHECK_FALSE(rx.blocking_recv().has_value());
  CHECK(rx.try_recv().error() == RecvError::closed);
  CHECK(rx.recv_for(1ms).error() == RecvError::closed);
}

TEST_CASE("spsc.messages still queued are destroyed with the receiver or the channel, none leak") {
  Tracked::live = 0;
  {
    auto [tx, rx] = troupe::spsc_channel<Tracked>(16);
    for (int i = 0; i < 10; ++i) REQUIRE(tx.blocking_send(Tracked(i)));
    CHECK(Tracked::live.load() == 10);
    { auto gone = std::move(rx); }
    CHECK(Tracked::live.load() == 0);
    auto back = tx.blocking_send(Tracked(99));
    REQUIRE_FALSE(back);
    CHECK(back.error().message().value == 99);
  }
  {
    auto [tx, rx] = troupe::spsc_channel<Tracked>(16);
    for (int i = 0; i < 10; ++i) REQUIRE(tx.blocking_send(Tracked(i)));
    { auto gone = std::move(tx); }
    CHECK(rx.blocking_recv()->value == 0);
  }  // the receiver goes with 9 queued
  {
    auto [tx, rx] = troupe::spsc_channel<Tracked>(4);
    for (int round = 0; round < 5; ++round) {  // a wrapped ring: queued slots are not at 0
      for (int i = 0; i < 3; ++i) REQUIRE(tx.blocking_send(Tracked(i)));
      for (int i = 0; i < 3; ++i) REQUIRE(rx.blocking_recv().has_value());
    }
    for (int i = 0; i < 3; ++i) REQUIRE(tx.blocking_send(Tracked(i)));
    rx.close();
  }
  CHECK(Tracked::live.load() == 0);
}

TEST_CASE("spsc.recv_for times out on an open empty channel") {
  auto [tx, rx] = troupe::spsc_channel<int>(4);
  auto result = rx.recv_for(2ms);
  REQUIRE_FALSE(result);
  CHECK(result.error() == RecvError::timeout);
  CHECK(rx.try_recv().error() == RecvError::empty);
  CHECK(rx.recv_for(0ms).error() == RecvError::timeout);
}

TEST_CASE("spsc.send_for on a full channel times out and returns the message") {
  auto [tx, rx] = troupe::spsc_channel<int>(1);
  REQUIRE(tx.blocking_send(1));
  auto result = tx.send_for(2, 2ms);
  REQUIRE_FALSE(result);
  CHECK(result.error().is_timeout());
  CHECK(result.error().message() == 2);
  CHECK(rx.blocking_recv() == 1);
}

TEST_CASE("spsc.a receiver blocked in blocking_recv is woken by sends from another thread" *
          doctest::timeout(10)) {
  auto [tx, rx] = troupe::spsc_channel<int>(4);
  std::thread sender([tx = std::move(tx)]() mutable {
    for (int i = 0; i < 1000; ++i) {
      if (i % 100 == 0) std::this_thread::sleep_for(1ms);  // let the receiver park
      REQUIRE(tx.blocking_send(int{i}));
    }
  });
  for (int i = 0; i < 1000; ++i) REQUIRE(rx.blocking_recv() == i);
  CHECK_FALSE(rx.blocking_recv().has_value());  // the sender's thread dropped it
  sender.join();
}

TEST_CASE("spsc.a receiver blocked in blocking_recv is woken by the sender's close" *
          doctest::timeout(10)) {
  auto [tx, rx] = troupe::spsc_channel<int>(4);
  std::thread closer([tx = std::move(tx)]() mutable {
    std::this_thread::sleep_for(20ms);  // the receiver is parked by now
    tx.close();
  });
  CHECK_FALSE(rx.blocking_recv().has_value());
  closer.join();
}

TEST_CASE("spsc.a sender blocked on a full channel resumes when the receiver frees a slot" *
          doctest::timeout(10)) {
  auto [tx, rx] = troupe::spsc_channel<int>(1);
  REQUIRE(tx.blocking_send(0));
  std::atomic<bool> sent{false};
  std::thread sender([&, tx = std::move(tx)]() mutable {
    REQUIRE(tx.blocking_send(1));  // blocks: the channel is full
    sent = true;
  });
  std::this_thread::sleep_for(20ms);  // the sender is parked by now
  CHECK_FALSE(sent);
  CHECK(rx.blocking_recv() == 0);
  CHECK(rx.blocking_recv() == 1);
  sender.join();
  CHECK(sent);
}

TEST_CASE("spsc.dropping the receiver wakes a sender blocked on a full channel with closed" *
          doctest::timeout(10)) {
  auto [tx, rx] = troupe::spsc_channel<std::unique_ptr<int>>(1);
  REQUIRE(tx.blocking_send(std::make_unique<int>(0)));
  std::latch started(2);
  std::atomic<bool> handed_back{false};
  std::thread sender([&, tx = std::move(tx)]() mutable {
    started.count_down();
    auto result = tx.blocking_send(std::make_unique<int>(1));
    handed_back = !result && result.error().is_closed() && *result.error().message() == 1;
  });
  started.arrive_and_wait();
  std::this_thread::sleep_for(20ms);  // most likely parked by now; spinning works as well
  { auto gone = std::move(rx); }
  sender.join();
  CHECK(handed_back);
}

TEST_CASE("spsc.poll_recv registers a waker that a send, then the close, wakes" *
          doctest::timeout(10)) {
  auto [tx, rx] = troupe::spsc_channel<int>(4);
  CountingWaker waker;
  auto first = rx.poll_recv(waker);
  REQUIRE_FALSE(first);
  CHECK(first.error() == RecvError::empty);
  std::thread sender([&tx] { REQUIRE(tx.blocking_send(7)); });
  while (waker.wakes.load(std::memory_order_acquire) == 0) std::this_thread::yield();
  sender.join();
  CHECK(*rx.poll_recv(waker) == 7);
  CHECK(waker.wakes.load() == 1);
  REQUIRE_FALSE(rx.poll_recv(waker));
  tx.close();
  CHECK(waker.wakes.load() == 2);
  CHECK(rx.poll_recv(waker).error() == RecvError::closed);
}

// cancel_wait and poll_send on a full channel: test_waker.cpp runs those for both kinds.

TEST_CASE("spsc.a cancelled poll_send is not woken, and closing the receiver wakes a waiting one") {
  auto [tx, rx] = troupe::spsc_channel<int>(1);
  REQUIRE(tx.blocking_send(1));
  CountingWaker waker;
  REQUIRE_FALSE(tx.poll_send(2, waker));
  tx.cancel_wait(waker);
  CHECK(rx.blocking_recv() == 1);
  CHECK(waker.wakes.load() == 0);
  REQUIRE(tx.blocking_send(3));
  REQUIRE_FALSE(tx.poll_send(4, waker));
  rx.close();
  CHECK(waker.wakes.load() == 1);
  CHECK(tx.poll_send(4, waker).error().is_closed());
}

TEST_CASE("spsc.select waits on an spsc receiver and an mpsc receiver alike" *
          doctest::timeout(10)) {
  auto [s_tx, s_rx] = troupe::spsc_channel<int>(2);
  auto [m_tx, m_rx] = troupe::channel<int>(2);
  REQUIRE(s_tx.blocking_send(5));
  CHECK(troupe::blocking_select(m_rx, s_rx) == 1u);
  CHECK(*s_rx.try_recv() == 5);
  CHECK(troupe::blocking_select_for(2ms, m_rx, s_rx).error() == troupe::SelectError::timeout);

  std::thread sender([s = std::move(s_tx), m = m_tx.clone()]() mutable {
    for (int i = 0; i < 200; ++i) {
      if (i % 50 == 0) std::this_thread::sleep_for(1ms);  // let the selector park
      REQUIRE((i % 2 == 0 ? s.blocking_send(int{i}) : m.blocking_send(int{i})));
    }
  });
  int received = 0, sum = 0;
  while (received < 200) {
    const std::size_t index = troupe::blocking_select(s_rx, m_rx);
    auto r = index == 0 ? s_rx.try_recv() : m_rx.try_recv();
    if (r) {
      ++received;
      sum += *r;
    }
  }
  sender.join();
  CHECK(sum == 199 * 200 / 2);
  CHECK(troupe::blocking_select(s_rx, m_rx) == 0u);  // the spsc sender is gone: closed is ready
  CHECK(s_rx.try_recv().error() == RecvError::closed);
}

TEST_CASE("spsc.bad capacities are rejected with an error naming the value") {
  try {
    (void)troupe::spsc_channel<int>(0);
    FAIL("capacity 0 was accepted");
  } catch (const troupe::Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    CHECK(std::string(e.what()).rfind("spsc_channel: capacity 0 ", 0) == 0);
  }
  CHECK_THROWS_WITH_AS(troupe::spsc_channel<int>(-1), "spsc_channel: capacity -1 is negative",
                       troupe::Error);
  try {
    (void)troupe::spsc_channel<int>(troupe::kMaxChannelCapacity + 1);
    FAIL("an oversized capacity was accepted");
  } catch (const troupe::Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    CHECK(std::string(e.what()).find("1073741825") != std::string::npos);
  }
}

TEST_CASE("spsc.a moved-from or default sender throws invalid_handle instead of crashing") {
  auto [tx, rx] = troupe::spsc_channel<int>(2);
  auto tx2 = std::move(tx);
  CHECK_FALSE(tx.valid());
  CHECK(tx2.valid());
  try {
    (void)tx.blocking_send(1);
    FAIL("a moved-from sender worked");
  } catch (const troupe::Error& e) {
    CHECK(e.code() == ErrorCode::invalid_handle);
    CHECK(std::string(e.what()).find("SpscSender") != std::string::npos);
  }
  CHECK_THROWS_AS((void)tx.try_send(1), troupe::Error);
  CHECK_THROWS_AS((void)tx.is_closed(), troupe::Error);
  CHECK_THROWS_AS(tx.close(), troupe::Error);
  CHECK_THROWS_AS((void)SpscSender<int>{}.len(), troupe::Error);
  CHECK(tx2.blocking_send(1));
  CHECK(rx.blocking_recv() == 1);
}

TEST_CASE("spsc.assigning over a sender closes the channel it held") {
  auto [tx, rx] = troupe::spsc_channel<int>(2);
  auto [other_tx, other_rx] = troupe::spsc_channel<int>(2);
  REQUIRE(tx.blocking_send(1));
  tx = std::move(other_tx);
  CHECK(rx.blocking_recv() == 1);
  CHECK_FALSE(rx.blocking_recv().has_value());  // its only sender is gone
  REQUIRE(tx.blocking_send(2));
  CHECK(other_rx.blocking_recv() == 2);
}

TEST_CASE("spsc.the sender may travel to another thread through a channel" * doctest::timeout(10)) {
  auto [tx, rx] = troupe::spsc_channel<int>(4);
  auto [handoff_tx, handoff_rx] = troupe::channel<SpscSender<int>>(1);
  REQUIRE(handoff_tx.blocking_send(std::move(tx)));
  std::thread worker([&handoff_rx] {
    auto sender = handoff_rx.blocking_recv();
    REQUIRE(sender.has_value());
    REQUIRE(sender->blocking_send(99));
  });
  CHECK(rx.blocking_recv() == 99);
  CHECK_FALSE(rx.blocking_recv().has_value());
  worker.join();
}

// --- the close protocol, step by step -------------------------------------------------------
// A send is publish + light fence + keep_or_retract (spsc_queue.hpp). Interleaving the
// consumer's close between the two halves pins each outcome of the race that the stress below
// can only hope to hit (the consumer winning the slot needs the producer to stall for the
// whole of the consumer's heavy fence, which practically never happens on its own).

namespace {
using Queue = troupe::detail::SpscQueue<std::unique_ptr<int>>;
using troupe::detail::PopStatus;
using troupe::detail::PushStatus;
}  // namespace

TEST_CASE("spsc.protocol: a message the closed receiver takes first stays sent") {
  Queue queue(4);
  auto message = std::make_unique<int>(1);
  REQUIRE(queue.publish(message) == PushStatus::ok);
  queue.close_by_consumer();  // its final tail includes the message
  std::optional<std::unique_ptr<int>> out;
  REQUIRE(queue.try_pop(out) == PopStatus::ok);  // the consumer's CAS wins
  CHECK(**out == 1);
  CHECK(queue.keep_or_retract(message) == PushStatus::ok);  // the retract CAS loses: sent
  CHECK(message == nullptr);
  std::optional<std::unique_ptr<int>> none;
  CHECK(queue.try_pop(none) == PopStatus::closed);
}

TEST_CASE("spsc.protocol: a message its producer retracts first is skipped by the receiver") {
  Queue queue(4);
  auto first = std::make_unique<int>(1);
  REQUIRE(queue.publish(first) == PushStatus::ok);
  REQUIRE(queue.keep_or_retract(first) == PushStatus::ok);
  auto second = std::make_unique<int>(2);
  int* const address = second.get();
  REQUIRE(queue.publish(second) == PushStatus::ok);
  queue.close_by_consumer();                                   // sees both
  CHECK(queue.keep_or_retract(second) == PushStatus::closed);  // the retract CAS wins
  REQUIRE(second != nullptr);
  CHECK(second.get() == address);  // the very same message is back
  CHECK(queue.size() == 2u);       // a snapshot may still count it, as documented
  std::optional<std::unique_ptr<int>> out;
  REQUIRE(queue.try_pop(out) == PopStatus::ok);
  CHECK(**out == 1);
  std::optional<std::unique_ptr<int>> none;
  CHECK(queue.try_pop(none) == PopStatus::closed);     // the retracted slot is skipped
  CHECK(queue.publish(second) == PushStatus::closed);  // and later sends fail up front
}

TEST_CASE("spsc.protocol: a message received before the close is not retracted after it") {
  Queue queue(1);
  auto message = std::make_unique<int>(1);
  REQUIRE(queue.publish(message) == PushStatus::ok);
  std::optional<std::unique_ptr<int>> out;
  REQUIRE(queue.try_pop(out) == PopStatus::ok);  // a plain take, before any close
  queue.close_by_consumer();
  CHECK(queue.keep_or_retract(message) == PushStatus::ok);  // finds the slot EMPTY
  CHECK(message == nullptr);
  CHECK(**out == 1);
}

TEST_CASE("spsc.protocol: after the producer closed, the receiver's close changes nothing") {
  Queue queue(2);
  auto message = std::make_unique<int>(1);
  REQUIRE(queue.try_push(message) == PushStatus::ok);
  REQUIRE(queue.close());
  CHECK_FALSE(queue.close());
  CHECK(queue.close_by_consumer());
  CHECK_FALSE(queue.close_by_consumer());
  std::optional<std::unique_ptr<int>> out;
  REQUIRE(queue.try_pop(out) == PopStatus::ok);
  std::optional<std::unique_ptr<int>> none;
  CHECK(queue.try_pop(none) == PopStatus::closed);
  CHECK(queue.poll() == PopStatus::closed);
}

// --- stress ---------------------------------------------------------------------------------

TEST_CASE(
    "spsc.stress: one producer's messages arrive exactly once and in order at capacity 1, "
    "64 and 1024" *
    doctest::timeout(600)) {
  const std::int64_t n = stress_messages();
  for (const std::int64_t capacity : {1, 64, 1024}) {
    CAPTURE(capacity);
    auto [tx, rx] = troupe::spsc_channel<std::int64_t>(capacity);
    std::thread producer([tx = std::move(tx), n]() mutable {
      for (std::int64_t seq = 1; seq <= n; ++seq) REQUIRE(tx.blocking_send(std::int64_t{seq}));
    });
    std::int64_t received = 0, checksum = 0, last = 0;
    bool in_order = true;
    while (auto message = rx.blocking_recv()) {
      in_order &= *message == last + 1;
      last = *message;
      checksum += *message;
      ++received;
    }
    producer.join();
    CHECK(received == n);
    CHECK(checksum == n * (n + 1) / 2);
    CHECK(in_order);
  }
}

namespace {

// The producer's side of a close race: sends 1, 2, 3, ... until a send fails with Closed.
struct ProducerBooks {
  std::int64_t attempted = 0;  // sends started
  std::int64_t sent_ok = 0;    // sends that returned ok
  std::int64_t handed_back = 0;
  bool exact = true;  // every failed send handed back the very message it was given
};

template <class Send>
ProducerBooks produce_until_closed(troupe::SpscSender<std::unique_ptr<std::int64_t>>& tx,
                                   Send send) {
  ProducerBooks books;
  for (;;) {
    auto message = std::make_unique<std::int64_t>(++books.attempted);
    const std::int64_t* const address = message.get();
    auto result = send(tx, std::move(message));
    if (result) {
      ++books.sent_ok;
      continue;
    }
    REQUIRE(result.error().is_closed());
    ++books.handed_back;
    const auto& back = result.error().message();
    books.exact = back.get() == address && *back == books.attempted;
    return books;
  }
}

}  // namespace

TEST_CASE(
    "spsc.stress: a send racing with the receiver's close is received or handed back, "
    "exactly one of the two" *
    doctest::timeout(600)) {
  std::random_device seed_source;
  const unsigned seed = seed_source();
  CAPTURE(seed);
  std::mt19937 random(seed);
  const int rounds = race_rounds();
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    const std::int64_t capacity = round % 3 == 0 ? 1 : round % 3 == 1 ? 8 : 256;
    const bool blocking_sends = round % 2 == 0;
    // The receiver takes a random number of messages, waits a random moment, then closes.
    const int take_before_close = std::uniform_int_distribution<int>(0, 3000)(random);
    // Mostly right after a receive, when the producer is busy with the next send.
    const int spin_before_close =
        std::uniform_int_distribution<int>(0, round % 5 == 0 ? 2000 : 16)(random);

    auto [tx, rx] = troupe::spsc_channel<std::unique_ptr<std::int64_t>>(capacity);
    ProducerBooks producer_books;
    std::thread producer([&, tx = std::move(tx)]() mutable {
      producer_books = produce_until_closed(tx, [&](auto& sender, auto message) {
        if (blocking_sends) return sender.blocking_send(std::move(message));
        auto result = sender.try_send(std::move(message));
        while (!result && result.error().is_full()) {  // offer the very same message again
          result = sender.try_send(std::move(result).error().into_message());
        }
        return result;
      });
    });

    std::int64_t received = 0;
    bool in_order = true;
    auto take = [&](const std::unique_ptr<std::int64_t>& message) {
      in_order &= *message == received + 1;
      ++received;
    };
    for (int i = 0; i < take_before_close; ++i) {
      auto message = rx.blocking_recv();
      REQUIRE(message.has_value());
      take(*message);
    }
    for (int i = 0; i < spin_before_close; ++i) troupe::detail::cpu_relax();
    rx.close();
    // After the close: the rest of the stream, then its end (try_recv and blocking_recv alike).
    if (round % 4 < 2) {
      while (auto message = rx.blocking_recv()) take(*message);
    } else {
      for (;;) {
        auto message = rx.try_recv();
        if (!message) {
          REQUIRE(message.error() == RecvError::closed);
          break;
        }
        take(*message);
      }
    }
    producer.join();

    CHECK(in_order);  // and hence no duplicates
    CHECK(producer_books.exact);
    CHECK(producer_books.handed_back == 1);
    CHECK(producer_books.sent_ok == received);
    CHECK(received + producer_books.handed_back == producer_books.attempted);
    CHECK(rx.try_recv().error() == RecvError::closed);
  }
}

namespace {

// A payload that knows whether it was dealt with: received and handed-back messages are
// released by the test; a message destroyed while still owned was destroyed in the queue.
struct Owned {
  static inline std::atomic<std::int64_t> destroyed_owned{0};
  static inline std::mutex ids_mutex;
  static inline std::vector<std::int64_t> destroyed_ids;  // guarded by ids_mutex

  std::int64_t id = 0;
  bool owned = false;
  explicit Owned(std::int64_t i) : id(i), owned(true) {}
  Owned(Owned&& other) noexcept : id(other.id), owned(std::exchange(other.owned, false)) {}
  Owned& operator=(Owned&& other) noexcept {
    id = other.id;
    owned = std::exchange(other.owned, false);
    return *this;
  }
  ~Owned() {
    if (!owned) return;
    destroyed_owned.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(ids_mutex);
    destroyed_ids.push_back(id);
  }
  void release() noexcept { owned = false; }
};

}  // namespace

TEST_CASE(
    "spsc.stress: dropping the receiver mid-stream receives, hands back or destroys each "
    "message exactly once" *
    doctest::timeout(600)) {
  std::random_device seed_source;
  const unsigned seed = seed_source();
  CAPTURE(seed);
  std::mt19937 random(seed);
  for (int round = 0; round < 50; ++round) {
    CAPTURE(round);
    Owned::destroyed_owned = 0;
    Owned::destroyed_ids.clear();
    const std::int64_t capacity = round % 2 == 0 ? 4 : 512;
    const int take_before_drop = std::uniform_int_distribution<int>(0, 3000)(random);

    auto [tx, rx] = troupe::spsc_channel<Owned>(capacity);
    std::int64_t attempted = 0, sent_ok = 0, handed_back = 0;
    bool exact = true;
    std::thread producer([&, tx = std::move(tx)]() mutable {
      for (;;) {
        auto result = tx.blocking_send(Owned(++attempted));
        if (result) {
          ++sent_ok;
          continue;
        }
        exact = result.error().is_closed() && result.error().message().id == attempted;
        result.error().message().release();
        ++handed_back;
        return;
      }
    });  // the sender dies with the thread: the channel (and what it still holds) goes too

    std::vector<std::int64_t> ids;
    {
      auto receiver = std::move(rx);
      for (int i = 0; i < take_before_drop; ++i) {
        auto message = receiver.blocking_recv();
        REQUIRE(message.has_value());
        ids.push_back(message->id);
        message->release();
      }
    }  // dropped: closes, and destroys what it wins below the close
    producer.join();

    const std::int64_t received = static_cast<std::int64_t>(ids.size());
    const std::int64_t destroyed = Owned::destroyed_owned.load();
    CHECK(exact);
    CHECK(handed_back == 1);
    CHECK(sent_ok == received + destroyed);
    CHECK(received + handed_back + destroyed == attempted);
    // Each id exactly once: received 1..r in order, then the destroyed ones, then the last.
    std::vector<std::int64_t> all = ids;
    {
      std::lock_guard lock(Owned::ids_mutex);
      all.insert(all.end(), Owned::destroyed_ids.begin(), Owned::destroyed_ids.end());
    }
    all.push_back(attempted);
    std::sort(all.begin(), all.end());
    std::vector<std::int64_t> expected(static_cast<std::size_t>(attempted));
    for (std::int64_t i = 0; i < attempted; ++i) expected[static_cast<std::size_t>(i)] = i + 1;
    CHECK(all == expected);
  }
}
