// Giving up a turn instead of waiting (awaitable.hpp, yield_turn): a receive that finds its
// channel empty lets the task it has just woken run first, registering nothing, and registers
// only if it is still empty when polled again; a channel whose given-up turns find nothing
// backs off to parking at once. Checked on the operation itself (with a stand-in for the
// runtime's yielder) and on a runtime.
#include <chrono>
#include <cstdint>
#include <utility>

#include "test_support.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/runtime/runtime.hpp"

using namespace std::chrono_literals;
using troupe::ErrorCode;
using troupe::Receiver;
using troupe::Runtime;
using troupe::RuntimeOptions;
using troupe::Sender;
using troupe::Task;
using troupe::testing::CountingWaker;
using troupe::testing::error_code_of;
using troupe::detail::ChannelAccess;
using troupe::detail::RecvOp;

namespace {

// Stands in for a runtime worker: grants every request (or none) and counts them.
class FakeYielder final : public troupe::detail::TurnYielder {
 public:
  explicit FakeYielder(bool grant) : grant_(grant) {
    previous_ = std::exchange(troupe::detail::tls_turn_yielder, this);
  }
  FakeYielder(const FakeYielder&) = delete;
  FakeYielder& operator=(const FakeYielder&) = delete;
  ~FakeYielder() { troupe::detail::tls_turn_yielder = previous_; }

  bool yield_turn(const troupe::Waker& /*waker*/) noexcept override {
    ++asked;
    return grant_;
  }
  int asked = 0;

 private:
  bool grant_;
  troupe::detail::TurnYielder* previous_;
};

RuntimeOptions one_worker() {
  RuntimeOptions options;
  options.min_threads = 1;
  options.max_threads = 1;
  return options;
}

}  // namespace

TEST_CASE("a receive on an empty channel gives up its turn once, then registers its waker") {
  auto [tx, rx] = troupe::channel<int>(4);
  FakeYielder yielder(true);
  CountingWaker waker;
  RecvOp<int> op(ChannelAccess::chan(rx));
  CHECK_FALSE(op.ready_now());
  CHECK_FALSE(op.poll(waker));  // gave up its turn: nothing registered
  CHECK(yielder.asked == 1);
  REQUIRE(tx.try_send(1));
  CHECK(waker.wakes.load() == 0);  // no registration, so no wake
  CHECK(op.poll(waker));           // polled again: the message is there
  CHECK(op.take() == 1);
}

TEST_CASE("polled again and still empty, a receive that gave up its turn registers and is woken") {
  auto [tx, rx] = troupe::channel<int>(4);
  FakeYielder yielder(true);
  CountingWaker waker;
  RecvOp<int> op(ChannelAccess::chan(rx));
  CHECK_FALSE(op.poll(waker));  // gives up its turn
  CHECK_FALSE(op.poll(waker));  // still empty: registers, without asking again
  CHECK(yielder.asked == 1);
  REQUIRE(tx.try_send(2));
  CHECK(waker.wakes.load() == 1);
  CHECK(op.poll(waker));
  CHECK(op.take() == 2);
}

TEST_CASE("without a yielder's grant a receive registers at once") {
  auto [tx, rx] = troupe::channel<int>(4);
  FakeYielder yielder(false);
  CountingWaker waker;
  RecvOp<int> op(ChannelAccess::chan(rx));
  CHECK_FALSE(op.poll(waker));
  CHECK(yielder.asked == 1);
  REQUIRE(tx.try_send(3));
  CHECK(waker.wakes.load() == 1);
  CHECK(op.poll(waker));
  CHECK(op.take() == 3);
}

