// Awaiting channel operations from coroutines: `co_await rx.recv()`, `co_await tx.send(x)` and
// their counterparts on Port, oneshot and broadcast. ManualTask (test_support.hpp) stands in for
// the runtime: it runs a coroutine to its first suspension, and step() re-polls the operation
// it waits on, as a scheduler does when the task is woken.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test_support.hpp"
#include "troupe/channels/broadcast.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/channels/oneshot.hpp"
#include "troupe/channels/port.hpp"

namespace {

using troupe::ErrorCode;
using troupe::RecvError;
using troupe::testing::ManualTask;
using troupe::testing::Tracked;

// The coroutines take what they use by reference (a capturing lambda coroutine would outlive
// its captures).
template <class Rx, class Out>
ManualTask receive_into(Rx& rx, Out& out) {
  out.emplace(co_await rx.recv());
}

template <class Tx, class T, class Out>
ManualTask send_coroutine(Tx& tx, T message, Out& out) {
  out.emplace(co_await tx.send(std::move(message)));
}

// Polls an awaited send on a full channel until it stops retrying (each retry wakes its task
// to be polled again) and registers with the channel (SendOp, which wakes nothing).
void poll_until_registered(ManualTask& task) {
  while (!task.done()) {
    const int wakes = task.wakes();
    (void)task.step();
    if (task.wakes() == wakes) return;
  }
}

// Starts an awaited send. On a full channel it is polled until it registers, and the wakes of
// its retries are forgotten: the tests below are about the registered waiter.
template <class Tx, class T, class Out>
ManualTask send_into(Tx& tx, T message, Out& out) {
  ManualTask task = send_coroutine(tx, std::move(message), out);
  poll_until_registered(task);
  task.forget_wakes();
  return task;
}

// Sums every message until the end of the stream.
ManualTask sum_all(troupe::Receiver<std::int64_t>& rx, std::int64_t& sum) {
  while (auto message = co_await rx.recv()) sum += *message;
}

// Sends 1..n, stopping early if the channel closes.
template <class Tx>
ManualTask send_range(Tx& tx, std::int64_t n, std::int64_t& sent) {
  for (std::int64_t i = 1; i <= n; ++i) {
    if (!co_await tx.send(std::int64_t{i})) co_return;
    sent = i;
  }
}

// Steps `task` to completion, waiting (without sleeping) for a wake whenever it is suspended.
// Another thread makes the progress it waits for. A ManualTask's waker dies with it (unlike a
// runtime task's, it is not kept alive by the references channels hold), so a test joins every
// thread that may still wake a task before the task is destroyed.
void drive(ManualTask& task) {
  while (!task.done()) {
    const int before = task.wakes();
    if (task.step()) break;
    while (task.wakes() == before) std::this_thread::yield();
  }
  task.rethrow_if_failed();
}

using SendOutcome = std::optional<troupe::SendResult<int>>;
using TrackedOutcome = std::optional<troupe::SendResult<Tracked>>;

}  // namespace

TEST_CASE("channel_await.awaiting recv on an empty channel suspends until a send wakes it") {
  auto [tx, rx] = troupe::channel<int>(4);
  std::optional<std::optional<int>> got;
  ManualTask task = receive_into(rx, got);
  CHECK_FALSE(task.done());
  CHECK(task.wakes() == 0);
  CHECK_FALSE(task.step());  // a spurious step: still nothing to receive
  REQUIRE(tx.try_send(7));
  CHECK(task.wakes() == 1);
  CHECK(task.step());
  CHECK(*got == 7);
}

TEST_CASE("channel_await.awaiting recv completes without suspending when a message is queued") {
  auto [tx, rx] = troupe::unbounded_channel<int>();
  REQUIRE(tx.try_send(3));
  std::optional<std::optional<int>> got;
  ManualTask task = receive_into(rx, got);
  CHECK(task.done());
  CHECK(*got == 3);
}

