// Dedicated threads: a task (or an actor) on a thread of its own, which may block without
// stalling the workers.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/time.hpp"

using namespace std::chrono_literals;
using troupe::ActorOptions;
using troupe::ExitCode;
using troupe::Receiver;
using troupe::Runtime;
using troupe::RuntimeOptions;
using troupe::Sender;
using troupe::SpawnOptions;
using troupe::Task;

namespace {

// One worker and no room to add another: whatever blocks it blocks every worker task.
RuntimeOptions one_worker() {
  RuntimeOptions options;
  options.min_threads = 1;
  options.max_threads = 1;
  return options;
}

SpawnOptions dedicated() {
  SpawnOptions options;
  options.dedicated_thread = true;
  return options;
}

// Blocks its thread until a worker task opens the gate: only possible off the workers.
Task<std::thread::id> block_until_opened(std::latch& gate) {
  gate.wait();
  co_return std::this_thread::get_id();
}

Task<std::thread::id> open_gate(std::latch& gate) {
  gate.count_down();
  co_return std::this_thread::get_id();
}

// Receives until the channel closes, noting the thread of every poll.
Task<int> sum_on_one_thread(Receiver<int> rx, std::atomic<bool>* moved) {
  const auto home = std::this_thread::get_id();
  int sum = 0;
  while (auto n = co_await rx.recv()) {
    sum += *n;
    if (std::this_thread::get_id() != home) moved->store(true);
  }
  co_return sum;
}

}  // namespace

TEST_CASE("a dedicated-thread task may block while the only worker keeps running tasks" *
          doctest::timeout(30)) {
  Runtime rt(one_worker());
  std::latch gate(1);
  auto blocked = rt.spawn(block_until_opened(gate), dedicated());
  auto opener = rt.spawn(open_gate(gate));  // runs on the worker while the other blocks
  const auto worker_thread = opener.get();
  const auto dedicated_thread = blocked.get();
  CHECK(worker_thread != dedicated_thread);
  CHECK(rt.metrics().dedicated_started == 1);
}

TEST_CASE("a dedicated-thread task is woken by channel sends from tasks and threads and stays "
          "on its thread" *
          doctest::timeout(30)) {
  Runtime rt(one_worker());
  auto [tx, rx] = troupe::channel<int>(4);
  std::atomic<bool> moved{false};
  auto sum = rt.spawn(sum_on_one_thread(std::move(rx), &moved), dedicated());
  auto producer = rt.spawn([](Sender<int> out) -> Task<void> {
    for (int i = 1; i <= 1000; ++i) (void)co_await out.send(i);
  }(tx));
  for (int i = 1; i <= 1000; ++i) REQUIRE(tx.blocking_send(i));
  producer.get();
  tx.close();
  CHECK(sum.get() == 2 * 500500);
  CHECK_FALSE(moved.load());
}

TEST_CASE("dedicated threads exit with their tasks and are counted in the metrics" *
          doctest::timeout(60)) {
  Runtime rt;
  for (int round = 0; round < 3; ++round) {
    std::vector<troupe::JoinHandle<int>> handles;
    for (int i = 0; i < 20; ++i) {
      handles.push_back(rt.spawn([](int n) -> Task<int> { co_return n * 2; }(i), dedicated()));
    }
    int sum = 0;
    for (auto& handle : handles) sum += handle.get();
    CHECK(sum == 2 * 190);
  }
  const auto metrics = rt.metrics();
  CHECK(metrics.dedicated_started == 60);
  CHECK(metrics.to_json().find("\"dedicated_started\":60") != std::string::npos);
  // Each thread marks its exit just after its task completes: all of them soon.
  troupe::testing::spin_until([&] { return rt.metrics().dedicated_threads == 0; });
}

