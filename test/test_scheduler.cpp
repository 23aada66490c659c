// Scheduling behaviour: tasks talking through channels, fairness, giving up a turn to a partner
// instead of parking, the cooperative budget, the monitor adding a worker when the others are
// stuck, idle workers retiring, shutdown of tasks blocked on channels.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/sync/latch.hpp"

using namespace std::chrono_literals;
using troupe::ErrorCode;
using troupe::JoinHandle;
using troupe::Receiver;
using troupe::Runtime;
using troupe::RuntimeOptions;
using troupe::Sender;
using troupe::Task;
using troupe::testing::error_code_of;

namespace {

RuntimeOptions with_threads(std::size_t min, std::size_t max) {
  RuntimeOptions options;
  options.min_threads = min;
  options.max_threads = max;
  return options;
}

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

// Waits (polling, bounded) until `condition` holds; for effects that are time-based by design.
template <class F>
bool eventually(F condition, std::chrono::seconds limit = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace

TEST_CASE("two tasks ping-pong through channels" * doctest::timeout(60)) {
  Runtime rt(with_threads(2, 4));
  auto [to_echo, echo_rx] = troupe::channel<std::int64_t>(1);
  auto [to_main, main_rx] = troupe::channel<std::int64_t>(1);
  auto echoer = rt.spawn(echo(std::move(echo_rx), std::move(to_main)));
  CHECK(rt.block_on(bounce(std::move(to_echo), std::move(main_rx), 100'000)) == 100'000);
  echoer.get();  // the bouncer dropped its sender: the echo loop ended
}

TEST_CASE("a plain thread and a task share one channel in both directions" *
          doctest::timeout(60)) {
  Runtime rt(with_threads(2, 4));
  auto [to_task, task_rx] = troupe::channel<std::int64_t>(4);
  auto [to_thread, thread_rx] = troupe::channel<std::int64_t>(4);
  auto task = rt.spawn(echo(std::move(task_rx), std::move(to_thread)));
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < 10'000; ++i) {
    REQUIRE(to_task.blocking_send(i));
    auto back = thread_rx.blocking_recv();
    REQUIRE(back);
    sum += *back;
  }
  to_task.close();
  task.get();
  CHECK(sum == 10'000LL * 9'999 / 2 + 10'000);
}

TEST_CASE("two tasks bouncing messages forever do not starve a third task" *
          doctest::timeout(60)) {
  Runtime rt(with_threads(1, 1));  // one worker: only the scheduler's fairness lets the third in
  auto [a_tx, a_rx] = troupe::channel<std::int64_t>(1);
  auto [b_tx, b_rx] = troupe::channel<std::int64_t>(1);
  auto echoer = rt.spawn(echo(std::move(a_rx), std::move(b_tx)));
  auto bouncer = rt.spawn(bounce(a_tx.clone(), std::move(b_rx), INT32_MAX));
  // The pair is running; the third task must still get its turn.
  auto third = rt.spawn([]() -> Task<int> { co_return 3; }());
  CHECK(third.get() == 3);
  bouncer.cancel();
  CHECK(error_code_of([&] { (void)bouncer.get(); }) == ErrorCode::cancelled);
  a_tx.close();
  echoer.get();
}

Task<void> note_run(std::vector<int>& order, int tag) {
  order.push_back(tag);  // one worker: the tasks never run at once
  co_return;
}

Task<void> spawn_two(Runtime& rt, std::vector<int>& order) {
  auto first = rt.spawn(note_run(order, 1));
  auto second = rt.spawn(note_run(order, 2));  // takes the next slot, queueing the first
  co_await second;
  co_await first;
}

TEST_CASE("a task spawned by a running task runs next on its worker, before those spawned "
          "earlier" * doctest::timeout(60)) {
  Runtime rt(with_threads(1, 1));
  std::vector<int> order;
  rt.block_on(spawn_two(rt, order));
  CHECK(order == std::vector<int>{2, 1});
}

// Notes `id`, then spawns `fanout` children (ids id*10+1...) down to `depth` and joins them.
Task<void> note_tree(Runtime& rt, std::vector<int>& order, int id, int depth, int fanout) {
  order.push_back(id);
  if (depth == 0) co_return;
  std::vector<JoinHandle<void>> children;
  for (int i = 1; i <= fanout; ++i) {
    children.push_back(rt.spawn(note_tree(rt, order, id * 10 + i, depth - 1, fanout)));
  }
  for (auto& child : children) co_await child;
}

// Whether `order` lists every subtree of note_tree as one run that starts at its root (depth
// first): the ids after a node, for as many as it has descendants, all descend from it.
bool depth_first(const std::vector<int>& order, int depth, int fanout) {
  std::vector<int> subtree(static_cast<std::size_t>(depth) + 1, 1);  // by height: size
  for (int h = 1; h <= depth; ++h) subtree[h] = 1 + fanout * subtree[h - 1];
  for (std::size_t i = 0; i < order.size(); ++i) {
    int height = depth;  // the root, 1, has the full height; each digit more is one less
    for (int id = order[i]; id >= 10; id /= 10) --height;
    for (int k = 1; k < subtree[height]; ++k) {
      if (i + k >= order.size()) return false;
      int id = order[i + k];
      while (id > order[i]) id /= 10;
      if (id != order[i]) return false;
    }
  }
  return true;
}

TEST_CASE("a tree of tasks spawned by tasks runs depth first: each subtree ends before a "
          "sibling starts" * doctest::timeout(60)) {
  Runtime rt(with_threads(1, 1));
  constexpr int kDepth = 3;
  constexpr int kFanout = 3;
  std::vector<int> order;
  rt.block_on(note_tree(rt, order, 1, kDepth, kFanout));
  CHECK(order.size() == 40);
  // Breadth first would start 131, 132 and 133 after 11 and 12 (spawned earlier).
  CHECK(depth_first(order, kDepth, kFanout));
  CHECK(order[1] == 13);  // the newest first
}

// A chain: each task notes itself and spawns the next (detached) until `left` runs out.
Task<void> spawn_chain(Runtime& rt, std::atomic<int>& ran, int left) {
  ran.fetch_add(1, std::memory_order_relaxed);
  if (left > 0) rt.spawn(spawn_chain(rt, ran, left - 1)).detach();
  co_return;
}

// Gives up its turn until the chain is done; notes how far the chain was at its first turn.
Task<int> turn_taker(std::atomic<int>& ran, int chain, std::latch& started) {
  started.count_down();
  int first_turn = -1;
  while (ran.load(std::memory_order_relaxed) < chain) {
    co_await troupe::this_task::yield_now();
    if (first_turn < 0 && ran.load(std::memory_order_relaxed) > 0) {
      first_turn = ran.load(std::memory_order_relaxed);
    }
  }
  co_return first_turn;
}

TEST_CASE("a task waiting in the queue still gets turns while newly spawned tasks keep coming" *
          doctest::timeout(60)) {
  Runtime rt(with_threads(1, 1));
  constexpr int kChain = 20'000;
  std::atomic<int> ran{0};
  std::latch started(1);
  auto taker = rt.spawn(turn_taker(ran, kChain, started));
  started.wait();
  rt.block_on([](Runtime& rt, std::atomic<int>& ran) -> Task<void> {
    rt.spawn(spawn_chain(rt, ran, kChain - 1)).detach();
    co_return;
  }(rt, ran));
  const int first_turn = taker.get();
  // Newest first without a cap would leave it queued until the whole chain had run.
  CHECK(first_turn > 0);
  CHECK(first_turn < kChain);
}

TEST_CASE("two tasks trading messages on one worker give up their turns instead of parking" *
          doctest::timeout(60)) {
  Runtime rt(with_threads(1, 1));
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
  Runtime rt(with_threads(1, 1));
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

TEST_CASE("a task whose operations are always ready still yields to others (budget)" *
          doctest::timeout(60)) {
  Runtime rt(with_threads(1, 1));
  auto [tx, rx] = troupe::unbounded_channel<int>();
  std::atomic<bool> stop{false};
  // Sends to itself and receives back: every operation completes at once, so only the
  // cooperative budget makes it suspend.
  auto spinner = rt.spawn([](Sender<int> tx, Receiver<int> rx,
                             std::atomic<bool>& stop) -> Task<std::int64_t> {
    std::int64_t rounds = 0;
    (void)co_await tx.send(1);
    while (!stop.load()) {
      auto m = co_await rx.recv();
      (void)co_await tx.send(*m);
      ++rounds;
    }
    co_return rounds;
  }(tx.clone(), std::move(rx), stop));
  auto other = rt.spawn([]() -> Task<int> { co_return 7; }());
  CHECK(other.get() == 7);
  stop.store(true);
  CHECK(spinner.get() > 0);
}

// Where the calling thread is: the address of a thread_local, distinct per thread.
std::uintptr_t thread_mark() {
  thread_local char mark = 0;
  return reinterpret_cast<std::uintptr_t>(&mark);
}

// Keeps its worker busy with operations that are always ready (so only the cooperative budget
// suspends it), noting the thread of every round in `mine`, until the two tasks have been seen
// on different threads (or `deadline`, so that a failure ends).
Task<void> busy_until_apart(std::atomic<std::uintptr_t>& mine,
                            const std::atomic<std::uintptr_t>& theirs, std::atomic<bool>& apart,
                            std::chrono::steady_clock::time_point deadline) {
  auto [tx, rx] = troupe::unbounded_channel<int>();
  (void)co_await tx.send(1);
  while (!apart.load() && std::chrono::steady_clock::now() < deadline) {
    auto m = co_await rx.recv();
    (void)co_await tx.send(*m);
    const std::uintptr_t here = thread_mark();
    mine.store(here);
    const std::uintptr_t there = theirs.load();
    if (there != 0 && there != here) apart.store(true);
  }
}

TEST_CASE("two busy tasks, one woken by the other into its worker's next slot, end up on both "
          "workers" * doctest::timeout(60)) {
  // A task whose budget runs out wakes no parked worker for itself (the work it keeps its
  // worker busy with was announced when it became runnable; BENCHMARKS.md: fanin). A task it
  // wakes goes to its worker's next slot, which wakes no one either. The monitor still sees a
  // worker with tasks waiting while another sleeps, and wakes the sleeper.
  RuntimeOptions options = with_threads(2, 2);
  options.stall_threshold = 20ms;  // the monitor's tick: a quarter of it
  options.idle_timeout = 3600s;    // a sleeping worker wakes only when called
  Runtime rt(options);
  std::atomic<std::uintptr_t> parent_at{0};
  std::atomic<std::uintptr_t> child_at{0};
  std::atomic<bool> apart{false};
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  auto [go_tx, go_rx] = troupe::channel<int>(1);
  auto child = rt.spawn([](Receiver<int> go, std::atomic<std::uintptr_t>& child_at,
                           std::atomic<std::uintptr_t>& parent_at, std::atomic<bool>& apart,
                           std::chrono::steady_clock::time_point deadline) -> Task<void> {
    (void)co_await go.recv();
    co_await busy_until_apart(child_at, parent_at, apart, deadline);
  }(std::move(go_rx), child_at, parent_at, apart, deadline));
  auto parent = rt.spawn([](Runtime& rt, Sender<int> go, std::atomic<std::uintptr_t>& parent_at,
                            std::atomic<std::uintptr_t>& child_at, std::atomic<bool>& apart,
                            std::chrono::steady_clock::time_point deadline) -> Task<void> {
    // Busy (budget yields only) until the other worker has gone to sleep, then wakes the
    // child (into this worker's next slot) and goes on being busy.
    auto [tx, rx] = troupe::unbounded_channel<int>();
    (void)co_await tx.send(1);
    const auto someone_asleep = [&rt] {
      for (const auto& worker : rt.metrics().workers) {
        if (worker.parks > worker.wakes) return true;
      }
      return false;
    };
    while (!someone_asleep() && std::chrono::steady_clock::now() < deadline) {
      for (int i = 0; i < 1000; ++i) (void)co_await tx.send(*co_await rx.recv());
    }
    (void)co_await go.send(1);
    co_await busy_until_apart(parent_at, child_at, apart, deadline);
  }(rt, std::move(go_tx), parent_at, child_at, apart, deadline));
  parent.get();
  child.get();
  CHECK(apart.load());
}

TEST_CASE("when both workers are stuck in blocking calls the monitor adds one, which retires "
          "afterwards" *
          doctest::timeout(90)) {
  RuntimeOptions options = with_threads(2, 4);
  options.stall_threshold = 50ms;
  options.idle_timeout = 200ms;
  Runtime rt(options);
  std::latch both_stuck(2);
  std::latch release(1);
  std::vector<JoinHandle<void>> blockers;
  for (int i = 0; i < 2; ++i) {
    blockers.push_back(rt.spawn([](std::latch& stuck, std::latch& go) -> Task<void> {
      stuck.count_down();
      go.wait();  // a blocking call inside a task: holds its worker
      co_return;
    }(both_stuck, release)));
  }
  both_stuck.wait();
  // Both workers are blocked; this task can only run on a worker the monitor adds.
  auto progress = rt.spawn([]() -> Task<int> { co_return 1; }());
  CHECK(progress.get() == 1);
  CHECK(rt.metrics().threads_added >= 1);
  release.count_down();
  for (auto& blocker : blockers) blocker.get();
  // Idle past idle_timeout, the extra worker retires down to min_threads.
  CHECK(eventually([&] {
    const auto m = rt.metrics();
    return m.threads_retired >= 1 && m.active_workers == 2;
  }));
}

TEST_CASE("a send retrying on a full channel behind a worker stuck in a blocking call still "
          "completes" *
          doctest::timeout(90)) {
  // A sender that finds its channel full retries from its worker's retry list, which other
  // workers do not take from — unless that worker is stuck in one poll (stalled). Here the
  // sender spawns a blocker and retries; the blocker then holds the only worker until the
  // consumer has everything, so the sends can only finish on a worker the monitor adds, which
  // takes the stranded retry.
  RuntimeOptions options = with_threads(1, 2);
  options.stall_threshold = 20ms;
  Runtime rt(options);
  constexpr int kItems = 200;
  auto [tx, rx] = troupe::channel<int>(1);
  troupe::Latch all_received(1);
  std::atomic<bool> released_in_time{false};
  auto consumer = rt.spawn([](Receiver<int> in, troupe::Latch& done) -> Task<int> {
    int got = 0;
    while (auto item = co_await in.recv()) {
      if (++got == kItems) done.count_down();
    }
    co_return got;
  }(std::move(rx), all_received));
  auto producer = rt.spawn([](Sender<int> out, troupe::Latch& done,
                              std::atomic<bool>& in_time) -> Task<void> {
    if (!co_await out.send(0)) co_return;  // fills the channel
    // Spawned here, the blocker runs next on this worker; this task's next send finds the
    // channel full and goes to the retry list behind it.
    JoinHandle<void> blocker =
        troupe::spawn([](troupe::Latch& all, std::atomic<bool>& ok) -> Task<void> {
          ok.store(all.blocking_wait_for(30s));  // blocks its worker until the end
          co_return;
        }(done, in_time));
    for (int i = 1; i < kItems; ++i) {
      if (!co_await out.send(i)) co_return;
    }
    out = Sender<int>();  // closes: the consumer's loop ends
    co_await std::move(blocker);
  }(std::move(tx), all_received, released_in_time));
  producer.get();
  CHECK(consumer.get() == kItems);
  CHECK(released_in_time.load());  // the sends finished while the blocker still held its worker
  CHECK(rt.metrics().threads_added >= 1);
}

TEST_CASE("tasks retrying sends on a full channel stay on their worker: fan-in books balance" *
          doctest::timeout(120)) {
  // Four producers, one consumer, two workers: every message arrives exactly once whichever
  // worker each retry runs on.
  Runtime rt(with_threads(2, 2));
  constexpr int kProducers = 4;
  constexpr std::int64_t kEach = 50000;
  auto [tx, rx] = troupe::channel<std::int64_t>(64);
  auto consumer = rt.spawn([](Receiver<std::int64_t> in) -> Task<std::int64_t> {
    std::int64_t sum = 0;
    while (auto value = co_await in.recv()) sum += *value;
    co_return sum;
  }(std::move(rx)));
  std::vector<JoinHandle<void>> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.push_back(rt.spawn([](Sender<std::int64_t> out) -> Task<void> {
      for (std::int64_t v = 1; v <= kEach; ++v) {
        if (!co_await out.send(v)) co_return;
      }
    }(tx)));
  }
  tx = Sender<std::int64_t>();
  for (auto& producer : producers) producer.get();
  CHECK(consumer.get() == kProducers * (kEach * (kEach + 1) / 2));
}

TEST_CASE("shutdown cancels tasks blocked on full channels and on empty ones" *
          doctest::timeout(60)) {
  auto [full_tx, full_rx] = troupe::channel<troupe::testing::Tracked>(1);
  auto [empty_tx, empty_rx] = troupe::channel<int>(1);
  REQUIRE(full_tx.try_send(troupe::testing::Tracked(0)));
  std::vector<JoinHandle<void>> handles;
  {
    Runtime rt(with_threads(2, 2));
    for (int i = 0; i < 8; ++i) {
      handles.push_back(rt.spawn([](Sender<troupe::testing::Tracked> tx, int v) -> Task<void> {
        (void)co_await tx.send(troupe::testing::Tracked(v));  // the channel stays full
      }(full_tx.clone(), i + 1)));
    }
    handles.push_back(rt.spawn([](Receiver<int> rx) -> Task<void> {
      (void)co_await rx.recv();  // nothing ever comes
    }(std::move(empty_rx))));
    // Let them reach their awaits: a task cancelled before its first poll is also fine, but
    // this exercises the registered-waker path.
    std::this_thread::sleep_for(20ms);
    rt.shutdown();
    CHECK(rt.shutdown_report().cancelled == 9);
  }
  for (auto& handle : handles) {
    CHECK(error_code_of([&] { handle.get(); }) == ErrorCode::cancelled);
  }
  // The cancelled sends handed nothing to the channel and leaked nothing.
  CHECK(full_rx.try_recv());
  CHECK_FALSE(full_rx.try_recv());
  CHECK(troupe::testing::Tracked::live.load() == 0);
  (void)empty_tx;
}

TEST_CASE("a million tasks are spawned and joined" * doctest::timeout(120)) {
  Runtime rt(with_threads(2, 4));
  auto parent = []() -> Task<std::int64_t> {
    constexpr int kTasks = 1'000'000;
    std::vector<JoinHandle<int>> handles;
    handles.reserve(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      handles.push_back(troupe::spawn([](int v) -> Task<int> { co_return v & 1; }(i)));
    }
    std::int64_t odd = 0;
    for (auto& handle : handles) odd += co_await handle;
    co_return odd;
  };
  CHECK(rt.block_on(parent()) == 500'000);
  const auto m = rt.metrics();
  CHECK(m.tasks_completed == m.tasks_spawned);
  CHECK(m.live_tasks == 0);
}
