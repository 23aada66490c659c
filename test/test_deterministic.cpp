// Deterministic mode (RuntimeOptions::deterministic_seed): one thread, a seeded interleaving,
// virtual time. The first tests check the mode itself (a seed replays its interleaving, seeds
// differ, timers jump, a deadlock is named); the explorations run a scenario under many seeds
// and check its books under each:
//   supervisor  two children of a supervisor fail on some messages and are rebuilt while two
//               producers keep sending; the supervisor is stopped with mail still queued.
//   pipeline    a producer feeds a two-stage pipeline while another task cancels it after a
//               seeded number of yields.
//   pool        two tasks submit to a pool whose workers are tasks of the runtime
//               (PoolOptions::runtime), some tasks throwing, and the test closes the pool
//               (gracefully or with force) after a seeded number of polls.
// How many seeds: kSeeds by default; TROUPE_SEEDS=N explores N, and TROUPE_SEED=S runs the
// one seed S (a failure names its seed, so `TROUPE_SEED=S build/release/test/test_deterministic`
// replays it, step for step).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "troupe/actors/pipeline.hpp"
#include "troupe/actors/pool.hpp"
#include "troupe/actors/supervisor.hpp"
#include "troupe/runtime/time.hpp"

using namespace std::chrono_literals;
using troupe::Runtime;
using troupe::RuntimeOptions;
using troupe::Task;

namespace {

constexpr std::uint64_t kSeeds = 1000;

RuntimeOptions seeded(std::uint64_t seed) {
  RuntimeOptions options;
  options.deterministic_seed = seed;
  return options;
}

// The seeds to explore: TROUPE_SEED (one), else TROUPE_SEEDS (how many, from 1), else kSeeds.
std::vector<std::uint64_t> seeds_to_explore() {
  if (const char* one = std::getenv("TROUPE_SEED")) return {std::strtoull(one, nullptr, 10)};
  std::uint64_t n = kSeeds;
  if (const char* many = std::getenv("TROUPE_SEEDS")) n = std::strtoull(many, nullptr, 10);
  std::vector<std::uint64_t> seeds;
  for (std::uint64_t s = 1; s <= n; ++s) seeds.push_back(s);
  return seeds;
}

// What the runs of one exploration moved, summed over its seeds (for the report).
using Tally = std::map<std::string, std::uint64_t>;

// Runs `scenario(seed, tally)` (which returns what broke, empty if nothing) for every seed;
// reports the first few failing seeds with how to replay them, how many seeds failed, and
// the tally.
template <class Scenario>
void explore(const std::string& name, Scenario scenario) {
  std::size_t failures = 0;
  Tally tally;
  const auto seeds = seeds_to_explore();
  for (const std::uint64_t seed : seeds) {
    std::string broken;
    try {
      broken = scenario(seed, tally);
    } catch (const std::exception& error) {
      broken = std::string("threw: ") + error.what();
    }
    if (broken.empty()) continue;
    if (++failures <= 5) {
      FAIL_CHECK(name << " seed " << seed << ": " << broken << " (replay: TROUPE_SEED=" << seed
                      << ")");
    }
  }
  CHECK_MESSAGE(failures == 0, name << ": " << failures << " of " << seeds.size()
                                    << " seeds failed");
  std::ostringstream figures;
  for (const auto& [what, n] : tally) figures << ", " << what << " " << n;
  MESSAGE(name << ": " << seeds.size() << " seeds explored, " << failures << " failed"
               << figures.str());
}

// Collects "what: left != right" lines.
struct Broken {
  std::ostringstream out;
  void equal(const char* what, std::uint64_t left, std::uint64_t right) {
    if (left != right) out << what << ": " << left << " != " << right << "; ";
  }
  void at_most(const char* what, std::uint64_t left, std::uint64_t right) {
    if (left > right) out << what << ": " << left << " > " << right << "; ";
  }
  std::string str() const { return out.str(); }
};

// The order in which three tasks, each yielding at every step, interleave.
std::vector<int> interleaving(std::uint64_t seed) {
  Runtime rt(seeded(seed));
  std::vector<int> trace;
  auto step = [](std::vector<int>& out, int who) -> Task<void> {
    for (int i = 0; i < 5; ++i) {
      out.push_back(who);
      co_await troupe::this_task::yield_now();
    }
  };
  auto a = rt.spawn(step(trace, 1));
  auto b = rt.spawn(step(trace, 2));
  auto c = rt.spawn(step(trace, 3));
  rt.run_until_idle();
  a.get();
  b.get();
  c.get();
  return trace;
}

}  // namespace

