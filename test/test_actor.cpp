// Handler-style actors: tell and ask, coroutine handlers, failures and their events,
// terminate and dead letters, mailbox overflow policies, many actors.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "actor_test_support.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/channels/buffer.hpp"
#include "troupe/channels/port.hpp"

using namespace std::chrono_literals;
using troupe::ActorEvent;
using troupe::ActorOptions;
using troupe::ActorRef;
using troupe::AskErrc;
using troupe::ExitCode;
using troupe::Overflow;
using troupe::Runtime;
using troupe::RuntimeOptions;
using troupe::Task;
using troupe::Told;
using troupe::testing::Hold;
using troupe::testing::two_workers;

namespace {

struct Add {
  int by;
};
struct Get {};
struct SlowGet {
  std::chrono::milliseconds delay;
};
struct Boom {};
struct Unhandled {};

class Counter {
 public:
  explicit Counter(int start) : n_(start) {}
  void handle(Add m) { n_ += m.by; }
  int handle(Get) const { return n_; }
  Task<int> handle(SlowGet m) {
    co_await troupe::sleep_for(m.delay);
    co_return n_;
  }
  int handle(Boom) { throw std::runtime_error("counter exploded"); }
  void handle(Hold m) { m.gate->blocking_wait(); }

 private:
  int n_;
};

class FailsToStart {
 public:
  explicit FailsToStart(int) { throw std::invalid_argument("bad initial data"); }
  void handle(Get) {}
};

// Drains the events channel until an exit arrives; returns every kind seen, in order.
std::vector<ActorEvent::Kind> kinds_until_exit(troupe::Receiver<ActorEvent>& events,
                                               ActorEvent* exit = nullptr,
                                               ActorEvent* error = nullptr) {
  std::vector<ActorEvent::Kind> kinds;
  for (;;) {
    auto event = events.recv_for(10s);
    REQUIRE(event);
    kinds.push_back(event->kind);
    if (event->kind == ActorEvent::Kind::error && error != nullptr) *error = *event;
    if (event->kind == ActorEvent::Kind::exit) {
      if (exit != nullptr) *exit = *event;
      return kinds;
    }
  }
}

template <class Ref, class M>
concept CanTell = requires(Ref ref, M message) { ref.tell(std::move(message)); };

// Messages an envelope cannot hold inline (more than 40 bytes, or over-aligned), so they travel
// on the heap; and one that fits but owns memory (a string past the small-string buffer).
struct Wide {
  std::uint64_t words[8];  // 64 bytes
};
struct alignas(16) Aligned {
  std::uint64_t low;
  std::uint64_t high;
};
struct Named {
  std::string text;
  std::uint64_t tail[2];  // 48 bytes in all
};
struct Total {};
class Summer {
 public:
  void handle(Wide m) {
    for (const std::uint64_t w : m.words) sum_ += w;
  }
  void handle(Aligned m) { sum_ += m.low + m.high; }
  std::uint64_t handle(Named m) {  // an ask: the reply comes back too
    sum_ += m.text.size() + m.tail[0] + m.tail[1];
    return sum_;
  }
  void handle(Hold m) { m.gate->blocking_wait(); }
  std::uint64_t handle(Total) const { return sum_; }

 private:
  std::uint64_t sum_ = 0;
};

}  // namespace

static_assert(CanTell<ActorRef<Counter>, Add>);
static_assert(!CanTell<ActorRef<Counter>, Unhandled>,
              "an ActorRef accepts only the messages its actor handles");