TEST_CASE("channel_await.awaiting recv drains the channel, then sees the close as nullopt") {
  auto [tx, rx] = troupe::channel<std::int64_t>(4);
  REQUIRE(tx.try_send(std::int64_t{1}));
  REQUIRE(tx.try_send(std::int64_t{2}));
  std::int64_t sum = 0;
  ManualTask task = sum_all(rx, sum);
  CHECK_FALSE(task.done());  // drained both, now waiting for more
  CHECK(sum == 3);
  { auto gone = std::move(tx); }  // the last sender: the channel closes
  CHECK(task.wakes() == 1);
  CHECK(task.step());
  CHECK(sum == 3);
}

TEST_CASE("channel_await.awaiting send on a full channel suspends until a receive frees a slot") {
  auto [tx, rx] = troupe::channel<int>(1);
  REQUIRE(tx.try_send(1));
  SendOutcome sent;
  ManualTask task = send_into(tx, 2, sent);
  CHECK_FALSE(task.done());
  CHECK(rx.len() == 1);
  CHECK(*rx.try_recv() == 1);  // frees the slot and wakes the task
  CHECK(task.wakes() == 1);
  CHECK(task.step());
  CHECK(sent->has_value());
  CHECK(*rx.try_recv() == 2);
}

TEST_CASE("channel_await.awaiting send on a closed channel hands the message back") {
  SUBCASE("closed before the send") {
    auto [tx, rx] = troupe::channel<Tracked>(2);
    rx.close();
    TrackedOutcome sent;
    ManualTask task = send_into(tx, Tracked(5), sent);
    REQUIRE(task.done());
    REQUIRE((*sent).error().is_closed());
    CHECK(std::move(*sent).error().into_message().value == 5);
  }
  SUBCASE("closed while the send waits for room") {
    auto [tx, rx] = troupe::channel<Tracked>(1);
    REQUIRE(tx.try_send(Tracked(1)));
    TrackedOutcome sent;
    ManualTask task = send_into(tx, Tracked(6), sent);
    REQUIRE_FALSE(task.done());
    rx.close();
    CHECK(task.wakes() == 1);
    REQUIRE(task.step());
    REQUIRE((*sent).error().is_closed());
    CHECK((*sent).error().message().value == 6);
    CHECK(rx.try_recv()->value == 1);  // what was queued before the close is still received
  }
  CHECK(Tracked::live.load() == 0);
}

TEST_CASE("channel_await.polling a waiting send again replaces its registration, never adds one") {
  {
    auto [tx, rx] = troupe::channel<Tracked>(1);
    REQUIRE(tx.try_send(Tracked(1)));
    TrackedOutcome sent;
    ManualTask task = send_into(tx, Tracked(2), sent);
    for (int i = 0; i < 5; ++i) CHECK_FALSE(task.step());  // spurious: still full
    CHECK(task.wakes() == 0);
    CHECK(rx.try_recv()->value == 1);
    CHECK(task.wakes() == 1);  // one registration, one wake
    REQUIRE(task.step());
    CHECK(sent->has_value());
    CHECK(rx.try_recv()->value == 2);  // frees a slot: no stale registration is left to wake
    CHECK(task.wakes() == 1);
  }
  CHECK(Tracked::live.load() == 0);
}

TEST_CASE("channel_await.polling a waiting recv again leaves one registration") {
  auto [tx, rx] = troupe::unbounded_channel<int>();
  std::optional<std::optional<int>> got;
  ManualTask task = receive_into(rx, got);
  for (int i = 0; i < 5; ++i) CHECK_FALSE(task.step());
  REQUIRE(tx.try_send(4));
  CHECK(task.wakes() == 1);
  REQUIRE(task.step());
  CHECK(*got == 4);
  REQUIRE(tx.try_send(5));  // nobody is registered any more: no wake
  CHECK(task.wakes() == 1);
}

TEST_CASE("channel_await.a receive moved out of its Awaitable keeps its registration") {
  auto [tx, rx] = troupe::channel<int>(2);
  troupe::testing::CountingWaker waker;
  auto awaitable = rx.recv();
  troupe::detail::RecvOp<int> polled = std::move(awaitable).into_op();  // as a combinator does
  REQUIRE_FALSE(polled.poll(waker));
  troupe::detail::RecvOp<int> moved = std::move(polled);  // the registration goes with it
  { auto gone = std::move(polled); }                      // a moved-from one withdraws nothing
  REQUIRE(tx.try_send(6));
  CHECK(waker.wakes.load() == 1);
  REQUIRE(moved.poll(waker));
  CHECK(moved.take() == 6);
  REQUIRE(tx.try_send(7));
  CHECK(waker.wakes.load() == 1);  // completed: nothing is left registered
}

