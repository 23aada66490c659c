// Stress: 4 producers x 1,000,000 messages (250,000 under a sanitizer) through every channel
// kind. The books must balance: every message sent is received exactly once (count and
// checksum), in order per sender.
// TROUPE_STRESS_MESSAGES overrides the per-producer count (e.g. for a quick local run).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <latch>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "troupe/channels/broadcast.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/channels/port.hpp"

namespace {

constexpr int kProducers = 4;

std::int64_t per_producer() {
  if (const char* env = std::getenv("TROUPE_STRESS_MESSAGES")) return std::atoll(env);
  return troupe::testing::stress_volume(1'000'000);
}

// A message names its producer and its sequence number (1-based).
std::int64_t encode(int producer, std::int64_t seq) {
  return (std::int64_t{producer} << 40) | seq;
}

struct Books {
  std::int64_t received = 0;
  std::int64_t checksum = 0;
  std::int64_t last_seq[kProducers] = {};
  bool in_order = true;

  void take(std::int64_t message) {
    const int producer = static_cast<int>(message >> 40);
    const std::int64_t seq = message & ((std::int64_t{1} << 40) - 1);
    if (producer < 0 || producer >= kProducers || seq != last_seq[producer] + 1) in_order = false;
    if (producer >= 0 && producer < kProducers) last_seq[producer] = seq;
    ++received;
    checksum += seq;
  }
  void check(std::int64_t n) const {
    CHECK(received == kProducers * n);                  // nothing lost, nothing duplicated
    CHECK(checksum == kProducers * (n * (n + 1) / 2));  // and the right messages
    CHECK(in_order);                                    // FIFO per sender
  }
};

// Runs 4 producers sending through `send(producer, message)` and returns when all are done.
template <class Send>
std::vector<std::thread> start_producers(std::int64_t n, std::latch& start, Send send) {
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([=, &start]() mutable {
      start.arrive_and_wait();
      for (std::int64_t seq = 1; seq <= n; ++seq) send(p, encode(p, seq));
    });
  }
  return producers;
}

void run_mpsc(std::pair<troupe::Sender<std::int64_t>, troupe::Receiver<std::int64_t>> pair,
              std::int64_t n) {
  auto& [tx, rx] = pair;
  std::latch start(kProducers);
  std::vector<troupe::Sender<std::int64_t>> senders(kProducers, tx);
  tx = {};  // only the producers' senders keep the channel open
  auto producers = start_producers(n, start, [senders](int p, std::int64_t m) mutable {
    REQUIRE(senders[p].blocking_send(std::int64_t{m}));
  });
  Books books;
  // The producers' lambdas own copies of `senders`; drop ours so the stream can end.
  senders.clear();
  while (auto message = rx.blocking_recv()) books.take(*message);
  for (auto& t : producers) t.join();
  books.check(n);
}

// The parking tests: a receiver that keeps running dry, so that it parks (and is woken, or
// withdraws) on nearly every message. Fewer messages than the throughput tests: each costs a
// park and a wake.
std::int64_t per_producer_parking() {
  return std::max<std::int64_t>(1, per_producer() / 10);
}

// Producers that pause now and then (a yield every few messages), so the receiver runs dry.
template <class Send>
std::vector<std::thread> start_bursty_producers(std::int64_t n, std::latch& start, Send send) {
  return start_producers(n, start, [send](int p, std::int64_t m) mutable {
    send(p, m);
    if ((m & 7) == 0) std::this_thread::yield();
  });
}

// Receives until the end of the stream, awaiting each message (a task's receive loop).
troupe::testing::ManualTask receive_all(troupe::Receiver<std::int64_t>& rx, Books& books) {
  while (auto message = co_await rx.recv()) books.take(*message);
}

using troupe::testing::RefWaker;

}  // namespace