TEST_CASE("messages too big or too aligned for the envelope travel on the heap, and none leaks" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorOptions options;
  options.mailbox_capacity = 4;
  ActorRef<Summer> summer = troupe::spawn_actor<Summer>(rt, std::move(options));
  Wide wide{};
  for (std::uint64_t i = 0; i < 8; ++i) wide.words[i] = i + 1;  // sums to 36
  REQUIRE(summer.tell(wide));
  REQUIRE(summer.tell(Aligned{100, 1000}));
  const std::string text(100, 'x');  // on the heap: ASan sees it if a copy leaks
  auto asked = summer.blocking_ask(Named{text, {1, 2}}, 10s);
  REQUIRE(asked);
  CHECK(*asked == 36 + 1100 + 100 + 3);
  // A full mailbox hands a heap envelope's message back intact.
  troupe::Latch gate(1);
  REQUIRE(summer.tell(Hold{&gate}));
  troupe::testing::spin_until([&] { return summer.stats().received == 4; });  // busy in Hold
  for (int i = 0; i < 4; ++i) REQUIRE(summer.tell(wide));
  auto refused = summer.tell(wide);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message().words[7] == 8);
  // Terminated with four queued: they are destroyed as dead letters.
  std::thread terminator([&] { CHECK(summer.blocking_terminate() == ExitCode::terminated); });
  troupe::testing::spin_until([&] { return summer.terminating(); });
  gate.count_down();
  terminator.join();
  CHECK(summer.stats().dead_letters == 4);
}

TEST_CASE("an actor keeps its state across told messages and answers asks" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorOptions options;
  options.name = "counter";
  ActorRef<Counter> counter = troupe::spawn_actor<Counter>(rt, std::move(options), 5);
  for (int i = 0; i < 10; ++i) REQUIRE(counter.tell(Add{1}));
  auto reply = counter.blocking_ask(Get{}, 10s);
  REQUIRE(reply);
  CHECK(*reply == 15);
  CHECK(counter.stats().received == 11);
}

TEST_CASE("a task asks an actor and awaits a coroutine handler's reply" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorRef<Counter> counter = troupe::spawn_actor<Counter>(rt, {}, 3);
  const int got = rt.block_on([](ActorRef<Counter> c) -> Task<int> {
    (void)co_await c.send(Add{4});
    auto reply = co_await c.ask(SlowGet{1ms}, 10s);
    co_return reply ? *reply : -1;
  }(counter));
  CHECK(got == 7);
}

TEST_CASE("a handler that throws fails the actor; the asker gets the exception" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  auto [events_tx, events_rx] = troupe::unbounded_channel<ActorEvent>();
  ActorOptions options;
  options.name = "fragile";
  options.events = std::move(events_tx);
  ActorRef<Counter> counter = troupe::spawn_actor<Counter>(rt, std::move(options), 0);
  auto reply = counter.blocking_ask(Boom{}, 10s);
  REQUIRE_FALSE(reply);
  CHECK(reply.error().code() == AskErrc::failed);
  CHECK(reply.error().message().find("counter exploded") != std::string::npos);
  CHECK(reply.error().exception() != nullptr);
  CHECK(counter.blocking_wait_exit() == ExitCode::failed);
  ActorEvent exit, error;
  CHECK(kinds_until_exit(events_rx, &exit, &error) ==
        std::vector{ActorEvent::Kind::online, ActorEvent::Kind::error, ActorEvent::Kind::exit});
  CHECK(error.what == "counter exploded");
  CHECK(error.name == "fragile");
  CHECK(exit.code == ExitCode::failed);
}

TEST_CASE("whoever receives an actor's exit event finds it no longer alive" *
          doctest::timeout(60)) {
  Runtime rt(two_workers());
  for (int round = 0; round < 200; ++round) {
    auto [events_tx, events_rx] = troupe::unbounded_channel<ActorEvent>();
    ActorOptions options;
    options.events = std::move(events_tx);
    ActorRef<Counter> counter = troupe::spawn_actor<Counter>(rt, std::move(options), 0);
    (void)counter.tell(Boom{});
    ActorEvent exit;
    (void)kinds_until_exit(events_rx, &exit);
    CHECK_FALSE(counter.is_alive());  // the event came after the state
    CHECK(exit.code == ExitCode::failed);
    CHECK(counter.blocking_wait_exit() == ExitCode::failed);
  }
}

