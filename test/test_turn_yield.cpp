// Giving up a turn instead of waiting (awaitable.hpp, yield_turn): a receive that finds its
// channel empty lets the task it has just woken run first, registering nothing, and registers
// only if it is still empty when polled again; a channel whose given-up turns find nothing
// backs off to parking at once. A send on a full channel retries instead of registering, and
// asks its runtime to queue it again without waking another worker; alone on its worker, it
// soon registers instead. Checked on the operations
// themselves, with a stand-in for the runtime's yielder (the runtime's side:
// test_scheduler.cpp).
#include <utility>

#include "test_support.hpp"
#include "troupe/channels/channel.hpp"

using troupe::testing::CountingWaker;
using troupe::detail::ChannelAccess;
using troupe::detail::RecvOp;
using troupe::detail::SendOp;

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
  void retry_quietly(const troupe::Waker& /*waker*/) noexcept override { ++quiet_retries; }
  bool has_company(const troupe::Waker& /*waker*/) noexcept override { return company; }
  int asked = 0;
  int quiet_retries = 0;
  bool company = true;  // another task is runnable on this "worker"

 private:
  bool grant_;
  troupe::detail::TurnYielder* previous_;
};

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

TEST_CASE("a send retrying on a full channel asks its runtime to queue it again quietly") {
  auto [tx, rx] = troupe::channel<int>(1);
  REQUIRE(tx.try_send(0));
  FakeYielder yielder(false);  // no turn to give up: each retry wakes its own task
  CountingWaker waker;
  SendOp<troupe::Sender<int>, int> op(ChannelAccess::chan(tx), 1);
  CHECK_FALSE(op.ready_now());
  CHECK_FALSE(op.poll(waker));  // full: a retry, not a registration
  CHECK_FALSE(op.poll(waker));
  CHECK(yielder.quiet_retries == 2);
  CHECK(waker.wakes.load() == 2);  // each retry still wakes its task, to be polled again
  CHECK(*rx.try_recv() == 0);
  CHECK(op.poll(waker));  // the next retry finds room: no further wake asked for
  CHECK(yielder.quiet_retries == 2);
  CHECK(waker.wakes.load() == 2);
  CHECK(*rx.try_recv() == 1);
}

TEST_CASE("a send on a full channel alone on its worker registers after the fewest retries") {
  // With no other task runnable where it runs, the consumer is elsewhere: retrying longer
  // would only spin against it, so the send registers after kSendRetriesMin retries (not the
  // channel's learned limit) and is woken by the freed slot.
  auto [tx, rx] = troupe::channel<int>(1);
  REQUIRE(tx.try_send(0));
  FakeYielder yielder(false);
  yielder.company = false;
  CountingWaker waker;
  SendOp<troupe::Sender<int>, int> op(ChannelAccess::chan(tx), 1);
  CHECK_FALSE(op.ready_now());
  constexpr int kMin = static_cast<int>(troupe::detail::ChanBase::kSendRetriesMin);
  for (int i = 0; i < kMin; ++i) CHECK_FALSE(op.poll(waker));
  CHECK(yielder.quiet_retries == kMin);
  CHECK(waker.wakes.load() == kMin);
  CHECK_FALSE(op.poll(waker));  // registers now: no wake of its own
  CHECK(yielder.quiet_retries == kMin);
  CHECK(waker.wakes.load() == kMin);
  CHECK(*rx.try_recv() == 0);  // the freed slot wakes it
  CHECK(waker.wakes.load() == kMin + 1);
  CHECK(op.poll(waker));
  CHECK(*rx.try_recv() == 1);
}

TEST_CASE("a send on a full channel with company keeps retrying up to the channel's limit") {
  auto [tx, rx] = troupe::channel<int>(1);
  REQUIRE(tx.try_send(0));
  FakeYielder yielder(false);  // company by default
  CountingWaker waker;
  SendOp<troupe::Sender<int>, int> op(ChannelAccess::chan(tx), 1);
  CHECK_FALSE(op.ready_now());
  constexpr int kMin = static_cast<int>(troupe::detail::ChanBase::kSendRetriesMin);
  for (int i = 0; i < kMin + 1; ++i) CHECK_FALSE(op.poll(waker));
  CHECK(yielder.quiet_retries == kMin + 1);  // past the fewest: still retrying
  CHECK(*rx.try_recv() == 0);
  CHECK(op.poll(waker));
  CHECK(*rx.try_recv() == 1);
}
