// Supervisors: restarts from the original initial data, the three strategies, the intensity
// limit and escalation, stop, bad options.
#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "actor_test_support.hpp"
#include "test_support.hpp"
#include "troupe/actors/supervisor.hpp"

using namespace std::chrono_literals;
using troupe::ActorEvent;
using troupe::ActorOptions;
using troupe::ActorRef;
using troupe::ExitCode;
using troupe::Runtime;
using troupe::RuntimeOptions;
using troupe::Strategy;
using troupe::Supervisor;
using troupe::SupervisorOptions;
using troupe::Task;
using troupe::testing::named;
using troupe::testing::two_workers;

namespace {

struct Add {
  int by;
};
struct Get {};
struct Boom {};

// State that a restart visibly resets: it starts at the initial data.
class Cell {
 public:
  explicit Cell(int start) : n_(start) {}
  void handle(Add m) { n_ += m.by; }
  int handle(Get) const { return n_; }
  void handle(Boom) { throw std::runtime_error("cell exploded"); }

 private:
  int n_;
};

SupervisorOptions strategy(Strategy s, int max_restarts = 10) {
  SupervisorOptions options;
  options.strategy = s;
  options.max_restarts = max_restarts;
  options.within = 60s;
  return options;
}

int value_of(ActorRef<Cell>& cell) {
  auto reply = cell.blocking_ask(Get{}, 10s);
  REQUIRE(reply);
  return *reply;
}

// The next n events (each within 10 s), and their kinds.
std::vector<ActorEvent> next_events(troupe::Receiver<ActorEvent>& rx, int n) {
  std::vector<ActorEvent> events;
  for (int i = 0; i < n; ++i) {
    auto event = rx.recv_for(10s);
    REQUIRE(event);
    events.push_back(std::move(*event));
  }
  return events;
}
std::vector<ActorEvent::Kind> kinds_of(const std::vector<ActorEvent>& events) {
  std::vector<ActorEvent::Kind> kinds;
  for (const ActorEvent& event : events) kinds.push_back(event.kind);
  return kinds;
}
// What a child that failed once and was rebuilt reports.
const std::vector<ActorEvent::Kind> kRestartedOnce{ActorEvent::Kind::online,
                                                   ActorEvent::Kind::error,
                                                   ActorEvent::Kind::restart,
                                                   ActorEvent::Kind::online};

// Fails `cell` and waits until it answers again (rebuilt): the supervisor has decided by then.
void crash_and_wait(ActorRef<Cell>& cell) {
  REQUIRE(cell.tell(Boom{}));
  (void)value_of(cell);
}

}  // namespace

TEST_CASE("a failed child is rebuilt from its original data and keeps its ActorRef and mail" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  Supervisor sup(rt, strategy(Strategy::one_for_one));
  auto [events_tx, events_rx] = troupe::unbounded_channel<ActorEvent>();
  ActorOptions options = named("cell");
  options.events = std::move(events_tx);
  ActorRef<Cell> cell = sup.start<Cell>(std::move(options), 100);
  REQUIRE(cell.tell(Add{5}));
  CHECK(value_of(cell) == 105);
  // The Boom, then two messages queued behind it: they wait for the rebuilt actor.
  REQUIRE(cell.tell(Boom{}));
  REQUIRE(cell.tell(Add{1}));
  CHECK(value_of(cell) == 101);  // 100 again, plus the Add that waited
  CHECK(cell.is_alive());
  CHECK(cell.stats().restarts == 1);
  CHECK(sup.restarts() == 1);

  const auto events = next_events(events_rx, 4);
  CHECK(kinds_of(events) == kRestartedOnce);
  CHECK(events[1].what == "cell exploded");
  CHECK(sup.blocking_stop() == ExitCode::terminated);
  CHECK(cell.blocking_wait_exit() == ExitCode::terminated);
}