TEST_CASE("an actor whose constructor throws never comes online; error then exit" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  auto [events_tx, events_rx] = troupe::unbounded_channel<ActorEvent>();
  ActorOptions options;
  options.events = std::move(events_tx);
  ActorRef<FailsToStart> broken = troupe::spawn_actor<FailsToStart>(rt, std::move(options), 1);
  CHECK(broken.blocking_wait_exit() == ExitCode::start_failed);
  ActorEvent exit, error;
  CHECK(kinds_until_exit(events_rx, &exit, &error) ==
        std::vector{ActorEvent::Kind::error, ActorEvent::Kind::exit});
  CHECK(error.what == "bad initial data");
  CHECK(exit.code == ExitCode::start_failed);
  // The process, the runtime and other actors live on.
  ActorRef<Counter> fine = troupe::spawn_actor<Counter>(rt, {}, 1);
  CHECK(*fine.blocking_ask(Get{}, 10s) == 1);
}

TEST_CASE("ask to a dead actor fails at once with dead; a slow one times out" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorRef<Counter> counter = troupe::spawn_actor<Counter>(rt, {}, 0);
  auto slow = counter.blocking_ask(SlowGet{2s}, 20ms);
  REQUIRE_FALSE(slow);
  CHECK(slow.error().code() == AskErrc::timeout);
  CHECK(counter.blocking_terminate() == ExitCode::terminated);
  const auto before = std::chrono::steady_clock::now();
  auto dead = counter.blocking_ask(Get{}, 10s);
  REQUIRE_FALSE(dead);
  CHECK(dead.error().code() == AskErrc::dead);
  CHECK(std::chrono::steady_clock::now() - before < 5s);  // not the 10 s timeout
  CHECK(counter.stats().dead_letters == 1);
}

TEST_CASE("terminate turns queued messages into dead letters; their asks resolve as dead" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  troupe::Latch gate(1);
  ActorRef<Counter> counter = troupe::spawn_actor<Counter>(rt, {}, 0);
  REQUIRE(counter.tell(Hold{&gate}));
  troupe::testing::spin_until([&] { return counter.stats().received == 1; });  // busy in Hold
  for (int i = 0; i < 5; ++i) REQUIRE(counter.tell(Add{1}));
  std::thread asker([&] {
    auto reply = counter.blocking_ask(Get{}, 30s);
    REQUIRE_FALSE(reply);
    CHECK(reply.error().code() == AskErrc::dead);
  });
  troupe::testing::spin_until([&] { return counter.stats().mailbox_depth == 6; });
  std::thread terminator([&] { CHECK(counter.blocking_terminate() == ExitCode::terminated); });
  troupe::testing::spin_until([&] { return counter.terminating(); });
  gate.count_down();  // the sync handler returns; the actor stops before the next message
  terminator.join();
  asker.join();
  CHECK(counter.stats().dead_letters == 6);
  auto late = counter.tell(Add{1});
  REQUIRE_FALSE(late);
  CHECK(late.error().is_closed());
  CHECK(late.error().message().by == 1);  // handed back
  CHECK(counter.stats().dead_letters == 7);
}

TEST_CASE("an actor stops normally once every ActorRef is gone" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  auto [events_tx, events_rx] = troupe::unbounded_channel<ActorEvent>();
  ActorOptions options;
  options.events = std::move(events_tx);
  {
    ActorRef<Counter> counter = troupe::spawn_actor<Counter>(rt, std::move(options), 0);
    REQUIRE(counter.tell(Add{1}));
  }
  ActorEvent exit;
  (void)kinds_until_exit(events_rx, &exit);
  CHECK(exit.code == ExitCode::normal);
}