TEST_CASE("channel_await.destroying a suspended task withdraws its registration") {
  SUBCASE("a waiting recv") {
    auto [tx, rx] = troupe::channel<int>(2);
    {
      std::optional<std::optional<int>> got;
      ManualTask task = receive_into(rx, got);
      REQUIRE_FALSE(task.done());
    }  // its waker is gone with it: a send must not touch it
    REQUIRE(tx.try_send(1));
    CHECK(*rx.try_recv() == 1);
  }
  SUBCASE("a waiting send") {
    auto [tx, rx] = troupe::channel<Tracked>(1);
    REQUIRE(tx.try_send(Tracked(1)));
    {
      TrackedOutcome sent;
      ManualTask task = send_into(tx, Tracked(2), sent);
      REQUIRE_FALSE(task.done());
    }  // the message it held is destroyed, never sent
    CHECK(Tracked::live.load() == 1);
    CHECK(rx.try_recv()->value == 1);
    REQUIRE(tx.try_send(Tracked(3)));
    CHECK(rx.try_recv()->value == 3);
    CHECK(rx.try_recv().error() == RecvError::empty);
  }
  SUBCASE("a waiting send on a rendezvous channel") {
    auto [tx, rx] = troupe::channel<Tracked>(0);
    {
      TrackedOutcome sent;
      ManualTask task = send_into(tx, Tracked(2), sent);
      REQUIRE_FALSE(task.done());
    }  // its offer is withdrawn: the receiver cannot take a message that no longer exists
    CHECK(rx.try_recv().error() == RecvError::empty);
  }
  CHECK(Tracked::live.load() == 0);
}

TEST_CASE("channel_await.a send destroyed after its wake passes the wake on to the next sender") {
  auto [tx, rx] = troupe::channel<int>(1);
  REQUIRE(tx.try_send(0));
  SendOutcome second_sent;
  ManualTask second = [&]() {
    SendOutcome first_sent;
    ManualTask first = send_into(tx, 1, first_sent);
    ManualTask queued = send_into(tx, 2, second_sent);
    REQUIRE_FALSE(first.done());
    REQUIRE_FALSE(queued.done());
    CHECK(*rx.try_recv() == 0);  // the slot's wake goes to the longest-waiting sender, `first`
    CHECK(first.wakes() == 1);
    CHECK(queued.wakes() == 0);
    return queued;
  }();  // `first` is destroyed without using its wake: it must reach `second`
  CHECK(second.wakes() == 1);
  REQUIRE(second.step());
  CHECK(second_sent->has_value());
  CHECK(*rx.try_recv() == 2);
}

TEST_CASE("channel_await.rendezvous: an awaited send waits until the receiver takes the message") {
  SUBCASE("taken by try_recv") {
    auto [tx, rx] = troupe::channel<int>(0);
    SendOutcome sent;
    ManualTask task = send_into(tx, 5, sent);
    REQUIRE_FALSE(task.done());
    CHECK_FALSE(task.step());  // polled again: the offer stays queued, once
    CHECK(*rx.try_recv() == 5);
    CHECK(task.wakes() == 1);
    REQUIRE(task.step());
    CHECK(sent->has_value());
    CHECK(rx.try_recv().error() == RecvError::empty);  // no second copy of the offer
  }
  SUBCASE("taken by an awaiting receiver") {
    auto [tx, rx] = troupe::channel<int>(0);
    std::optional<std::optional<int>> got;
    ManualTask receiver = receive_into(rx, got);
    REQUIRE_FALSE(receiver.done());
    SendOutcome sent;
    ManualTask sender = send_into(tx, 9, sent);
    REQUIRE_FALSE(sender.done());  // no blocked receiver to hand over to: the offer waits
    CHECK(receiver.wakes() == 1);  // the offer woke the receiver
    REQUIRE(receiver.step());
    CHECK(*got == 9);
    CHECK(sender.wakes() == 1);  // taking the offer woke the sender
    REQUIRE(sender.step());
    CHECK(sent->has_value());
  }
  SUBCASE("the channel closes first: the message comes back") {
    auto [tx, rx] = troupe::channel<Tracked>(0);
    TrackedOutcome sent;
    ManualTask task = send_into(tx, Tracked(8), sent);
    REQUIRE_FALSE(task.done());
    rx.close();
    CHECK(task.wakes() == 1);
    REQUIRE(task.step());
    REQUIRE((*sent).error().is_closed());
    CHECK((*sent).error().message().value == 8);
  }
  CHECK(Tracked::live.load() == 0);
}

