// Task-style actors: a coroutine that owns its inbox, with an actor's life around it.
#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <vector>

#include "actor_test_support.hpp"
#include "troupe/actors/task_actor.hpp"

using namespace std::chrono_literals;
using troupe::ActorEvent;
using troupe::ActorOptions;
using troupe::ExitCode;
using troupe::Receiver;
using troupe::Runtime;
using troupe::Sender;
using troupe::Task;
using troupe::TaskActorRef;
using troupe::testing::two_workers;

namespace {

struct Job {
  int n;
};

// Its own loop: scales each job and reports it; ends when the inbox closes.
Task<void> scaler(Receiver<Job>& inbox, Sender<int> out, int scale) {
  while (auto job = co_await inbox.recv()) {
    if (job->n < 0) throw std::invalid_argument("negative job");
    (void)out.try_send(job->n * scale);
  }
}

}  // namespace

TEST_CASE("a task actor runs its own receive loop with its initial data and ends normally when "
          "its inbox closes" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  auto [out_tx, out_rx] = troupe::unbounded_channel<int>();
  auto [events_tx, events_rx] = troupe::unbounded_channel<ActorEvent>();
  ActorOptions options;
  options.name = "scaler";
  options.events = std::move(events_tx);
  std::uint64_t id = 0;
  {
    TaskActorRef<Job> worker = troupe::spawn_task_actor<Job>(rt, std::move(options), scaler,
                                                             std::move(out_tx), 3);
    id = worker.id();
    for (int n : {1, 2, 3}) REQUIRE(worker.tell(Job{n}));
    std::vector<int> got;
    for (int i = 0; i < 3; ++i) got.push_back(*out_rx.recv_for(10s));
    CHECK(got == std::vector<int>{3, 6, 9});
    CHECK(worker.stats().mailbox_depth == 0);
  }  // the last reference is gone: the inbox closes, the loop ends
  std::vector<ActorEvent::Kind> kinds;
  for (;;) {
    auto event = events_rx.recv_for(10s);
    REQUIRE(event);
    CHECK(event->actor == id);
    kinds.push_back(event->kind);
    if (event->kind == ActorEvent::Kind::exit) {
      CHECK(event->code == ExitCode::normal);
      break;
    }
  }
  CHECK(kinds == std::vector<ActorEvent::Kind>{ActorEvent::Kind::online, ActorEvent::Kind::exit});
}

TEST_CASE("a task actor that throws fails; terminate stops one waiting at an await and turns "
          "its queue into dead letters" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  auto [out_tx, out_rx] = troupe::unbounded_channel<int>();
  TaskActorRef<Job> fragile =
      troupe::spawn_task_actor<Job>(rt, ActorOptions{}, scaler, out_tx.clone(), 1);
  REQUIRE(fragile.tell(Job{-1}));
  CHECK(fragile.blocking_wait_exit() == ExitCode::failed);
  auto late = fragile.tell(Job{1});
  REQUIRE_FALSE(late);
  CHECK(late.error().is_closed());
  CHECK(fragile.stats().dead_letters == 1);

  // An actor that waits on something else entirely while its inbox fills.
  auto [never_tx, never_rx] = troupe::channel<int>(1);
  ActorOptions bounded;
  bounded.mailbox_capacity = 4;
  bounded.overflow = troupe::Overflow::reject;
  TaskActorRef<Job> stuck = troupe::spawn_task_actor<Job>(
      rt, std::move(bounded),
      [](Receiver<Job>&, Receiver<int> never) -> Task<void> { (void)co_await never.recv(); },
      std::move(never_rx));
  for (int i = 0; i < 4; ++i) REQUIRE(stuck.tell(Job{i}));
  auto full = stuck.tell(Job{9});
  REQUIRE_FALSE(full);
  CHECK(full.error().is_full());
  CHECK(stuck.stats().rejected == 1);
  CHECK(stuck.blocking_terminate() == ExitCode::terminated);
  CHECK(stuck.stats().dead_letters == 4);
}

TEST_CASE("options a task actor cannot honour are refused" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  const auto idle = [](Receiver<Job>&) -> Task<void> { co_return; };
  ActorOptions dropping;
  dropping.overflow = troupe::Overflow::drop_oldest;
  CHECK_THROWS_WITH_AS(troupe::spawn_task_actor<Job>(rt, dropping, idle),
                       doctest::Contains("backpressure or reject"), troupe::Error);
  ActorOptions named;
  named.name = "x";
  named.register_name = true;
  CHECK_THROWS_AS(troupe::spawn_task_actor<Job>(rt, named, idle), troupe::Error);
}