TEST_CASE("a seed replays the same interleaving, and different seeds explore different ones" *
          doctest::timeout(60)) {
  std::set<std::vector<int>> seen;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const auto trace = interleaving(seed);
    CHECK(trace.size() == 15);
    CHECK(interleaving(seed) == trace);
    seen.insert(trace);
  }
  CHECK(seen.size() > 10);  // 20 seeds over 15!/(5!^3) = 756,756 orders: nearly all distinct
}

TEST_CASE("virtual time: an hour of sleeping passes at once, and timers fire in deadline order" *
          doctest::timeout(60)) {
  Runtime rt(seeded(7));
  std::vector<int> woke;
  auto sleeper = [](std::vector<int>& out, int minutes) -> Task<void> {
    co_await troupe::sleep_for(std::chrono::minutes(minutes));
    out.push_back(minutes);
  };
  const auto start = rt.block_on([]() -> Task<troupe::Clock::time_point> {
    co_return troupe::now();
  }());
  auto h30 = rt.spawn(sleeper(woke, 30));
  auto h10 = rt.spawn(sleeper(woke, 10));
  auto h60 = rt.spawn(sleeper(woke, 60));
  auto h20 = rt.spawn(sleeper(woke, 20));
  const auto end = rt.block_on([](auto& last) -> Task<troupe::Clock::time_point> {
    co_await last;
    co_return troupe::now();
  }(h60));
  rt.run_until_idle();
  CHECK(woke == std::vector<int>{10, 20, 30, 60});
  CHECK(end - start >= 60min);
  CHECK(end - start < 61min);
  h10.get();
  h20.get();
  h30.get();
}

TEST_CASE("a timeout in virtual time expires without waiting, and the inner result wins when "
          "ready" *
          doctest::timeout(60)) {
  Runtime rt(seeded(3));
  auto [tx, rx] = troupe::channel<int>(4);
  const bool expired = rt.block_on([](troupe::Receiver<int>& rx) -> Task<bool> {
    auto got = co_await troupe::timeout(24h, rx.recv());
    co_return !got.has_value();
  }(rx));
  CHECK(expired);
  REQUIRE(tx.try_send(5));
  const int value = rt.block_on([](troupe::Receiver<int>& rx) -> Task<int> {
    auto got = co_await troupe::timeout(1ms, rx.recv());
    co_return got && *got ? **got : -1;
  }(rx));
  CHECK(value == 5);
}

TEST_CASE("block_on names a deadlock instead of hanging when every task waits" *
          doctest::timeout(60)) {
  Runtime rt(seeded(1));
  auto [tx, rx] = troupe::channel<int>(1);
  try {
    (void)rt.block_on([](troupe::Receiver<int>& rx) -> Task<int> {
      auto got = co_await rx.recv();  // nobody sends, the sender is kept open
      co_return got ? *got : -1;
    }(rx));
    FAIL("block_on returned");
  } catch (const troupe::Error& error) {
    CHECK(error.code() == troupe::ErrorCode::timeout);
    CHECK(std::string(error.what()).find("deadlock") != std::string::npos);
  }
  // The task is still there: a send lets it finish on the next drive.
  REQUIRE(tx.try_send(9));
  CHECK(rt.run_until_idle() >= 1);
  rt.shutdown();
  CHECK(rt.shutdown_report().cancelled == 0);
}