TEST_CASE("a hundred concurrent requests to a group of four actors all complete" *
          doctest::timeout(60)) {
  Runtime rt(two_workers());
  std::vector<ActorRef<Counter>> group;
  for (int i = 0; i < 4; ++i) group.push_back(troupe::spawn_actor<Counter>(rt, {}, i));
  std::vector<troupe::JoinHandle<int>> requests;
  for (int r = 0; r < 100; ++r) {
    requests.push_back(rt.spawn([](ActorRef<Counter> actor, int r) -> Task<int> {
      auto reply = co_await actor.ask(SlowGet{std::chrono::milliseconds(r % 3)}, 30s);
      co_return reply ? *reply : -100;
    }(group[r % 4], r)));
  }
  int sum = 0;
  for (auto& request : requests) sum += request.get();
  CHECK(sum == 25 * (0 + 1 + 2 + 3));
}

TEST_CASE("ten thousand actors created and terminated leave nothing behind" *
          doctest::timeout(120)) {
  const std::uint64_t live_before = troupe::detail::ActorCell::live();
  {
    Runtime rt(two_workers());
    for (int i = 0; i < 10000; ++i) {
      ActorRef<Counter> actor = troupe::spawn_actor<Counter>(rt, {}, i);
      REQUIRE(actor.tell(Add{1}));
      CHECK(actor.blocking_terminate() == ExitCode::terminated);
    }
    CHECK(troupe::detail::ActorCell::live() == live_before);
  }
  CHECK(troupe::detail::ActorCell::live() == live_before);
}

TEST_CASE("overflow policies: delivered, rejected and dropped add up to what was sent" *
          doctest::timeout(60)) {
  for (Overflow policy : {Overflow::backpressure, Overflow::reject, Overflow::drop_newest}) {
    CAPTURE(static_cast<int>(policy));
    Runtime rt(two_workers());
    troupe::Latch gate(1);
    ActorOptions options;
    options.mailbox_capacity = 8;
    options.overflow = policy;
    ActorRef<Counter> slow = troupe::spawn_actor<Counter>(rt, std::move(options), 0);
    REQUIRE(slow.tell(Hold{&gate}));  // a slow consumer: stuck until the gate opens
    troupe::testing::spin_until([&] { return slow.stats().received == 1; });
    constexpr int kSent = 100;
    int queued = 0, dropped = 0, rejected = 0;
    for (int i = 0; i < kSent; ++i) {
      auto told = slow.tell(Add{1});
      if (told && *told == Told::queued) ++queued;
      if (told && *told == Told::dropped) ++dropped;
      if (!told) {
        CHECK(told.error().is_full());
        ++rejected;
      }
    }
    if (policy != Overflow::backpressure) {
      // The awaited send answers at once on a full mailbox under these policies, as tell.
      auto sent = rt.block_on([](ActorRef<Counter> c) -> Task<troupe::TellResult<Add>> {
        co_return co_await c.send(Add{1});
      }(slow));
      if (policy == Overflow::reject) {
        REQUIRE_FALSE(sent);
        CHECK(sent.error().is_full());
        CHECK(sent.error().message().by == 1);  // handed back
        ++rejected;
      } else {
        REQUIRE(sent);
        CHECK(*sent == Told::dropped);
        ++dropped;
      }
    }
    CHECK(queued == 8);
    CHECK(queued + dropped + rejected == kSent + (policy == Overflow::backpressure ? 0 : 1));
    const troupe::ActorStats stats = slow.stats();
    CHECK(stats.dropped == static_cast<std::uint64_t>(dropped));
    CHECK(stats.rejected == static_cast<std::uint64_t>(rejected));
    if (policy == Overflow::drop_newest) CHECK(dropped == kSent + 1 - 8);
    if (policy == Overflow::reject) CHECK(rejected == kSent + 1 - 8);
    if (policy == Overflow::backpressure) CHECK(rejected == kSent - 8);
    gate.count_down();
    troupe::testing::spin_until([&] { return slow.stats().received == 1u + queued; });
    CHECK(*slow.blocking_ask(Get{}, 10s) == queued);  // exactly the queued ones were handled
  }
}