TEST_CASE("stress.a task-like receiver parking on every empty bounded channel gets 4 x n "
          "messages exactly once" * doctest::timeout(300)) {
  const std::int64_t n = per_producer_parking();
  for (const std::int64_t capacity : {1, 8}) {
    CAPTURE(capacity);
    auto [tx, rx] = troupe::channel<std::int64_t>(capacity);
    std::latch start(kProducers);
    auto producers = start_bursty_producers(n, start, [tx = tx](int, std::int64_t m) mutable {
      REQUIRE(tx.blocking_send(std::int64_t{m}));
    });
    tx = {};
    Books books;
    {
      // Stepped as a scheduler would: polled again after each wake, and now and then polled
      // again without one (a spurious wake: it must keep its one registration).
      troupe::testing::ManualTask task = receive_all(rx, books);
      std::uint64_t round = 0;
      while (!task.done()) {
        const int before = task.wakes();
        if (task.step()) break;
        if (++round % 16 == 0) continue;
        while (task.wakes() == before) std::this_thread::yield();
      }
      for (auto& t : producers) t.join();  // no sender may still wake the task's waker
      task.rethrow_if_failed();
      MESSAGE("capacity " << capacity << ": " << task.wakes() << " wakes for " << kProducers * n
                          << " messages");
    }
    books.check(n);
  }
}

TEST_CASE("stress.a receiver polled with two wakers in turn loses no message and no reference" *
          doctest::timeout(300)) {
  const std::int64_t n = per_producer_parking();
  auto [tx, rx] = troupe::channel<std::int64_t>(2);
  std::latch start(kProducers);
  auto producers = start_bursty_producers(n, start, [tx = tx](int, std::int64_t m) mutable {
    REQUIRE(tx.blocking_send(std::int64_t{m}));
  });
  tx = {};
  Books books;
  RefWaker wakers[2];
  int k = 0;
  std::uint64_t round = 0;
  for (;;) {
    const int before = wakers[k].wakes.load(std::memory_order_acquire);
    auto r = rx.poll_recv(wakers[k]);
    if (r) {
      books.take(*r);
      continue;
    }
    if (r.error() == troupe::RecvError::closed) break;
    ++round;
    if (round % 4 == 0) {
      k ^= 1;  // polled again at once by the other waker: it takes the registration over
      continue;
    }
    if (round % 7 == 0) {
      rx.cancel_wait();  // gives up waiting; the next poll registers afresh
      continue;
    }
    while (wakers[k].wakes.load(std::memory_order_acquire) == before) std::this_thread::yield();
    if (round % 3 == 0) k ^= 1;
  }
  for (auto& t : producers) t.join();
  books.check(n);
  CHECK(wakers[0].refs() == 1);  // every registration ended: woken, withdrawn or taken over
  CHECK(wakers[1].refs() == 1);
}