TEST_CASE("channel_await.rendezvous: an awaited send meets a receiver blocked in blocking_recv" *
          doctest::timeout(30)) {
  auto [tx, rx] = troupe::channel<std::int64_t>(0);
  std::thread receiver([&rx] {
    for (std::int64_t expected = 1; expected <= 100; ++expected) {
      REQUIRE(rx.blocking_recv() == expected);
    }
  });
  std::int64_t sent = 0;
  ManualTask task = send_range(tx, 100, sent);
  drive(task);  // each handed over to a waiting Taker, or queued until the receiver takes it
  receiver.join();
  CHECK(sent == 100);
}

TEST_CASE("channel_await.spsc channels await recv and send like the others") {
  auto [tx, rx] = troupe::spsc_channel<int>(1);
  std::optional<std::optional<int>> got;
  ManualTask receiver = receive_into(rx, got);
  REQUIRE_FALSE(receiver.done());
  SendOutcome first;
  ManualTask sender = send_into(tx, 1, first);
  REQUIRE(sender.done());  // room for one
  CHECK(receiver.wakes() == 1);
  SendOutcome second;
  ManualTask blocked = send_into(tx, 2, second);
  REQUIRE_FALSE(blocked.done());  // full
  REQUIRE(receiver.step());
  CHECK(*got == 1);
  CHECK(blocked.wakes() == 1);
  REQUIRE(blocked.step());
  CHECK(second->has_value());
  CHECK(*rx.try_recv() == 2);
  { auto gone = std::move(tx); }
  got.reset();
  ManualTask at_end = receive_into(rx, got);
  REQUIRE(at_end.done());
  CHECK_FALSE(got->has_value());
}

TEST_CASE("channel_await.ports await send and recv in both directions") {
  auto [port1, port2] = troupe::message_channel<int, std::string>(1);
  SendOutcome sent;
  ManualTask request = send_into(port1, 1, sent);
  REQUIRE(request.done());
  SendOutcome blocked_sent;
  ManualTask blocked = send_into(port1, 2, blocked_sent);
  REQUIRE_FALSE(blocked.done());  // one message at most in each direction
  std::optional<std::optional<std::string>> reply;
  ManualTask waiting = receive_into(port1, reply);
  REQUIRE_FALSE(waiting.done());

  CHECK(*port2.try_recv() == 1);
  REQUIRE(blocked.step());
  CHECK(*port2.try_recv() == 2);
  REQUIRE(port2.try_send("two"));
  REQUIRE(waiting.step());
  CHECK(*reply == "two");
  port2.close();
  std::optional<std::optional<std::string>> end;
  ManualTask after_close = receive_into(port1, end);
  REQUIRE(after_close.done());
  CHECK_FALSE(end->has_value());
}

TEST_CASE("channel_await.a oneshot receiver awaits the value, or Closed if the sender died") {
  SUBCASE("the value arrives") {
    auto [tx, rx] = troupe::oneshot<int>();
    std::optional<troupe::RecvResult<int>> got;
    ManualTask task = receive_into(rx, got);
    REQUIRE_FALSE(task.done());
    REQUIRE(tx.send(42));
    CHECK(task.wakes() == 1);
    REQUIRE(task.step());
    CHECK(**got == 42);
  }
  SUBCASE("the sender dies unsent") {
    auto [tx, rx] = troupe::oneshot<int>();
    std::optional<troupe::RecvResult<int>> got;
    ManualTask task = receive_into(rx, got);
    { auto gone = std::move(tx); }
    REQUIRE(task.step());
    CHECK(got->error() == RecvError::closed);
  }
}