TEST_CASE("a crashing child is restarted up to the intensity limit, then the supervisor "
          "escalates and stops its siblings" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  auto [events_tx, events_rx] = troupe::unbounded_channel<ActorEvent>();
  SupervisorOptions options = strategy(Strategy::one_for_one, 2);
  options.name = "root";
  options.events = std::move(events_tx);
  Supervisor sup(rt, std::move(options));
  ActorRef<Cell> fragile = sup.start<Cell>(named("fragile"), 0);
  ActorRef<Cell> bystander = sup.start<Cell>(named("bystander"), 7);

  crash_and_wait(fragile);
  crash_and_wait(fragile);
  CHECK(sup.restarts() == 2);
  CHECK_FALSE(sup.escalated());
  CHECK(value_of(bystander) == 7);  // one_for_one: untouched

  REQUIRE(fragile.tell(Boom{}));  // the third failure within the window: escalation
  CHECK(sup.blocking_wait_exit() == ExitCode::failed);
  CHECK(sup.escalated());
  CHECK(sup.reason().find("'fragile'") != std::string::npos);
  CHECK(sup.reason().find("escalated") != std::string::npos);
  CHECK(fragile.blocking_wait_exit() == ExitCode::failed);
  CHECK(bystander.blocking_wait_exit() == ExitCode::stopped);
  CHECK(sup.live_children() == 0);

  auto error = events_rx.recv_for(10s);
  REQUIRE(error);
  CHECK(error->kind == ActorEvent::Kind::error);
  CHECK(error->name == "root");
  CHECK(error->what == sup.reason());
  auto exit = events_rx.recv_for(10s);
  REQUIRE(exit);
  CHECK(exit->kind == ActorEvent::Kind::exit);
  CHECK(exit->code == ExitCode::failed);

  CHECK_THROWS_AS(sup.start<Cell>({}, 1), troupe::Error);  // ended: no new children
}

TEST_CASE("one_for_all restarts every sibling of a failed child" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  Supervisor sup(rt, strategy(Strategy::one_for_all));
  ActorRef<Cell> a = sup.start<Cell>(named("a"), 10);
  ActorRef<Cell> b = sup.start<Cell>(named("b"), 20);
  ActorRef<Cell> c = sup.start<Cell>(named("c"), 30);
  REQUIRE(b.tell(Add{1}));
  REQUIRE(c.tell(Add{1}));
  CHECK(value_of(b) == 21);
  CHECK(value_of(c) == 31);

  crash_and_wait(a);
  // The siblings' restart went through their control lanes before this ask was sent.
  CHECK(value_of(b) == 20);
  CHECK(value_of(c) == 30);
  CHECK(b.stats().restarts == 1);
  CHECK(c.stats().restarts == 1);
  CHECK(sup.restarts() == 1);  // one failure, one restart decision
}

TEST_CASE("rest_for_one restarts only the children started after the failed one" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  Supervisor sup(rt, strategy(Strategy::rest_for_one));
  ActorRef<Cell> first = sup.start<Cell>(named("first"), 1);
  ActorRef<Cell> middle = sup.start<Cell>(named("middle"), 2);
  ActorRef<Cell> last = sup.start<Cell>(named("last"), 3);
  for (ActorRef<Cell>* cell : {&first, &middle, &last}) REQUIRE(cell->tell(Add{100}));
  CHECK(value_of(first) == 101);
  CHECK(value_of(last) == 103);

  crash_and_wait(middle);
  CHECK(value_of(first) == 101);  // started before: kept
  CHECK(value_of(middle) == 2);
  CHECK(value_of(last) == 3);     // started after: rebuilt
  CHECK(first.stats().restarts == 0);
  CHECK(last.stats().restarts == 1);
}

TEST_CASE("a child that ends normally or is terminated is not restarted" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  Supervisor sup(rt, strategy(Strategy::one_for_all));
  ActorRef<Cell> kept = sup.start<Cell>(named("kept"), 1);
  ActorRef<Cell> terminated = sup.start<Cell>(named("terminated"), 2);
  CHECK(terminated.blocking_terminate() == ExitCode::terminated);
  auto [events_tx, events_rx] = troupe::unbounded_channel<ActorEvent>();
  ActorOptions options = named("dropped");
  options.events = std::move(events_tx);
  (void)sup.start<Cell>(std::move(options), 3);  // its only ActorRef is gone at once
  for (;;) {
    auto event = events_rx.recv_for(10s);
    REQUIRE(event);
    if (event->kind != ActorEvent::Kind::exit) continue;
    CHECK(event->code == ExitCode::normal);
    break;
  }
  CHECK(sup.restarts() == 0);
  CHECK(value_of(kept) == 1);
  CHECK(kept.stats().restarts == 0);
}

TEST_CASE("stopping a supervisor terminates its children and ends it" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  std::vector<ActorRef<Cell>> cells;
  ExitCode code = ExitCode::normal;
  {
    Supervisor sup(rt, strategy(Strategy::one_for_one));
    for (int i = 0; i < 50; ++i) cells.push_back(sup.start<Cell>({}, i));
    code = rt.block_on([](Supervisor& s) { return s.stop(); }(sup));
    CHECK(sup.live_children() == 0);
  }
  CHECK(code == ExitCode::terminated);
  for (auto& cell : cells) {
    CHECK(cell.blocking_wait_exit() == ExitCode::terminated);
    CHECK_FALSE(cell.tell(Add{1}));  // a dead letter, handed back
  }
}

TEST_CASE("destroying a supervisor stops its children without waiting" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorRef<Cell> orphan;
  {
    Supervisor sup(rt, strategy(Strategy::one_for_one));
    orphan = sup.start<Cell>(named("orphan"), 1);
  }
  CHECK(orphan.blocking_wait_exit() == ExitCode::terminated);
}