TEST_CASE("stress.a receiver waiting with short timeouts withdraws and parks again, losing "
          "nothing" * doctest::timeout(300)) {
  const std::int64_t n = per_producer_parking();
  auto [tx, rx] = troupe::channel<std::int64_t>(4);
  std::latch start(kProducers);
  auto producers = start_producers(n, start, [tx = tx](int, std::int64_t m) mutable {
    REQUIRE(tx.blocking_send(std::int64_t{m}));
    if ((m & 63) == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
  });
  tx = {};
  Books books;
  std::int64_t timeouts = 0;
  for (;;) {
    auto r = rx.recv_for(std::chrono::microseconds(20));
    if (r) {
      books.take(*r);
    } else if (r.error() == troupe::RecvError::timeout) {
      ++timeouts;
    } else {
      REQUIRE(r.error() == troupe::RecvError::closed);
      break;
    }
  }
  for (auto& t : producers) t.join();
  books.check(n);
  MESSAGE("timeouts (each a withdrawn registration): " << timeouts);
}

TEST_CASE("stress.bounded channel (capacity 1024) delivers 4 x n messages exactly once, in order" *
          doctest::timeout(300)) {
  run_mpsc(troupe::channel<std::int64_t>(1024), per_producer());
}

TEST_CASE("stress.bounded channel of capacity 1 delivers 4 x n messages exactly once, in order" *
          doctest::timeout(300)) {
  run_mpsc(troupe::channel<std::int64_t>(1), per_producer());
}

TEST_CASE("stress.unbounded channel delivers 4 x n messages exactly once, in order" *
          doctest::timeout(300)) {
  run_mpsc(troupe::unbounded_channel<std::int64_t>(), per_producer());
}

TEST_CASE("stress.rendezvous channel delivers 4 x n messages exactly once, in order" *
          doctest::timeout(300)) {
  run_mpsc(troupe::channel<std::int64_t>(0), per_producer());
}

TEST_CASE("stress.try_send with retries hands every rejected message back and loses none" *
          doctest::timeout(300)) {
  const std::int64_t n = per_producer();
  auto [tx, rx] = troupe::channel<std::int64_t>(64);
  std::latch start(kProducers);
  std::atomic<std::int64_t> rejected{0};
  auto producers = start_producers(n, start, [tx = tx, &rejected](int, std::int64_t m) mutable {
    auto result = tx.try_send(std::int64_t{m});
    while (!result) {  // Full: the message came back; offer the very same one again
      REQUIRE(result.error().is_full());
      rejected.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::yield();
      result = tx.try_send(std::move(result).error().into_message());
    }
  });
  tx = {};
  Books books;
  while (auto message = rx.blocking_recv()) books.take(*message);
  for (auto& t : producers) t.join();
  books.check(n);
  MESSAGE("try_send rejections (each retried, none lost): " << rejected.load());
}

TEST_CASE("stress.ports carry 4 x n messages each way between two threads" *
          doctest::timeout(300)) {
  const std::int64_t n = per_producer();
  auto [left, right] = troupe::message_channel<std::int64_t, std::int64_t>(256);
  std::thread echo([&right] {
    while (auto m = right.blocking_recv()) REQUIRE(right.blocking_send(std::int64_t{*m}));
  });
  Books books;
  std::thread reader;
  {
    // One thread sends (in producer-interleaved order), the caller reads the echoes.
    std::thread writer([&left, n] {
      for (std::int64_t seq = 1; seq <= n; ++seq) {
        for (int p = 0; p < kProducers; ++p) REQUIRE(left.sender().blocking_send(encode(p, seq)));
      }
      left.sender().close();
    });
    for (std::int64_t i = 0; i < kProducers * n; ++i) {
      auto m = left.receiver().blocking_recv();
      REQUIRE(m.has_value());
      books.take(*m);
    }
    writer.join();
  }
  echo.join();
  books.check(n);
}

TEST_CASE("stress.broadcast: every receiver accounts for every message as received or lagged" *
          doctest::timeout(300)) {
  const std::int64_t n = per_producer();
  auto [tx, rx] = troupe::broadcast<std::int64_t>(1024);
  std::vector<troupe::BroadcastReceiver<std::int64_t>> receivers;
  receivers.push_back(std::move(rx));
  receivers.push_back(tx.subscribe());
  std::vector<std::thread> readers;
  std::vector<std::int64_t> received(receivers.size()), missed(receivers.size());
  for (std::size_t r = 0; r < receivers.size(); ++r) {
    readers.emplace_back([&, r] {
      for (;;) {
        auto m = receivers[r].blocking_recv();
        if (m) {
          ++received[r];
        } else if (m.error().kind == troupe::BroadcastRecvError::lagged) {
          missed[r] += static_cast<std::int64_t>(m.error().missed);
        } else {
          REQUIRE(m.error().kind == troupe::BroadcastRecvError::closed);
          return;
        }
      }
    });
  }
  std::latch start(kProducers);
  auto producers = start_producers(
      n, start, [tx = tx](int, std::int64_t m) mutable { REQUIRE(tx.send(std::int64_t{m})); });
  for (auto& t : producers) t.join();
  tx = {};  // the last sender: receivers drain, then see Closed
  for (auto& t : readers) t.join();
  for (std::size_t r = 0; r < receivers.size(); ++r) {
    CHECK(received[r] + missed[r] == kProducers * n);  // the books balance per receiver
  }
}