TEST_CASE("under backpressure an awaited send waits for room instead of failing" *
          doctest::timeout(60)) {
  Runtime rt(two_workers());
  ActorOptions options;
  options.mailbox_capacity = 4;
  ActorRef<Counter> counter = troupe::spawn_actor<Counter>(rt, std::move(options), 0);
  constexpr int kSent = 10000;
  const int sent = rt.block_on([](ActorRef<Counter> c) -> Task<int> {
    int ok = 0;
    for (int i = 0; i < kSent; ++i) ok += (co_await c.send(Add{1})) ? 1 : 0;
    co_return ok;
  }(counter));
  CHECK(sent == kSent);
  CHECK(*counter.blocking_ask(Get{}, 10s) == kSent);
  CHECK(counter.stats().rejected == 0);
}

TEST_CASE("an ask's timeout bounds its wait for room in a full mailbox, in both forms" *
          doctest::timeout(60)) {
  Runtime rt(two_workers());
  troupe::Latch gate(1);
  ActorOptions options;
  options.mailbox_capacity = 2;  // backpressure, the default policy
  ActorRef<Counter> stuck = troupe::spawn_actor<Counter>(rt, std::move(options), 0);
  REQUIRE(stuck.tell(Hold{&gate}));  // the handler blocks until the gate opens
  troupe::testing::spin_until([&] { return stuck.stats().received == 1; });
  REQUIRE(stuck.tell(Add{1}));
  REQUIRE(stuck.tell(Add{1}));  // full
  auto blocked = stuck.blocking_ask(Get{}, 30ms);
  REQUIRE_FALSE(blocked);
  CHECK(blocked.error().code() == AskErrc::timeout);
  CHECK(blocked.error().message().find("mailbox stayed full") != std::string::npos);
  CHECK(blocked.error().timed_out_unqueued());
  auto awaited = rt.block_on([](ActorRef<Counter> c) -> Task<troupe::AskResult<int>> {
    co_return co_await c.ask(Get{}, 30ms);
  }(stuck));
  REQUIRE_FALSE(awaited);
  CHECK(awaited.error().code() == AskErrc::timeout);
  CHECK(awaited.error().message().find("mailbox stayed full") != std::string::npos);
  CHECK(awaited.error().timed_out_unqueued());
  // Neither request was queued: the books count them as refused, and the actor sees only
  // what was queued once the gate opens.
  CHECK(stuck.stats().rejected == 2);
  gate.count_down();
  CHECK(*stuck.blocking_ask(Get{}, 10s) == 2);
  CHECK(stuck.stats().received == 4);  // Hold, Add, Add, the last Get
}

TEST_CASE("actors still alive at shutdown exit with shut_down" * doctest::timeout(30)) {
  ActorRef<Counter> counter;
  {
    Runtime rt(two_workers());
    counter = troupe::spawn_actor<Counter>(rt, {}, 0);
    REQUIRE(counter.tell(Add{1}));
  }
  CHECK(counter.blocking_wait_exit() == ExitCode::shut_down);
  CHECK_FALSE(counter.tell(Add{1}));
}

TEST_CASE("bad arguments get clear errors" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorRef<Counter> empty;
  CHECK(troupe::testing::error_code_of([&] { (void)empty.tell(Add{1}); }) ==
        troupe::ErrorCode::invalid_handle);
  ActorRef<Counter> counter = troupe::spawn_actor<Counter>(rt, {}, 0);
  CHECK(troupe::testing::error_code_of([&] { (void)counter.blocking_ask(Get{}, 0s); }) ==
        troupe::ErrorCode::invalid_argument);
  rt.shutdown();
  CHECK(troupe::testing::error_code_of([&] { (void)troupe::spawn_actor<Counter>(rt, {}, 0); }) ==
        troupe::ErrorCode::shut_down);
}