TEST_CASE("an exception and a cancellation leave a dedicated-thread task through its handle" *
          doctest::timeout(30)) {
  Runtime rt;
  auto failing = rt.spawn([]() -> Task<int> {
    throw std::runtime_error("dedicated failure");
    co_return 0;
  }(), dedicated());
  CHECK_THROWS_WITH_AS(failing.get(), "dedicated failure", std::runtime_error);

  auto [tx, rx] = troupe::channel<int>(1);
  auto waiting = rt.spawn(
      [](Receiver<int> in) -> Task<int> { co_return (co_await in.recv()).value_or(-1); }(
          std::move(rx)),
      dedicated());
  waiting.cancel();
  CHECK_THROWS_AS(waiting.get(), troupe::Error);
}

TEST_CASE("shutdown cancels a dedicated-thread task suspended at an await and joins its thread" *
          doctest::timeout(30)) {
  auto [tx, rx] = troupe::channel<int>(1);
  troupe::JoinHandle<int> waiting;
  troupe::ShutdownReport report;
  {
    Runtime rt;
    SpawnOptions options = dedicated();
    options.name = "waits-forever";
    waiting = rt.spawn(
        [](Receiver<int> in) -> Task<int> { co_return (co_await in.recv()).value_or(-1); }(
            std::move(rx)),
        options);
    rt.shutdown();
    report = rt.shutdown_report();
  }
  CHECK(report.cancelled == 1);
  REQUIRE(report.tasks.size() == 1);
  CHECK(report.tasks[0].name == "waits-forever");
  CHECK_THROWS_AS(waiting.get(), troupe::Error);
  CHECK(tx.is_closed());  // the task's receiver was destroyed with its frame
}

// ---- dedicated-thread actors ----------------------------------------------------------------

namespace {

struct Echo {
  int n;
};
struct Ask {
  int n;
};

class Responder {
 public:
  int handle(Echo m) { return m.n + 1; }
};

// Makes blocking calls in its handlers: a blocking ask to another actor, a blocking sleep.
class Blocker {
 public:
  explicit Blocker(troupe::ActorRef<Responder> peer) : peer_(std::move(peer)) {}
  int handle(Ask m) {
    std::this_thread::sleep_for(1ms);
    return peer_.blocking_ask(Echo{m.n}, 10s).value() * 10;
  }
  std::thread::id handle(std::thread::id) { return std::this_thread::get_id(); }

 private:
  troupe::ActorRef<Responder> peer_;
};

}  // namespace

TEST_CASE("a dedicated-thread actor may make blocking calls in its handlers while the only "
          "worker serves other actors" *
          doctest::timeout(30)) {
  Runtime rt(one_worker());
  auto responder = troupe::spawn_actor<Responder>(rt, {});
  ActorOptions options;
  options.name = "blocker";
  options.dedicated_thread = true;
  auto blocker = troupe::spawn_actor<Blocker>(rt, std::move(options), responder);
  for (int i = 0; i < 20; ++i) {
    auto reply = blocker.blocking_ask(Ask{i}, 10s);
    REQUIRE(reply);
    CHECK(*reply == (i + 1) * 10);
  }
  const auto first = blocker.blocking_ask(std::thread::id{}, 10s).value();
  const auto again = blocker.blocking_ask(std::thread::id{}, 10s).value();
  CHECK(first == again);
  CHECK(first != std::this_thread::get_id());
  CHECK(blocker.blocking_terminate() == ExitCode::terminated);
  CHECK(rt.metrics().dedicated_started == 1);
}

TEST_CASE("a dedicated-thread actor ends normally when its last reference is dropped" *
          doctest::timeout(30)) {
  Runtime rt;
  ActorOptions options;
  options.dedicated_thread = true;
  auto responder = troupe::spawn_actor<Responder>(rt, std::move(options));
  CHECK(responder.blocking_ask(Echo{41}, 10s).value() == 42);
  troupe::ActorHandle handle = responder;  // watches the exit without keeping the mailbox open
  responder = {};
  CHECK(handle.blocking_wait_exit() == ExitCode::normal);
}

