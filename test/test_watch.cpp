// Death watch and links: ActorDown through the control lane (never held up by a full mailbox),
// failure propagation along links, and what does not propagate.
#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "actor_test_support.hpp"
#include "troupe/actors/actor.hpp"

using namespace std::chrono_literals;
using troupe::ActorDown;
using troupe::ActorOptions;
using troupe::ActorRef;
using troupe::ExitCode;
using troupe::Runtime;
using troupe::RuntimeOptions;
using troupe::testing::Hold;
using troupe::testing::named;
using troupe::testing::two_workers;

namespace {

struct Note {
  int n;
};
struct Boom {};
struct Log {};

// Records what it sees, in order: notes as their number, an ActorDown as -1.
class Watcher {
 public:
  void handle(Note m) { seen_.push_back(m.n); }
  void handle(ActorDown down) {
    seen_.push_back(-1);
    downs_.push_back(std::move(down));
  }
  void handle(Hold m) { m.gate->blocking_wait(); }
  std::vector<int> handle(Log) const { return seen_; }
  ActorDown handle(Boom) const {
    if (downs_.empty()) throw std::logic_error("no ActorDown yet");
    return downs_.back();
  }

 private:
  std::vector<int> seen_;
  std::vector<ActorDown> downs_;
};

class Worker {
 public:
  void handle(Note) {}
  void handle(Boom) { throw std::runtime_error("worker broke"); }
};

}  // namespace

TEST_CASE("a watcher receives ActorDown with the code and reason when the watched actor fails" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorRef<Watcher> watcher = troupe::spawn_actor<Watcher>(rt, named("watcher"));
  ActorRef<Worker> worker = troupe::spawn_actor<Worker>(rt, named("worker"));
  troupe::watch(watcher, worker);
  REQUIRE(worker.tell(Boom{}));
  CHECK(worker.blocking_wait_exit() == ExitCode::failed);
  // The down is posted before the worker's exit wait returns; this ask queues behind it.
  auto down = watcher.blocking_ask(Boom{}, 10s);
  REQUIRE(down);
  CHECK(down->actor == worker.id());
  CHECK(down->name == "worker");
  CHECK(down->code == ExitCode::failed);
  CHECK(down->what == "worker broke");
}

TEST_CASE("watching an actor that has already exited delivers ActorDown at once" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorRef<Watcher> watcher = troupe::spawn_actor<Watcher>(rt, named("watcher"));
  ActorRef<Worker> worker = troupe::spawn_actor<Worker>(rt, named("worker"));
  CHECK(worker.blocking_terminate() == ExitCode::terminated);
  troupe::watch(watcher, worker);
  auto down = watcher.blocking_ask(Boom{}, 10s);
  REQUIRE(down);
  CHECK(down->code == ExitCode::terminated);
}

TEST_CASE("ActorDown overtakes a full mailbox: control messages are never blocked or dropped" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorRef<Watcher> watcher = troupe::spawn_actor<Watcher>(rt, named("busy", 2));
  ActorRef<Worker> worker = troupe::spawn_actor<Worker>(rt, named("worker"));
  troupe::watch(watcher, worker);

  troupe::Latch gate(1);
  REQUIRE(watcher.tell(Hold{&gate}));
  // Fill the mailbox while the handler holds; wait until it has taken Hold.
  while (watcher.stats().received == 0) std::this_thread::yield();
  REQUIRE(watcher.tell(Note{1}));
  REQUIRE(watcher.tell(Note{2}));
  auto refused = watcher.tell(Note{3});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind() == troupe::SendErrorKind::full);  // tell never waits

  CHECK(worker.blocking_terminate() == ExitCode::terminated);  // posts the down: not refused
  gate.count_down();
  auto log = watcher.blocking_ask(Log{}, 10s);  // waits for room (backpressure)
  REQUIRE(log);
  CHECK(*log == std::vector<int>{-1, 1, 2});  // the control lane is taken first
}

TEST_CASE("a failure travels along links; a normal end or terminate does not" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorRef<Worker> a = troupe::spawn_actor<Worker>(rt, named("a"));
  ActorRef<Worker> b = troupe::spawn_actor<Worker>(rt, named("b"));
  ActorRef<Worker> c = troupe::spawn_actor<Worker>(rt, named("c"));
  ActorRef<Worker> calm = troupe::spawn_actor<Worker>(rt, named("calm"));
  ActorRef<Worker> neighbour = troupe::spawn_actor<Worker>(rt, named("neighbour"));
  troupe::link(a, b);
  troupe::link(b, c);  // a chain: a fails, b is stopped, so c is stopped
  troupe::link(calm, neighbour);
  ActorRef<Watcher> watcher = troupe::spawn_actor<Watcher>(rt, named("watcher"));
  troupe::watch(watcher, c);

  REQUIRE(a.tell(Boom{}));
  CHECK(a.blocking_wait_exit() == ExitCode::failed);
  CHECK(b.blocking_wait_exit() == ExitCode::stopped);
  CHECK(c.blocking_wait_exit() == ExitCode::stopped);
  auto down = watcher.blocking_ask(Boom{}, 10s);
  REQUIRE(down);
  CHECK(down->code == ExitCode::stopped);
  CHECK(down->what.find("linked actor") != std::string::npos);
  CHECK(down->what.find("'b'") != std::string::npos);

  CHECK(calm.blocking_terminate() == ExitCode::terminated);
  CHECK(neighbour.is_alive());  // terminate is not a failure
  CHECK(neighbour.blocking_terminate() == ExitCode::terminated);
}