TEST_CASE("JoinHandle::get drives a deterministic runtime until its task ends, in virtual time" *
          doctest::timeout(60)) {
  Runtime rt(seeded(3));
  auto handle = rt.spawn([]() -> Task<int> {
    co_await troupe::sleep_for(std::chrono::hours(1));  // virtual: passes at once
    co_return 42;
  }());
  CHECK(handle.get() == 42);
  auto waited = rt.spawn([]() -> Task<int> {
    co_await troupe::sleep_for(std::chrono::hours(2));
    co_return 7;
  }());
  CHECK(waited.wait_for(std::chrono::milliseconds(1)));  // driven: virtual time passes too
  CHECK(waited.get() == 7);
}

TEST_CASE("JoinHandle::get names a deadlock instead of hanging, and keeps the task" *
          doctest::timeout(60)) {
  Runtime rt(seeded(1));
  auto [tx, rx] = troupe::channel<int>(1);
  auto handle = rt.spawn([](troupe::Receiver<int>& rx) -> Task<int> {
    auto got = co_await rx.recv();  // nobody sends, the sender is kept open
    co_return got ? *got : -1;
  }(rx));
  CHECK_FALSE(handle.wait_for(std::chrono::hours(1)));  // idle at once: no real hour waited
  try {
    (void)handle.get();
    FAIL("get returned");
  } catch (const troupe::Error& error) {
    CHECK(error.code() == troupe::ErrorCode::timeout);
    CHECK(std::string(error.what()).find("JoinHandle::get") != std::string::npos);
    CHECK(std::string(error.what()).find("deadlock") != std::string::npos);
  }
  REQUIRE(handle.valid());  // the result was not taken: a send lets the task finish
  REQUIRE(tx.try_send(9));
  CHECK(handle.get() == 9);
}

TEST_CASE("driving is refused on a threaded runtime and from inside a task" *
          doctest::timeout(60)) {
  Runtime threaded;
  CHECK_FALSE(threaded.is_deterministic());
  CHECK_THROWS_AS(threaded.run_until_idle(), troupe::Error);
  Runtime rt(seeded(1));
  CHECK(rt.is_deterministic());
  const std::string inner = rt.block_on([](Runtime& rt) -> Task<std::string> {
    try {
      rt.run_until_idle();
    } catch (const troupe::Error& error) {
      co_return error.what();
    }
    co_return "";
  }(rt));
  CHECK(inner.find("from a runtime's task") != std::string::npos);
}

