// test/fuzz/fuzz_channels.cpp — a libFuzzer target (scripts/fuzz): random bytes become a
// concurrent program of channel and pool operations, and the books must balance afterwards.
//
// Input: byte 0 picks the scenario, byte 1 its size (a capacity, a queue bound), and every
// further byte is one operation, dealt round-robin to the scenario's threads, which run them at
// once:
//
//   mpsc      bounded (capacity 0..8, 0 = rendezvous) or unbounded channel<std::uint64_t>;
//             two producers (try_send, send_for up to 1 ms, a copy of the sender made and
//             dropped, close) and the consumer (try_recv, recv_for up to 1 ms, close from the
//             receiving end);
//   spsc      spsc_channel: one producer, the same consumer;
//   pool      a Pool (1..2 workers, bounded queue or not): one thread submits (try_submit,
//             submit, a task that throws, cancel of an earlier future, close), the other reads
//             futures as they come.
//
// What must hold (a violation aborts, which libFuzzer reports as a crash with the input):
//   channels  every message sent successfully is received exactly once (the consumer drains
//             the channel once both producers are done); every failed send hands back exactly
//             the message it was given; nothing is received that was not sent; each producer's
//             messages arrive in the order sent; a send after the producer's own close fails
//             as Closed; the channel reports Closed only once every sender is gone;
//   pool      every future resolves (value, the task's exception, or Error(cancelled)); the
//             outcomes seen equal what was submitted; the pool's stats balance:
//             submitted = completed + failed + cancelled, and submitted + rejected = attempts;
//   threads   none is left running once the input is done (/proc/self/task).
//
// The program runs under AddressSanitizer and UBSan (the fuzz preset), so a use after free, a
// leak or undefined behaviour in the library fails it too.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

#include "troupe/actors/pool.hpp"
#include "troupe/channels/channel.hpp"

#include "fuzz_support.hpp"