TEST_CASE("an ask timeout must be positive, and the error names it" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorRef<Counter> counter = troupe::spawn_actor<Counter>(rt, {}, 5);
  CHECK(troupe::testing::error_message_of([&] { (void)counter.blocking_ask(Get{}, -2ms); }) ==
        "ActorRef::ask: the timeout must be positive, got -2000000 ns");
  CHECK(troupe::testing::error_code_of([&] { (void)rt.block_on(counter.ask(Get{}, 0ms)); }) ==
        troupe::ErrorCode::invalid_argument);
  const std::chrono::duration<double> nan(std::numeric_limits<double>::quiet_NaN());
  CHECK(troupe::testing::error_code_of([&] { (void)counter.blocking_ask(Get{}, nan); }) ==
        troupe::ErrorCode::invalid_argument);
  CHECK(counter.stats().received == 0);  // refused before anything was queued
  // A timeout too long for the clock waits for the reply: it does not overflow into the past.
  CHECK(counter.blocking_ask(Get{}, std::chrono::hours::max()).value() == 5);
  CHECK(rt.block_on(counter.ask(Get{}, std::chrono::hours::max())).value() == 5);
}

TEST_CASE("a mailbox capacity beyond the channel maximum is refused naming the option" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  for (const std::size_t capacity :
       {static_cast<std::size_t>(troupe::kMaxChannelCapacity) + 1, SIZE_MAX}) {
    ActorOptions options;
    options.mailbox_capacity = capacity;
    CHECK(troupe::testing::error_code_of([&] {
            (void)troupe::spawn_actor<Counter>(rt, options, 0);
          }) == troupe::ErrorCode::invalid_argument);
    CHECK(troupe::testing::error_message_of([&] {
            (void)troupe::spawn_actor<Counter>(rt, options, 0);
          }) == "spawn: ActorOptions::mailbox_capacity " + std::to_string(capacity) +
                    " exceeds the maximum of 1073741824 (0 makes an unbounded mailbox)");
  }
}

namespace {
struct Carry {
  troupe::Buffer buffer;
};
class Carrier {
 public:
  troupe::Buffer handle(Carry c) {
    c.buffer.as<std::uint64_t>()[0] += 1;
    return std::move(c.buffer);
  }
};
Task<std::uint64_t> carry_around(ActorRef<Carrier> carrier, troupe::Buffer buffer, int trips) {
  const std::byte* origin = buffer.data();
  for (int i = 0; i < trips; ++i) {
    // A named message, not `ask(Carry{std::move(buffer)}, ...)`: GCC 12 destroys a braced
    // aggregate temporary inside a co_await expression without seeing that it was moved from
    // (a compiler bug; see actor.hpp), which would free the Buffer here.
    Carry carry{std::move(buffer)};
    auto back = co_await carrier.ask(std::move(carry), 10s);
    if (!back) co_return 0;
    buffer = std::move(*back);
    if (buffer.data() != origin) co_return 0;
  }
  co_return buffer.as<std::uint64_t>()[0];
}
}  // namespace

TEST_CASE("an ask from a task moves a Buffer to the actor and back, never copying it" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorRef<Carrier> carrier = troupe::spawn_actor<Carrier>(rt, {});
  CHECK(rt.block_on(carry_around(carrier, troupe::Buffer(4096), 50)) == 50);
}

namespace {
struct Ping {
  int i;
};
struct Pong {
  int twice;
};
struct Introduce {
  troupe::Port<Ping, Pong> port;
};
struct Rally {
  int rounds;
};
struct Serve {
  troupe::Port<Pong, Ping> port;
};

// Talks to its peer directly through a Port, not through the peer's mailbox.
class Pinger {
 public:
  void handle(Introduce m) { port_.emplace(std::move(m.port)); }
  Task<int> handle(Rally m) {
    int sum = 0;
    for (int i = 0; i < m.rounds; ++i) {
      if (!co_await port_->send(Ping{i})) co_return -1;
      auto pong = co_await port_->recv();
      if (!pong) co_return -1;
      sum += pong->twice;
    }
    co_return sum;
  }