namespace {

// Takes one message and never finishes it: its mailbox (capacity 1) then fills for good.
class Sink {
 public:
  explicit Sink(Receiver<int> never) : never_(std::move(never)) {}
  Task<void> handle(Echo) { (void)co_await never_.recv(); }

 private:
  Receiver<int> never_;
};

// Floods the sink with blocking sends from its own thread: the third one blocks.
class Flooder {
 public:
  explicit Flooder(troupe::ActorRef<Sink> sink) : sink_(std::move(sink)) {}
  void handle(Ask m) {
    for (int i = 0; i < m.n; ++i) {
      if (!sink_.blocking_send(Echo{i})) return;  // closed: the sink is gone
    }
  }

 private:
  troupe::ActorRef<Sink> sink_;
};

}  // namespace

TEST_CASE("shutdown returns while a dedicated-thread handler is blocked sending to a worker "
          "actor's full mailbox" *
          doctest::timeout(30)) {
  auto [never_tx, never_rx] = troupe::channel<int>(1);
  troupe::ShutdownReport report;
  {
    Runtime rt;
    ActorOptions sink_options;
    sink_options.mailbox_capacity = 1;
    auto sink = troupe::spawn_actor<Sink>(rt, std::move(sink_options), std::move(never_rx));
    ActorOptions flooder_options;
    flooder_options.dedicated_thread = true;
    auto flooder = troupe::spawn_actor<Flooder>(rt, std::move(flooder_options), sink);
    REQUIRE(flooder.tell(Ask{10}));
    // The sink holds one message in its handler and one queued: the flooder blocks next.
    troupe::testing::spin_until([&] { return sink.stats().mailbox_depth == 1; });
    rt.shutdown();  // the sink's task is dropped first: its mailbox closes, the send returns
    report = rt.shutdown_report();
    CHECK(sink.blocking_wait_exit() == ExitCode::shut_down);
    CHECK(flooder.blocking_wait_exit() == ExitCode::shut_down);
  }
  CHECK(report.cancelled == 2);
}

namespace {

// Awaits the runtime's timers from its dedicated thread: a sleep, then an awaited ask (its
// timeout is a timer) to an actor on the workers.
class Napper {
 public:
  explicit Napper(troupe::ActorRef<Responder> peer) : peer_(std::move(peer)) {}
  Task<int> handle(Ask m) {
    co_await troupe::sleep_for(2ms);
    auto reply = co_await peer_.ask(Echo{m.n}, 10s);
    co_return reply.value() * 10;
  }

 private:
  troupe::ActorRef<Responder> peer_;
};

Task<bool> sleep_then_time_out(Receiver<int> never) {
  const auto start = std::chrono::steady_clock::now();
  co_await troupe::sleep_for(5ms);
  const bool slept = std::chrono::steady_clock::now() - start >= 5ms;
  auto received = co_await troupe::timeout(5ms, never.recv());
  co_return slept && !received;
}

}  // namespace

// Found by fuzz_actors: a timer awaited on a dedicated thread threw Error(invalid_argument)
// ("can only be awaited by a task on a runtime worker"), so such an actor could neither sleep
// nor co_await an ask.
TEST_CASE("a dedicated-thread task and actor may await the runtime's timers" *
          doctest::timeout(30)) {
  Runtime rt(one_worker());
  auto [tx, rx] = troupe::channel<int>(1);  // tx stays open: the receive times out
  CHECK(rt.spawn(sleep_then_time_out(std::move(rx)), dedicated()).get());

  auto responder = troupe::spawn_actor<Responder>(rt, {});
  ActorOptions options;
  options.name = "napper";
  options.dedicated_thread = true;
  auto napper = troupe::spawn_actor<Napper>(rt, std::move(options), responder);
  auto reply = napper.blocking_ask(Ask{4}, 10s);
  REQUIRE(reply);
  CHECK(*reply == 50);
}