namespace {

using namespace std::chrono_literals;

using troupe::fuzz::ops_for;
using troupe::fuzz::require;
using troupe::fuzz::violated;
using Ops = std::vector<std::span<const std::uint8_t>>;

// A message: its producer in the high 32 bits, its sequence number (from 1) in the low ones.
constexpr std::uint64_t message_of(std::uint64_t producer, std::uint64_t seq) {
  return producer << 32 | seq;
}

// What one producer did: the messages that went through, in order.
struct Produced {
  std::vector<std::uint64_t> sent;
};

// One producer's program on any sender type (Sender or SpscSender).
// What the consumer may assume when it sees Closed: a sender or the receiver closed the
// channel, or every sender is gone.
struct Ending {
  std::atomic<bool> closed_explicitly{false};
  std::atomic<int> senders_left{0};
  // release / acquire: the consumer that sees Closed also sees why.
  void closing() noexcept { closed_explicitly.store(true, std::memory_order_release); }
  void sender_gone() noexcept { senders_left.fetch_sub(1, std::memory_order_release); }
  [[nodiscard]] bool explains_close() const noexcept {
    return closed_explicitly.load(std::memory_order_acquire) ||
           senders_left.load(std::memory_order_acquire) == 0;
  }
};

template <class Tx>
Produced produce(Tx& tx, std::uint64_t producer, const Ops& ops,
                 bool can_clone, Ending& ending) {
  Produced books;
  std::uint64_t seq = 0;
  bool closed_here = false;
  for (const std::span<const std::uint8_t> unit : ops) {
    const std::uint8_t op = unit[0];
    const std::uint64_t message = message_of(producer, ++seq);
    switch (op % 8) {
      case 0:
      case 1:
      case 2:
      case 3: {
        auto sent = tx.try_send(message);
        if (sent) {
          require(!closed_here, "a try_send after this producer's close succeeded", message);
          books.sent.push_back(message);
        } else {
          require(std::move(sent).error().into_message() == message,
                  "a failed try_send handed back another message", message);
        }
        break;
      }
      case 4:
      case 5: {
        auto sent = tx.send_for(message, std::chrono::microseconds(op % 3 * 100));
        if (sent) {
          require(!closed_here, "a send_for after this producer's close succeeded", message);
          books.sent.push_back(message);
        } else {
          require(!closed_here || sent.error().is_closed(),
                  "a send_for after close failed other than Closed", message);
          require(std::move(sent).error().into_message() == message,
                  "a failed send_for handed back another message", message);
        }
        break;
      }
      case 6:
        if constexpr (std::is_copy_constructible_v<Tx>) {
          if (can_clone) {
            Tx copy = tx;  // another sender, dropped at once: the channel stays open
            (void)copy;
          }
        }
        break;
      case 7:
        if (op > 200) {  // rarely: a close ends the run for every producer
          ending.closing();
          tx.close();
          closed_here = true;
        }
        break;
      default:
        break;
    }
  }
  return books;
}

// The consumer's program, then the drain once the producers are done.
template <class Rx>
std::vector<std::uint64_t> consume(Rx& rx, const Ops& ops,
                                   Ending& ending) {
  std::vector<std::uint64_t> received;
  for (const std::span<const std::uint8_t> unit : ops) {
    const std::uint8_t op = unit[0];
    if (op % 16 == 15 && op > 240) {
      ending.closing();
      rx.close();  // what was queued before stays receivable
    } else if (op % 2 == 0) {
      if (auto got = rx.try_recv()) received.push_back(*got);
    } else {
      if (auto got = rx.recv_for(std::chrono::microseconds(op % 4 * 50))) {
        received.push_back(*got);
      }
    }
  }
  // The drain: once the producers are done every sender is gone, so the channel is closed and
  // its last queued message is followed by Closed (a channel that never says so hangs here,
  // which libFuzzer's -timeout reports).
  for (;;) {
    auto got = rx.recv_for(5ms);
    if (got) {
      received.push_back(*got);
    } else if (got.error() == troupe::RecvError::closed) {
      break;
    } else {
      require(got.error() == troupe::RecvError::timeout, "recv_for failed with Empty");
    }
  }
  require(ending.explains_close(), "Closed while a sender was alive and nobody had closed");
  return received;
}

void check_channel_books(const std::vector<Produced>& producers,
                         const std::vector<std::uint64_t>& received) {
  std::size_t sent_total = 0;
  for (const Produced& p : producers) sent_total += p.sent.size();
  require(received.size() == sent_total, "received count differs from sent count",
          received.size(), sent_total);
  // Per producer: the received messages are exactly its sent ones, in order.
  for (std::uint64_t producer = 0; producer < producers.size(); ++producer) {
    std::size_t next = 0;
    for (const std::uint64_t message : received) {
      if (message >> 32 != producer) continue;
      require(next < producers[producer].sent.size(), "a message received that was not sent",
              message);
      require(message == producers[producer].sent[next], "a producer's messages out of order",
              message, producers[producer].sent[next]);
      ++next;
    }
    require(next == producers[producer].sent.size(), "a sent message never received", producer,
            next);
  }
  for (const std::uint64_t message : received) {
    require(message >> 32 < producers.size(), "a message from no producer", message);
  }
}

void run_mpsc(std::uint8_t size, std::span<const std::uint8_t> ops) {
  const bool unbounded = size >= 250;
  auto [tx, rx] = unbounded ? troupe::unbounded_channel<std::uint64_t>()
                            : troupe::channel<std::uint64_t>(size % 9);
  Ending ending;
  ending.senders_left.store(2, std::memory_order_relaxed);
  std::vector<Produced> books(2);
  std::vector<std::uint64_t> received;
  auto tx2 = tx;
  // Each producer says it is done (sender_gone), then drops its sender.
  std::thread first([&, tx = std::move(tx)]() mutable {
    {
      auto mine = std::move(tx);
      books[0] = produce(mine, 0, ops_for(ops, 0, 3), true, ending);
      ending.sender_gone();  // before the drop: the close it causes must find it counted
    }
  });
  std::thread second([&, tx2 = std::move(tx2)]() mutable {
    {
      auto mine = std::move(tx2);
      books[1] = produce(mine, 1, ops_for(ops, 1, 3), true, ending);
      ending.sender_gone();
    }
  });
  std::thread consumer([&, rx = std::move(rx)]() mutable {
    received = consume(rx, ops_for(ops, 2, 3), ending);
  });
  first.join();
  second.join();
  consumer.join();
  check_channel_books(books, received);
}

void run_spsc(std::uint8_t size, std::span<const std::uint8_t> ops) {
  auto [tx, rx] = troupe::spsc_channel<std::uint64_t>(1 + size % 8);
  Ending ending;
  ending.senders_left.store(1, std::memory_order_relaxed);
  std::vector<Produced> books(1);
  std::vector<std::uint64_t> received;
  std::thread producer([&, tx = std::move(tx)]() mutable {
    {
      auto mine = std::move(tx);
      books[0] = produce(mine, 0, ops_for(ops, 0, 2), false, ending);
      ending.sender_gone();  // before the drop: the close it causes must find it counted
    }
  });
  std::thread consumer([&, rx = std::move(rx)]() mutable {
    received = consume(rx, ops_for(ops, 1, 2), ending);
  });
  producer.join();
  consumer.join();
  check_channel_books(books, received);
}

void run_pool(std::uint8_t size, std::span<const std::uint8_t> ops) {
  troupe::PoolOptions options;
  options.name = "fuzz";
  options.min_workers = 1;
  options.max_workers = 1 + size % 2;
  options.max_queue = size % 4 == 0 ? 0 : size % 8;
  options.on_full = troupe::QueueFull::reject;
  troupe::Pool pool(options);
  std::uint64_t attempts = 0, completed = 0, failed = 0, cancelled = 0;
  std::vector<troupe::PoolFuture<std::uint64_t>> futures;
  std::vector<std::uint64_t> expected;
  std::uint64_t next = 0;
  for (const std::uint8_t op : ops) {
    switch (op % 8) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4: {
        ++attempts;
        const std::uint64_t x = ++next;
        const bool throws = op % 8 == 4;
        auto submitted = pool.try_submit([x, throws]() -> std::uint64_t {
          if (throws) throw std::runtime_error("task " + std::to_string(x) + " throws");
          return 2 * x;
        });
        if (submitted) {
          futures.push_back(std::move(submitted).value());
          expected.push_back(throws ? 0 : 2 * x);
        }
        break;
      }
      case 5:
        if (!futures.empty()) (void)futures[op % futures.size()].cancel();
        break;
      case 6:
        if (op > 230) pool.close(op % 2 == 0);
        break;
      default:
        std::this_thread::yield();
        break;
    }
  }
  pool.close();
  for (std::size_t i = 0; i < futures.size(); ++i) {
    try {
      const std::uint64_t value = futures[i].get();
      require(expected[i] != 0, "a throwing task's future gave a value", i);
      require(value == expected[i], "a future gave another task's value", value, expected[i]);
      ++completed;
    } catch (const troupe::Error& error) {
      require(error.code() == troupe::ErrorCode::cancelled, "a future failed with another code",
              static_cast<std::uint64_t>(error.code()));
      ++cancelled;
    } catch (const std::runtime_error&) {
      require(expected[i] == 0, "a task that returns threw", i);
      ++failed;
    }
  }
  const troupe::PoolStats stats = pool.stats();
  require(stats.submitted == futures.size(), "stats.submitted differs from the futures",
          stats.submitted, futures.size());
  require(stats.submitted + stats.rejected == attempts, "submitted + rejected != attempts",
          stats.submitted + stats.rejected, attempts);
  require(stats.completed == completed && stats.failed == failed &&
              stats.cancelled == cancelled,
          "the pool's outcome counts differ from the futures'", stats.completed, completed);
  require(stats.submitted == stats.completed + stats.failed + stats.cancelled + stats.timed_out +
                                 stats.deadline_exceeded,
          "the pool's books do not balance", stats.submitted);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint64_t threads_start = troupe::fuzz::threads_alive();
  const std::span<const std::uint8_t> ops(data + 2, std::min<std::size_t>(size - 2, 512));
  switch (data[0] % 3) {
    case 0: run_mpsc(data[1], ops); break;
    case 1: run_spsc(data[1], ops); break;
    default: run_pool(data[1], ops); break;
  }
  troupe::fuzz::require_no_thread_left(threads_start);
  return 0;
}