TEST_CASE("bad supervisor options are refused with a clear error" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  SupervisorOptions negative;
  negative.max_restarts = -1;
  CHECK_THROWS_WITH_AS(Supervisor(rt, negative),
                       doctest::Contains("max_restarts must be >= 0, got -1"), troupe::Error);
  SupervisorOptions zero_window;
  zero_window.within = 0ms;
  CHECK_THROWS_WITH_AS(Supervisor(rt, zero_window), doctest::Contains("within must be positive"),
                       troupe::Error);
  SupervisorOptions never;
  never.max_restarts = 0;  // valid: the first failure escalates
  Supervisor sup(rt, never);
  ActorRef<Cell> cell = sup.start<Cell>({}, 1);
  REQUIRE(cell.tell(Boom{}));
  CHECK(sup.blocking_wait_exit() == ExitCode::failed);
  CHECK(cell.blocking_wait_exit() == ExitCode::failed);
}

// ---- nested supervisors (a supervision tree) ----------------------------------------------

TEST_CASE("a nested supervisor past its intensity is restarted by its parent: every child of "
          "it starts over and it carries on" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  Supervisor root(rt, strategy(Strategy::one_for_one, 5));
  auto [events_tx, events_rx] = troupe::unbounded_channel<ActorEvent>();
  SupervisorOptions team_options = strategy(Strategy::one_for_one, 1);
  team_options.name = "team";
  team_options.events = std::move(events_tx);
  Supervisor team(root, std::move(team_options));
  ActorRef<Cell> fragile = team.start<Cell>(named("fragile"), 0);
  ActorRef<Cell> mate = team.start<Cell>(named("mate"), 10);
  ActorRef<Cell> outside = root.start<Cell>(named("outside"), 20);
  REQUIRE(mate.tell(Add{5}));
  REQUIRE(outside.tell(Add{5}));
  CHECK(value_of(mate) == 15);

  crash_and_wait(fragile);  // within the team's limit: one_for_one, the mate keeps its state
  CHECK(value_of(mate) == 15);
  CHECK(root.restarts() == 0);

  crash_and_wait(fragile);  // past the team's limit: the root restarts the whole team
  CHECK(root.restarts() == 1);
  CHECK(value_of(mate) == 10);     // rebuilt from its initial data
  CHECK(value_of(outside) == 25);  // the root's one_for_one leaves it alone
  CHECK_FALSE(team.escalated());
  CHECK(team.live_children() == 2);

  crash_and_wait(fragile);  // a fresh window: this one is the team's own restart again
  CHECK(root.restarts() == 1);
  auto event = events_rx.recv_for(10s);
  REQUIRE(event);
  CHECK(event->kind == ActorEvent::Kind::restart);
  CHECK(event->what.find("child 0 'fragile' failed") != std::string::npos);

  CHECK(root.blocking_stop() == ExitCode::terminated);
  CHECK(team.blocking_wait_exit() == ExitCode::terminated);
  CHECK(fragile.blocking_wait_exit() == ExitCode::terminated);
  CHECK(mate.blocking_wait_exit() == ExitCode::terminated);
}

TEST_CASE("past the parent's limit too, the escalation climbs the tree and stops every actor "
          "in it" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  SupervisorOptions root_options = strategy(Strategy::one_for_one, 0);
  root_options.name = "root";
  Supervisor root(rt, std::move(root_options));
  SupervisorOptions team_options = strategy(Strategy::one_for_one, 0);
  team_options.name = "team";
  Supervisor team(root, std::move(team_options));
  ActorRef<Cell> fragile = team.start<Cell>(named("fragile"), 0);
  ActorRef<Cell> mate = team.start<Cell>(named("mate"), 1);
  ActorRef<Cell> outside = root.start<Cell>(named("outside"), 2);
  REQUIRE(fragile.tell(Boom{}));
  CHECK(root.blocking_wait_exit() == ExitCode::failed);
  CHECK(root.escalated());
  CHECK(root.reason().find("child 0 'team' failed") != std::string::npos);
  CHECK(team.blocking_wait_exit() == ExitCode::failed);
  CHECK(team.escalated());
  CHECK(fragile.blocking_wait_exit() == ExitCode::failed);
  CHECK(mate.blocking_wait_exit() == ExitCode::stopped);
  CHECK(outside.blocking_wait_exit() == ExitCode::stopped);
  CHECK_THROWS_AS((void)team.start<Cell>(named("late"), 0), troupe::Error);
}