 private:
  std::optional<troupe::Port<Ping, Pong>> port_;
};

class Ponger {
 public:
  // Serves until the other end is gone (its actor stopped), then takes mail again.
  Task<void> handle(Serve m) {
    while (auto ping = co_await m.port.recv()) {
      if (!co_await m.port.send(Pong{2 * ping->i})) break;
      ++served_;
    }
  }
  int handle(Get) const { return served_; }

 private:
  int served_ = 0;
};
}  // namespace

TEST_CASE("two actors introduced through a message_channel talk directly over their ports" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  auto [to_ponger, to_pinger] = troupe::message_channel<Ping, Pong>();
  ActorRef<Pinger> pinger = troupe::spawn_actor<Pinger>(rt, {});
  ActorRef<Ponger> ponger = troupe::spawn_actor<Ponger>(rt, {});
  REQUIRE(ponger.tell(Serve{std::move(to_pinger)}));
  REQUIRE(pinger.tell(Introduce{std::move(to_ponger)}));
  auto sum = pinger.blocking_ask(Rally{100}, 10s);
  REQUIRE(sum);
  CHECK(*sum == 9900);  // 2 * (0 + 1 + ... + 99)
  CHECK(pinger.blocking_terminate() == ExitCode::terminated);  // its Port closes
  auto served = ponger.blocking_ask(Get{}, 10s);  // Serve ended: the mailbox is served again
  REQUIRE(served);
  CHECK(*served == 100);
}

TEST_CASE("drop_oldest keeps the newest messages: the oldest make room, counted as dropped" *
          doctest::timeout(60)) {
  Runtime rt(two_workers());
  troupe::Latch gate(1);
  ActorOptions options;
  options.mailbox_capacity = 8;
  options.overflow = Overflow::drop_oldest;
  ActorRef<Counter> slow = troupe::spawn_actor<Counter>(rt, std::move(options), 0);
  REQUIRE(slow.tell(Hold{&gate}));
  troupe::testing::spin_until([&] { return slow.stats().received == 1; });
  for (int i = 1; i <= 100; ++i) {
    auto told = slow.tell(Add{i});
    REQUIRE(told);
    CHECK(*told == Told::queued);  // never refused: an older one gave way
  }
  auto awaited = rt.block_on([](ActorRef<Counter> c) -> Task<troupe::TellResult<Add>> {
    co_return co_await c.send(Add{1000});  // the awaited form evicts the same way
  }(slow));
  REQUIRE(awaited);
  CHECK(slow.stats().dropped == 101 - 8);
  CHECK(slow.stats().mailbox_depth == 8);
  gate.count_down();
  troupe::testing::spin_until([&] { return slow.stats().received == 1 + 8; });
  auto sum = slow.blocking_ask(Get{}, 10s);
  REQUIRE(sum);
  CHECK(*sum == 94 + 95 + 96 + 97 + 98 + 99 + 100 + 1000);  // the newest eight
}

TEST_CASE("drop_oldest under concurrent senders: delivered + dropped = sent" *
          doctest::timeout(120)) {
  Runtime rt(two_workers());
  ActorOptions options;
  options.mailbox_capacity = 16;
  options.overflow = Overflow::drop_oldest;
  ActorRef<Counter> counter = troupe::spawn_actor<Counter>(rt, std::move(options), 0);
  constexpr int kThreads = 4;
  constexpr int kEach = 5000;
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([counter]() mutable {
      for (int i = 0; i < kEach; ++i) REQUIRE(counter.tell(Add{1}));
    });
  }
  for (auto& sender : senders) sender.join();
  constexpr std::uint64_t kSent = std::uint64_t{kThreads} * kEach;
  troupe::testing::spin_until([&] {
    const troupe::ActorStats stats = counter.stats();
    return stats.received + stats.dropped == kSent;
  });
  auto delivered = counter.blocking_ask(Get{}, 10s);
  REQUIRE(delivered);
  CHECK(static_cast<std::uint64_t>(*delivered) + counter.stats().dropped == kSent);
}