TEST_CASE("shutdown from another thread waits for the poll the driving thread is in" *
          doctest::timeout(60)) {
  std::atomic<bool> polling{false};
  std::atomic<bool> shutdown_returned{false};
  std::atomic<bool> frame_intact{false};
  Runtime rt(seeded(3));
  auto handle = rt.spawn([](std::atomic<bool>& polling, std::atomic<bool>& shutdown_returned,
                            std::atomic<bool>& frame_intact) -> Task<void> {
    const std::vector<int> in_frame(16, 7);
    polling.store(true);
    // Give a shutdown that does not wait for this poll the time to drain (and so destroy this
    // frame under us: ASan then reports the reads below).
    for (int i = 0; i < 20'000 && !shutdown_returned.load(); ++i) std::this_thread::yield();
    frame_intact.store(in_frame.back() == 7);
    co_await troupe::this_task::yield_now();  // the drain cancels the task here, suspended
  }(polling, shutdown_returned, frame_intact));
  std::thread driver([&rt] { (void)rt.run_until_idle(); });
  while (!polling.load()) std::this_thread::yield();
  rt.shutdown();
  shutdown_returned.store(true);
  driver.join();
  CHECK(frame_intact.load());
  CHECK(rt.shutdown_report().cancelled == 1);
  CHECK_THROWS_AS(handle.get(), troupe::Error);
}

TEST_CASE("a JoinHandle::get that drives when shutdown begins ends with cancelled, not deadlock" *
          doctest::timeout(60)) {
  std::atomic<bool> polling{false};
  Runtime rt(seeded(4));
  auto handle = rt.spawn([](std::atomic<bool>& polling) -> Task<int> {
    polling.store(true);
    for (;;) co_await troupe::this_task::yield_now();  // runnable forever: the drive never idles
  }(polling));
  std::thread stopper([&] {
    while (!polling.load()) std::this_thread::yield();
    rt.shutdown();
  });
  const std::optional<troupe::ErrorCode> code = [&]() -> std::optional<troupe::ErrorCode> {
    try {
      (void)handle.get();  // drives this thread until shutdown stops the drive
    } catch (const troupe::Error& error) {
      return error.code();
    }
    return std::nullopt;
  }();
  stopper.join();
  CHECK(code == troupe::ErrorCode::cancelled);
}

TEST_CASE("a block_on that drives when shutdown begins ends with shut_down or cancelled, not a "
          "deadlock timeout" *
          doctest::timeout(60)) {
  std::atomic<bool> polling{false};
  Runtime rt(seeded(6));
  std::thread stopper([&] {
    while (!polling.load()) std::this_thread::yield();
    rt.shutdown();
  });
  std::optional<troupe::ErrorCode> code;
  std::string what;
  try {
    (void)rt.block_on([](std::atomic<bool>& polling) -> Task<int> {
      polling.store(true);
      for (;;) co_await troupe::this_task::yield_now();  // runnable forever: never idle
    }(polling));
  } catch (const troupe::Error& error) {
    code = error.code();
    what = error.what();
  }
  stopper.join();
  // Either the drive stopped first (Runtime::throw_deadlock, the path that also ends the pool's
  // deterministic waits: shut_down), or the drain had cancelled the task by the time block_on
  // looked at it (its JoinHandle: cancelled). Never the deadlock's timeout, never a value.
  REQUIRE(code.has_value());
  if (*code == troupe::ErrorCode::shut_down) {
    CHECK(what.find("Runtime::block_on: the runtime shut down before task") != std::string::npos);
  } else {
    CHECK(*code == troupe::ErrorCode::cancelled);
  }
  CHECK(rt.shutdown_report().cancelled == 1);
}

namespace {
// A drive and a shutdown met in the window where the drive has checked `stopping` but not yet
// taken the driver's lock (test_hooks: plain function pointers, hence the globals).
// Steps: 1, the drive passed its check; 2, shutdown holds the lock; 3, the drive is over.
std::atomic<int> drive_race_step{0};
void drive_race_in_drive() {
  drive_race_step.store(1);
  while (drive_race_step.load() < 2) std::this_thread::yield();
}
void drive_race_in_shutdown() {
  drive_race_step.store(2);
  while (drive_race_step.load() < 3) std::this_thread::yield();
}
}  // namespace

TEST_CASE("a drive that began just before shutdown ends as stopped, not as 'another thread is "
          "driving'" *
          doctest::timeout(60)) {
  namespace hooks = troupe::detail::test_hooks;
  drive_race_step.store(0);
  hooks::drive_checked_stopping.store(&drive_race_in_drive);
  hooks::shutdown_holding_drive_lock.store(&drive_race_in_shutdown);
  struct ResetHooks {
    ~ResetHooks() {
      troupe::detail::test_hooks::drive_checked_stopping.store(nullptr);
      troupe::detail::test_hooks::shutdown_holding_drive_lock.store(nullptr);
    }
  } reset;
  Runtime rt(seeded(8));
  std::thread stopper([&] {
    while (drive_race_step.load() < 1) std::this_thread::yield();
    rt.shutdown();  // sets `stopping`, then holds the lock until the drive is over
  });
  std::string error;
  std::size_t polls = 1;
  try {
    polls = rt.run_until_idle();  // finds the lock taken by the shutdown
  } catch (const troupe::Error& e) {
    error = e.what();
  }
  drive_race_step.store(3);
  stopper.join();
  CHECK(error == "");
  CHECK(polls == 0);
}

TEST_CASE("a task's shutdown() is refused at once, even while another thread's shutdown waits "
          "for its poll" *
          doctest::timeout(60)) {
  Runtime rt(seeded(5));
  std::atomic<bool> polling{false};
  std::atomic<bool> shutting{false};
  std::string refused;
  rt.spawn([](Runtime& rt, std::atomic<bool>& polling, std::atomic<bool>& shutting,
              std::string& refused) -> Task<void> {
    polling.store(true);
    while (!shutting.load()) std::this_thread::yield();  // all inside one poll
    // Leave the other thread the time to take shutdown's lock and wait for this poll.
    for (int i = 0; i < 2'000; ++i) std::this_thread::yield();
    try {
      rt.shutdown();
    } catch (const troupe::Error& error) {
      refused = error.what();
    }
    co_return;
  }(rt, polling, shutting, refused)).detach();
  std::thread other([&] {
    while (!polling.load()) std::this_thread::yield();  // the task is in its poll: drive on
    shutting.store(true);
    rt.shutdown();
  });
  (void)rt.run_until_idle();
  other.join();
  CHECK(refused.find("called from one of its own threads") != std::string::npos);
}

TEST_CASE("spawn_blocking jobs and dedicated-thread tasks run on the driving thread" *
          doctest::timeout(60)) {
  Runtime rt(seeded(5));
  auto job = rt.spawn_blocking([] { return 41; });
  troupe::SpawnOptions own;
  own.dedicated_thread = true;
  auto alone = rt.spawn([]() -> Task<int> { co_return 1; }(), own);
  rt.run_until_idle();
  CHECK(job.get() + alone.get() == 42);
}

// ---- exploration: a supervisor restarting children while messages arrive -----------------

namespace {

struct Poke {
  int producer;
  int seq;
  bool boom;
};

struct SupervisorBooks {
  std::uint64_t delivered = 0;  // handler entries
  std::uint64_t booms = 0;      // of which failed on purpose
  std::vector<int> trace;       // producer * 1000 + seq, in delivery order
};
struct BooksRef {
  SupervisorBooks* books;  // owned by the scenario, which outlives the runtime's tasks
};

}  // namespace

// The scenario owns the books and outlives every task that writes them (one thread runs all).
template <>
inline constexpr bool troupe::enable_sendable<BooksRef> = true;

namespace {

class Child {
 public:
  explicit Child(BooksRef ref) : books_(ref.books) {}
  void handle(Poke p) {
    ++books_->delivered;
    books_->trace.push_back(p.producer * 1000 + p.seq);
    if (p.boom) {
      ++books_->booms;
      throw std::runtime_error("boom");
    }
  }

 private:
  SupervisorBooks* books_;
};

struct SupervisorRun {
  SupervisorBooks books;
  std::string broken;
};

SupervisorRun supervisor_scenario(std::uint64_t seed, Tally& tally) {
  constexpr int kProducers = 2;
  constexpr int kPerProducer = 24;
  SupervisorRun run;
  std::mt19937_64 rng(seed);
  const troupe::Strategy strategies[] = {troupe::Strategy::one_for_one,
                                         troupe::Strategy::one_for_all,
                                         troupe::Strategy::rest_for_one};
  troupe::SupervisorOptions so;
  so.strategy = strategies[rng() % 3];
  so.max_restarts = 1000;  // never escalates: every failure is rebuilt
  so.within = 60s;

  Runtime rt(seeded(seed));
  troupe::Supervisor sup(rt, so);
  std::vector<troupe::ActorRef<Child>> children;
  for (int c = 0; c < 2; ++c) {
    troupe::ActorOptions ao;
    ao.name = "child" + std::to_string(c);
    ao.mailbox_capacity = 1 + rng() % 4;  // small: producers wait for room (backpressure)
    children.push_back(sup.start<Child>(std::move(ao), BooksRef{&run.books}));
  }
  // Each producer's plan: which child, and whether the message fails the child.
  std::vector<std::vector<std::pair<int, bool>>> plans(kProducers);
  for (auto& plan : plans) {
    for (int i = 0; i < kPerProducer; ++i) plan.emplace_back(rng() % 2, rng() % 6 == 0);
  }
  struct Sent {
    std::uint64_t ok = 0, closed = 0;
  } sent;
  auto producer = [](std::vector<troupe::ActorRef<Child>> to,
                     std::vector<std::pair<int, bool>> plan, int id, Sent& sent) -> Task<void> {
    for (int i = 0; i < static_cast<int>(plan.size()); ++i) {
      auto told = co_await to[plan[i].first].send(Poke{id, i, plan[i].second});
      if (told) {
        ++sent.ok;
      } else {
        ++sent.closed;
      }
    }
  };
  std::vector<troupe::JoinHandle<void>> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.push_back(rt.spawn(producer(children, plans[p], p, sent)));
  }
  // The stop comes when the first producer is done: the other may still be sending.
  const troupe::ExitCode code = rt.block_on(
      [](troupe::JoinHandle<void>& first, troupe::Supervisor& sup) -> Task<troupe::ExitCode> {
        co_await first;
        co_return co_await sup.stop();
      }(producers[0], sup));
  rt.run_until_idle();
  for (auto& p : producers) {
    if (p.valid()) p.get();
  }

  Broken b;
  b.equal("stop's exit code", static_cast<std::uint64_t>(code),
          static_cast<std::uint64_t>(troupe::ExitCode::terminated));
  std::uint64_t dead = 0, received = 0, child_restarts = 0;
  for (auto& child : children) {
    const troupe::ActorStats stats = child.stats();
    dead += stats.dead_letters;
    received += stats.received;
    child_restarts += stats.restarts;
    b.equal("a child is still alive", child.is_alive() ? 1 : 0, 0);
  }
  const std::uint64_t attempted = kProducers * kPerProducer;
  b.equal("sent = delivered + dead letters", attempted, run.books.delivered + dead);
  b.equal("sends ok + closed", sent.ok + sent.closed, attempted);
  b.at_most("closed sends beyond dead letters", sent.closed, dead);
  b.equal("received (stats) = delivered", received, run.books.delivered);
  b.equal("children's restarts = supervisor's", child_restarts,
          so.strategy == troupe::Strategy::one_for_one ? sup.restarts() : child_restarts);
  b.at_most("restart decisions beyond failures", sup.restarts(), run.books.booms);
  tally["messages"] += attempted;
  tally["delivered"] += run.books.delivered;
  tally["dead letters"] += dead;
  tally["failures"] += run.books.booms;
  tally["restarts"] += sup.restarts();
  rt.shutdown();
  b.equal("tasks cancelled by the shutdown", rt.shutdown_report().cancelled, 0);
  run.broken = b.str();
  return run;
}

}  // namespace

TEST_CASE("explored: a supervisor restarting children while messages arrive loses none" *
          doctest::timeout(600)) {
  explore("supervisor",
          [](std::uint64_t seed, Tally& tally) { return supervisor_scenario(seed, tally).broken; });
  // Replaying a seed replays its run: the same deliveries in the same order.
  Tally ignored;
  for (std::uint64_t seed : {1, 2, 3}) {
    CHECK(supervisor_scenario(seed, ignored).books.trace ==
          supervisor_scenario(seed, ignored).books.trace);
  }
}

// ---- exploration: a pipeline cancelled mid-stream -----------------------------------------

namespace {

std::string pipeline_scenario(std::uint64_t seed, Tally& tally) {
  constexpr std::int64_t kItems = 200;
  std::mt19937_64 rng(seed);
  Runtime rt(seeded(seed));
  std::uint64_t sunk = 0;
  troupe::StageOptions first;
  first.parallelism = 1 + rng() % 2;
  first.capacity = 16 << (rng() % 3);
  troupe::StageOptions sink;
  sink.capacity = 8;
  auto p = troupe::pipeline<std::int64_t>(rt)
               .stage([](std::int64_t x) -> std::optional<std::int64_t> {
                 if (x % 7 == 0) return std::nullopt;  // filtered
                 return x * 2;
               }, first)
               .sink([&sunk](std::int64_t) { ++sunk; }, sink);
  troupe::Sender<std::int64_t> in = p.start();
  struct Fed {
    std::uint64_t ok = 0, refused = 0;
  } fed;
  auto feeder = [](troupe::Sender<std::int64_t> in, Fed& fed) -> Task<void> {
    for (std::int64_t i = 1; i <= kItems; ++i) {
      auto sent = co_await in.send(i);
      if (!sent) {
        ++fed.refused;
        break;
      }
      ++fed.ok;
    }
  };
  const int yields = static_cast<int>(rng() % 60);
  auto canceller = [](troupe::Pipeline<std::int64_t>& p, int yields) -> Task<void> {
    for (int i = 0; i < yields; ++i) co_await troupe::this_task::yield_now();
    p.cancel();
  };
  auto feeding = rt.spawn(feeder(std::move(in), fed));
  auto cancelling = rt.spawn(canceller(p, yields));
  const troupe::PipelineStats s = rt.block_on(
      [](troupe::Pipeline<std::int64_t>& p) -> Task<troupe::PipelineStats> {
        co_return co_await p.finished();
      }(p));
  rt.run_until_idle();
  feeding.get();
  cancelling.get();

  Broken b;
  b.equal("finished", s.finished ? 1 : 0, 1);
  std::uint64_t ended = 0;
  for (const auto& stage : s.stages) {
    ended += stage.filtered + stage.skipped + stage.dead_lettered + stage.failed;
    b.equal("a stage's queue after the end", stage.queued, 0);
  }
  b.equal("emitted = delivered + ended + cancelled", s.emitted + s.copied,
          s.delivered + ended + s.cancelled);
  b.equal("sink calls = delivered", sunk, s.delivered);
  // Items the port accepted but the source never took count as emitted, then cancelled.
  b.equal("fed = emitted", fed.ok, s.emitted);
  if (!s.stopped) b.equal("cancelled without a stop", s.cancelled, 0);
  tally["fed"] += fed.ok;
  tally["delivered"] += s.delivered;
  tally["cancelled items"] += s.cancelled;
  tally["runs stopped mid-stream"] += s.stopped ? 1 : 0;
  rt.shutdown();
  b.equal("tasks cancelled by the shutdown", rt.shutdown_report().cancelled, 0);
  return b.str();
}

}  // namespace

TEST_CASE("explored: a pipeline cancelled mid-stream balances its books and leaves no task" *
          doctest::timeout(600)) {
  explore("pipeline", pipeline_scenario);
}

TEST_CASE("a pool on a deterministic runtime runs its workers as tasks, and its waits drive "
          "the runtime" *
          doctest::timeout(60)) {
  Runtime threaded;
  troupe::PoolOptions refused;
  refused.runtime = &threaded;
  CHECK_THROWS_WITH_AS(troupe::Pool{refused},
                       doctest::Contains("PoolOptions::runtime: the runtime is not deterministic"),
                       troupe::Error);

  Runtime rt(seeded(11));
  troupe::PoolOptions po;
  po.runtime = &rt;
  po.min_workers = 2;
  po.max_workers = 2;
  troupe::Pool pool(po);
  pool.wait_ready();  // drives: both worker tasks ran their (empty) init
  std::vector<troupe::PoolFuture<int>> futures;
  for (int i = 1; i <= 10; ++i) {
    auto submitted = pool.submit([i] { return i * i; });
    REQUIRE(submitted);
    futures.push_back(std::move(*submitted));
  }
  CHECK(pool.stats().completed == 0);  // nothing runs until the runtime is driven
  pool.wait_idle();
  int sum = 0;
  for (auto& future : futures) sum += future.get();
  CHECK(sum == 385);
  CHECK(pool.stats().workers == 2);
  pool.close();
  CHECK(pool.stats().workers == 0);
}

// ---- exploration: a pool closing while tasks are submitted -------------------------------

namespace {

struct PoolBooks {
  std::uint64_t accepted = 0, full = 0, closed = 0;     // submissions
  std::uint64_t value = 0, error = 0, cancelled = 0, other = 0;  // what the futures gave
};

Task<void> submitter(troupe::Pool& pool, std::vector<bool> throws, PoolBooks& books) {
  std::vector<troupe::PoolFuture<int>> futures;
  for (std::size_t i = 0; i < throws.size(); ++i) {
    const bool fail = throws[i];
    auto submitted = co_await pool.submit_async([i, fail]() -> int {
      if (fail) throw std::runtime_error("task failed");
      return static_cast<int>(i);
    });
    if (submitted) {
      ++books.accepted;
      futures.push_back(std::move(*submitted));
    } else if (submitted.error().is_full()) {
      ++books.full;
    } else {
      ++books.closed;
    }
  }
  for (auto& future : futures) {
    try {
      (void)co_await future;
      ++books.value;
    } catch (const troupe::Error& error) {
      if (error.code() == troupe::ErrorCode::cancelled) {
        ++books.cancelled;
      } else {
        ++books.other;
      }
    } catch (const std::runtime_error&) {
      ++books.error;
    }
  }
}

std::string pool_scenario(std::uint64_t seed, Tally& tally) {
  constexpr int kSubmitters = 2;
  constexpr int kPerSubmitter = 20;
  std::mt19937_64 rng(seed);
  Runtime rt(seeded(seed));
  troupe::PoolOptions po;
  po.runtime = &rt;
  po.min_workers = rng() % 3;
  po.max_workers = std::max<std::size_t>(po.min_workers, 1) + rng() % 2;
  po.max_queue = rng() % 2 == 0 ? 0 : 1 + rng() % 4;
  po.on_full = rng() % 2 == 0 ? troupe::QueueFull::wait : troupe::QueueFull::reject;
  const bool force = rng() % 2 == 0;
  const std::uint64_t cut = rng() % 40;  // polls before the close: mostly mid-submission
  std::vector<std::vector<bool>> plans(kSubmitters);
  for (auto& plan : plans) {
    for (int i = 0; i < kPerSubmitter; ++i) plan.push_back(rng() % 5 == 0);
  }

  Broken b;
  PoolBooks books;
  troupe::PoolStats s;
  {
    troupe::Pool pool(po);
    std::vector<troupe::JoinHandle<void>> submitters;
    for (auto& plan : plans) submitters.push_back(rt.spawn(submitter(pool, plan, books)));
    std::uint64_t polls = 0;
    rt.run_until([&] { return polls++ >= cut; });
    pool.close(force);  // drives the runtime until the workers have left
    rt.run_until_idle();
    for (auto& handle : submitters) {
      b.equal("a submitter never finished", handle.is_finished() ? 0 : 1, 0);
      if (handle.is_finished()) handle.get();
    }
    s = pool.stats();
  }
  const std::uint64_t attempted = kSubmitters * kPerSubmitter;
  b.equal("attempted = accepted + full + closed", attempted,
          books.accepted + books.full + books.closed);
  b.equal("accepted = value + error + cancelled", books.accepted,
          books.value + books.error + books.cancelled + books.other);
  b.equal("futures failing otherwise", books.other, 0);
  b.equal("PoolStats::submitted = accepted", s.submitted, books.accepted);
  b.equal("PoolStats::rejected = refused", s.rejected, books.full + books.closed);
  b.equal("PoolStats::completed = values", s.completed, books.value);
  b.equal("PoolStats::failed = errors", s.failed, books.error);
  b.equal("PoolStats::cancelled = cancelled futures", s.cancelled, books.cancelled);
  b.equal("pool books", s.submitted,
          s.completed + s.failed + s.cancelled + s.timed_out + s.deadline_exceeded);
  if (!force) b.equal("cancelled by a graceful close", books.cancelled, 0);
  if (po.on_full == troupe::QueueFull::wait || po.max_queue == 0) {
    b.equal("full refusals without reject", books.full, 0);
  }
  b.equal("workers after close", s.workers, 0);
  b.equal("queued after close", s.queued, 0);
  rt.shutdown();
  b.equal("tasks cancelled by the shutdown", rt.shutdown_report().cancelled, 0);
  tally["submissions"] += attempted;
  tally["accepted"] += books.accepted;
  tally["refused (closed)"] += books.closed;
  tally["refused (full)"] += books.full;
  tally["cancelled by a forced close"] += books.cancelled;
  tally["failed (threw)"] += books.error;
  tally["closed while submitting"] += books.closed > 0 ? 1 : 0;
  return b.str();
}

}  // namespace

TEST_CASE("explored: a pool closing while tasks are submitted resolves every future and keeps "
          "its books" *
          doctest::timeout(600)) {
  explore("pool", pool_scenario);
}