TEST_CASE("a one_for_all parent restarts a nested supervisor's children when a sibling fails" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  Supervisor root(rt, strategy(Strategy::one_for_all, 5));
  Supervisor team(root, strategy(Strategy::one_for_one, 5));
  ActorRef<Cell> member = team.start<Cell>(named("member"), 3);
  ActorRef<Cell> sibling = root.start<Cell>(named("sibling"), 0);
  REQUIRE(member.tell(Add{4}));
  CHECK(value_of(member) == 7);
  crash_and_wait(sibling);
  CHECK(value_of(member) == 3);  // rebuilt with the team
  CHECK(root.restarts() == 1);
  CHECK(team.restarts() == 0);
}

TEST_CASE("a nested supervisor cannot join a parent that has ended" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  Supervisor root(rt, strategy(Strategy::one_for_one));
  CHECK(root.blocking_stop() == ExitCode::terminated);
  CHECK_THROWS_WITH_AS(Supervisor(root, strategy(Strategy::one_for_one)),
                       doctest::Contains("has ended"), troupe::Error);
}

// ---- supervised task actors -------------------------------------------------------------------

namespace {

struct Job {
  int n;
};

// Reports base + the number of jobs it has seen in this run; a negative job fails it.
Task<void> counting_body(troupe::Receiver<Job>& inbox, troupe::Sender<int> out, int base) {
  int seen = 0;
  while (auto job = co_await inbox.recv()) {
    if (job->n < 0) throw std::runtime_error("negative job");
    ++seen;
    (void)out.try_send(base + seen);
  }
}

int next_of(troupe::Receiver<int>& rx) {
  auto got = rx.recv_for(10s);
  REQUIRE(got);
  return *got;
}

}  // namespace

TEST_CASE("a supervised task actor that fails runs its body again from a copy of its data, on "
          "the same inbox" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  Supervisor sup(rt, strategy(Strategy::one_for_one));
  auto [out_tx, out_rx] = troupe::unbounded_channel<int>();
  auto [events_tx, events_rx] = troupe::unbounded_channel<ActorEvent>();
  ActorOptions options = named("counter");
  options.events = std::move(events_tx);
  auto worker = sup.start_task<Job>(std::move(options), counting_body, out_tx, 100);
  REQUIRE(worker.tell(Job{1}));
  REQUIRE(worker.tell(Job{1}));
  CHECK(next_of(out_rx) == 101);
  CHECK(next_of(out_rx) == 102);
  REQUIRE(worker.tell(Job{-1}));
  REQUIRE(worker.tell(Job{1}));     // waits in the inbox for the new run
  CHECK(next_of(out_rx) == 101);    // counted from the original data again
  CHECK(worker.stats().restarts == 1);
  CHECK(sup.restarts() == 1);
  CHECK(kinds_of(next_events(events_rx, 4)) == kRestartedOnce);
  CHECK(worker.blocking_terminate() == ExitCode::terminated);
}

TEST_CASE("a one_for_all supervisor restarts a task actor suspended in its receive loop when a "
          "sibling fails" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  Supervisor sup(rt, strategy(Strategy::one_for_all));
  auto [out_tx, out_rx] = troupe::unbounded_channel<int>();
  auto worker = sup.start_task<Job>(named("counter"), counting_body, out_tx, 0);
  ActorRef<Cell> sibling = sup.start<Cell>(named("sibling"), 0);
  REQUIRE(worker.tell(Job{1}));
  REQUIRE(worker.tell(Job{1}));
  CHECK(next_of(out_rx) == 1);
  CHECK(next_of(out_rx) == 2);
  crash_and_wait(sibling);  // the worker's body is cancelled at its receive and started again
  REQUIRE(worker.tell(Job{1}));
  CHECK(next_of(out_rx) == 1);
  troupe::testing::spin_until([&] { return worker.stats().restarts == 1; });
  CHECK(worker.is_alive());
  CHECK(sup.blocking_stop() == ExitCode::terminated);
  CHECK(worker.blocking_wait_exit() == ExitCode::terminated);
}

TEST_CASE("a supervised task actor past the intensity limit escalates like any child" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  Supervisor sup(rt, strategy(Strategy::one_for_one, 1));
  auto [out_tx, out_rx] = troupe::unbounded_channel<int>();
  auto worker = sup.start_task<Job>(named("counter"), counting_body, out_tx, 0);
  ActorRef<Cell> bystander = sup.start<Cell>(named("bystander"), 0);
  REQUIRE(worker.tell(Job{-1}));
  REQUIRE(worker.tell(Job{1}));
  CHECK(next_of(out_rx) == 1);  // restarted once
  REQUIRE(worker.tell(Job{-1}));
  CHECK(sup.blocking_wait_exit() == ExitCode::failed);
  CHECK(worker.blocking_wait_exit() == ExitCode::failed);
  CHECK(bystander.blocking_wait_exit() == ExitCode::stopped);
}