TEST_CASE("channel_await.a broadcast receiver awaits the next message, with one registration") {
  using Kind = troupe::BroadcastRecvError;
  auto [tx, rx] = troupe::broadcast<int>(4);
  std::optional<troupe::Result<int, troupe::BroadcastRecvError>> got;
  ManualTask task = receive_into(rx, got);
  REQUIRE_FALSE(task.done());
  for (int i = 0; i < 5; ++i) CHECK_FALSE(task.step());  // spurious polls replace, not add
  REQUIRE(tx.send(7));
  CHECK(task.wakes() == 1);
  REQUIRE(task.step());
  CHECK(**got == 7);

  got.reset();
  ManualTask at_end = receive_into(rx, got);
  REQUIRE_FALSE(at_end.done());
  tx.close();
  CHECK(at_end.wakes() == 1);
  REQUIRE(at_end.step());
  CHECK(got->error().kind == Kind::closed);
}

TEST_CASE("channel_await.a blocking_send thread feeds an awaiting task" * doctest::timeout(30)) {
  constexpr std::int64_t kCount = 2000;
  auto [tx, rx] = troupe::channel<std::int64_t>(4);
  std::thread producer([tx = std::move(tx)]() mutable {
    for (std::int64_t i = 1; i <= kCount; ++i) REQUIRE(tx.blocking_send(std::int64_t{i}));
  });  // the thread ends with the last sender: the channel closes, the task's loop ends
  std::int64_t sum = 0;
  ManualTask task = sum_all(rx, sum);
  drive(task);
  producer.join();
  CHECK(sum == kCount * (kCount + 1) / 2);
}

TEST_CASE("channel_await.an awaiting task feeds a blocking_recv thread" * doctest::timeout(30)) {
  constexpr std::int64_t kCount = 2000;
  for (const std::int64_t capacity : {0, 1, 4}) {
    CAPTURE(capacity);
    auto [tx, rx] = troupe::channel<std::int64_t>(capacity);
    std::int64_t sum = 0;
    std::thread consumer([&sum, rx = std::move(rx)]() mutable {
      while (auto message = rx.blocking_recv()) sum += *message;
    });
    std::int64_t sent = 0;
    ManualTask task = send_range(tx, kCount, sent);
    drive(task);
    tx.close();
    consumer.join();
    CHECK(sent == kCount);
    CHECK(sum == kCount * (kCount + 1) / 2);
  }
}

TEST_CASE("channel_await.block_on_op drives the awaited operations on plain threads" *
          doctest::timeout(30)) {
  constexpr int kCount = 1000;
  for (const std::int64_t capacity : {0, 1, 8}) {
    CAPTURE(capacity);
    {
      auto [tx, rx] = troupe::channel<Tracked>(capacity);
      std::thread producer([tx = std::move(tx)]() mutable {
        for (int i = 0; i < kCount; ++i) {
          auto send = tx.send(Tracked(i));
          REQUIRE(troupe::block_on_op(send.op()));
        }
      });
      for (int i = 0; i < kCount; ++i) {
        auto recv = rx.recv();
        auto message = troupe::block_on_op(recv.op());
        REQUIRE(message.has_value());
        REQUIRE(message->value == i);
      }
      auto end = rx.recv();
      CHECK_FALSE(troupe::block_on_op(end.op()).has_value());
      producer.join();
    }
    CHECK(Tracked::live.load() == 0);
  }
}

TEST_CASE("channel_await.awaited and blocking senders share a full channel without losing a wake" *
          doctest::timeout(30)) {
  constexpr std::int64_t kPerProducer = 3000;
  constexpr int kProducers = 4;
  for (const std::int64_t capacity : {0, 1, 2}) {
    CAPTURE(capacity);
    auto [tx, rx] = troupe::channel<std::int64_t>(capacity);
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([p, tx = tx.clone()]() mutable {
        for (std::int64_t i = 1; i <= kPerProducer; ++i) {
          if (p % 2 == 0) {
            auto send = tx.send(std::int64_t{i});  // the awaited form, driven by a Parker
            REQUIRE(troupe::block_on_op(send.op()));
          } else {
            REQUIRE(tx.blocking_send(std::int64_t{i}));
          }
        }
      });
    }
    { auto gone = std::move(tx); }  // the producers hold the only senders left
    std::int64_t sum = 0;
    for (bool awaited = true;; awaited = !awaited) {
      std::optional<std::int64_t> message;
      if (awaited) {
        auto recv = rx.recv();
        message = troupe::block_on_op(recv.op());
      } else {
        message = rx.blocking_recv();
      }
      if (!message) break;
      sum += *message;
    }
    for (auto& producer : producers) producer.join();
    CHECK(sum == kProducers * kPerProducer * (kPerProducer + 1) / 2);
  }
}