TEST_CASE("turns given up for nothing make the next waits park at once, backing off") {
  auto [tx, rx] = troupe::channel<int>(4);
  FakeYielder yielder(true);
  CountingWaker waker;
  // One wait: gives up its turn, finds nothing, registers; a message ends it.
  const auto fruitless_wait = [&] {
    RecvOp<int> op(ChannelAccess::chan(rx));
    CHECK_FALSE(op.poll(waker));
    CHECK_FALSE(op.poll(waker));
    REQUIRE(tx.try_send(0));
    CHECK(op.poll(waker));
  };
  // A wait that must register at once (no yield asked).
  const auto parking_wait = [&] {
    const int asked = yielder.asked;
    RecvOp<int> op(ChannelAccess::chan(rx));
    CHECK_FALSE(op.poll(waker));
    CHECK(yielder.asked == asked);
    REQUIRE(tx.try_send(0));
    CHECK(op.poll(waker));
  };
  fruitless_wait();  // miss 1: the next wait parks at once
  parking_wait();
  fruitless_wait();  // miss 2: the next three do
  for (int i = 0; i < 3; ++i) parking_wait();
  fruitless_wait();  // miss 3: seven
  for (int i = 0; i < 7; ++i) parking_wait();
  // A turn that pays off resets the back-off.
  {
    RecvOp<int> op(ChannelAccess::chan(rx));
    CHECK_FALSE(op.poll(waker));
    REQUIRE(tx.try_send(9));
    CHECK(op.poll(waker));
    CHECK(op.take() == 9);
  }
  fruitless_wait();  // after the reset, one miss costs one parking wait again
  parking_wait();
  const int asked = yielder.asked;
  RecvOp<int> op(ChannelAccess::chan(rx));
  CHECK_FALSE(op.poll(waker));
  CHECK(yielder.asked == asked + 1);
}

TEST_CASE("a receive cancelled after giving up its turn leaves nothing registered") {
  auto [tx, rx] = troupe::channel<int>(4);
  FakeYielder yielder(true);
  CountingWaker waker;
  {
    RecvOp<int> op(ChannelAccess::chan(rx));
    CHECK_FALSE(op.poll(waker));
    op.cancel(waker);
  }
  REQUIRE(tx.try_send(4));
  CHECK(waker.wakes.load() == 0);
  auto got = rx.try_recv();
  REQUIRE(got);
  CHECK(*got == 4);
}

namespace {

Task<void> echo(Receiver<std::int64_t> rx, Sender<std::int64_t> tx) {
  while (auto value = co_await rx.recv()) {
    if (!co_await tx.send(*value + 1)) co_return;
  }
}

Task<std::int64_t> bounce(Sender<std::int64_t> tx, Receiver<std::int64_t> rx, int trips) {
  std::int64_t value = 0;
  for (int i = 0; i < trips; ++i) {
    if (!co_await tx.send(value)) co_return -1;
    auto back = co_await rx.recv();
    if (!back) co_return -1;
    value = *back;
  }
  co_return value;
}

}  // namespace

TEST_CASE("two tasks trading messages on one worker give up their turns instead of parking" *
          doctest::timeout(60)) {
  Runtime rt(one_worker());
  constexpr int kTrips = 20'000;
  auto [to_echo, echo_rx] = troupe::channel<std::int64_t>(1);
  auto [to_bouncer, bouncer_rx] = troupe::channel<std::int64_t>(1);
  auto echoer = rt.spawn(echo(std::move(echo_rx), std::move(to_bouncer)));
  auto bouncer = rt.spawn(bounce(std::move(to_echo), std::move(bouncer_rx), kTrips));
  CHECK(bouncer.get() == kTrips);
  echoer.get();
  // Each trip has two waits, each with its partner runnable on the one worker.
  CHECK(rt.metrics().total().turns_yielded >= kTrips);
}

TEST_CASE("a task cancelled while it has given up its turn ends cancelled" *
          doctest::timeout(60)) {
  Runtime rt(one_worker());
  auto [go_tx, go_rx] = troupe::channel<int>(1);
  auto [never_tx, never_rx] = troupe::channel<int>(1);
  // On the one worker: the driver spawns the waiter and waits for its signal; the waiter sends
  // it, then waits on a channel that stays empty and gives up its turn to the driver (which
  // gave up its own first), and the driver cancels it before it is polled again.
  auto driver = rt.spawn([](Receiver<int> go, Sender<int> signal,
                            Receiver<int> never) -> Task<ErrorCode> {
    auto waiter = Runtime::current()->spawn([](Sender<int> signal,
                                               Receiver<int> never) -> Task<void> {
      (void)co_await signal.send(1);
      (void)co_await never.recv();
    }(std::move(signal), std::move(never)));
    (void)co_await go.recv();
    waiter.cancel();
    try {
      co_await waiter;
    } catch (const troupe::Error& error) {
      co_return error.code();
    }
    co_return ErrorCode::invalid_argument;  // not cancelled: the check below fails
  }(std::move(go_rx), std::move(go_tx), std::move(never_rx)));
  CHECK(driver.get() == ErrorCode::cancelled);
  CHECK(rt.metrics().total().turns_yielded >= 1);
  (void)never_tx;
}