TEST_CASE("channel_await.using an invalid handle throws when the operation is created") {
  troupe::Receiver<int> rx;
  troupe::Sender<int> tx;
  CHECK(troupe::testing::error_code_of([&] { (void)rx.recv(); }) == ErrorCode::invalid_handle);
  CHECK(troupe::testing::error_code_of([&] { (void)tx.send(1); }) == ErrorCode::invalid_handle);
}

TEST_CASE("channel_await.a send on a full channel retries a few polls before it registers") {
  auto [tx, rx] = troupe::channel<int>(1);
  REQUIRE(tx.try_send(0));
  constexpr int kRetries = troupe::detail::ChanBase::kSendRetriesMax;  // a new channel's limit
  SendOutcome sent;
  ManualTask task = send_coroutine(tx, 1, sent);
  // Each retry asks to be polled again at once (a wake of its own), registering nothing.
  for (int i = 1; i < kRetries; ++i) {
    CHECK(task.wakes() == i);
    CHECK_FALSE(task.step());
  }
  CHECK(task.wakes() == kRetries);
  CHECK_FALSE(task.step());  // registers now: no wake of its own
  CHECK(task.wakes() == kRetries);
  CHECK(*rx.try_recv() == 0);  // the freed slot wakes the registered sender
  CHECK(task.wakes() == kRetries + 1);
  REQUIRE(task.step());
  CHECK(sent->has_value());
  CHECK(*rx.try_recv() == 1);
}

TEST_CASE("channel_await.a channel halves its send retries while they end in waiting and "
          "doubles them when they pay") {
  using troupe::detail::ChanBase;
  auto [tx, rx] = troupe::channel<int>(1);
  const ChanBase& chan = troupe::detail::ChannelAccess::chan(tx);
  REQUIRE(tx.try_send(0));
  // A consumer too slow for retries: each send retries the channel's limit, then registers,
  // and the next one retries half as many polls, down to the minimum.
  std::uint32_t limit = ChanBase::kSendRetriesMax;
  for (int send = 0; send < 7; ++send) {
    CHECK(chan.send_retry_limit() == limit);
    SendOutcome sent;
    ManualTask task = send_coroutine(tx, send, sent);
    poll_until_registered(task);
    CHECK(task.wakes() == static_cast<int>(limit));  // one wake per retry, none to register
    limit = std::max(limit / 2, ChanBase::kSendRetriesMin);
    CHECK(chan.send_retry_limit() == limit);
    REQUIRE(rx.try_recv().has_value());  // frees the slot: the registered send completes
    REQUIRE(task.step());
    CHECK(sent->has_value());
  }
  CHECK(chan.send_retry_limit() == ChanBase::kSendRetriesMin);
  // A consumer that frees a slot while the send is still retrying: the retries paid, the
  // limit doubles.
  SendOutcome sent;
  ManualTask task = send_coroutine(tx, 99, sent);
  CHECK_FALSE(task.step());  // a second retry, still full
  REQUIRE(rx.try_recv().has_value());
  REQUIRE(task.step());
  CHECK(sent->has_value());
  CHECK(chan.send_retry_limit() == 2 * ChanBase::kSendRetriesMin);
}

TEST_CASE("channel_await.a retrying send completes as soon as a slot frees") {
  auto [tx, rx] = troupe::channel<int>(1);
  REQUIRE(tx.try_send(0));
  SendOutcome sent;
  ManualTask task = send_coroutine(tx, 1, sent);
  CHECK_FALSE(task.step());
  CHECK(*rx.try_recv() == 0);
  REQUIRE(task.step());
  CHECK(sent->has_value());
  CHECK(*rx.try_recv() == 1);
}
