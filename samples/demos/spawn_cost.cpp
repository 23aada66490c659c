// spawn_cost.cpp — `troupe demo spawn-cost`: what it costs to start one unit of concurrency: an
// actor, an OS thread, a child process (1,000 of each; Node: a Worker is a thread with a
// JavaScript engine of its own, which costs milliseconds to start).
//
//   actors:     main ──spawn_actor × N──▶ N actors, tasks on the runtime's few worker threads
//                                         each: constructor, 'online'; every ActorRef dropped
//                                         ──▶ each ends by itself: 'exit (normal)'
//               twice: with the default mailbox (a ring of 1,024 slots), then with 16 slots
//   threads:    main ──std::thread × N──▶ N kernel threads, each counts itself; join × N
//   processes:  main ──posix_spawn("/bin/true") × N──▶ N processes: exec, run, exit;
//                                                      waitpid × N
//
// Each kind is started all at once, then waited for until every one has finished; the time is
// the wall time of the whole round, and "each" is that divided by N.
//
// What to notice:
//  * an actor is a task with a mailbox: starting one allocates memory and queues it on a
//    worker — no system call, no stack of its own;
//  * most of that memory is the mailbox: a bounded mailbox allocates (and initialises) all its
//    slots when the actor is spawned, so the default capacity of 1,024 costs far more than
//    the actor itself; an actor that is sent a few messages at a time starts several times
//    faster with a small ActorOptions::mailbox_capacity;
//  * a thread costs system calls, a stack mapping and a place in the kernel's scheduler;
//  * a process costs all of that plus an address space and loading a program: orders of
//    magnitude more than an actor. That is the price of a worker per request, and why pools
//    (`troupe demo pool-vs-spawn`) keep their workers.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <thread>
#include <utility>
#include <vector>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe::demos {
namespace spawn_cost_impl {
namespace {

// How a round went: how many units started and finished, and how long the round took.
struct Round {
  std::size_t started = 0;
  std::size_t finished = 0;
  Clock::duration took{0};
};

constexpr std::size_t kSmallMailbox = 16;

struct Nothing {};
// An actor with nothing to do: its cost is the cost of being an actor.
class Idle {
 public:
  void handle(Nothing /*unused*/) {}
};

Round start_actors(Runtime& runtime, std::size_t n, std::size_t mailbox_capacity) {
  auto [events_tx, events] = unbounded_channel<ActorEvent>();
  Round round;
  const Clock::time_point start = Clock::now();
  {
    std::vector<ActorRef<Idle>> actors;
    actors.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      ActorOptions options;
      options.events = events_tx;
      options.mailbox_capacity = mailbox_capacity;
      actors.push_back(spawn_actor<Idle>(runtime, std::move(options)));
    }
  }  // every ActorRef dropped: each actor ends by itself once it has started
  while (round.finished < n) {
    auto event = events.recv_for(kPatience);
    if (!event) break;  // a lost actor: the check below says so
    if (event->kind == ActorEvent::Kind::online) ++round.started;
    if (event->kind == ActorEvent::Kind::exit && event->code == ExitCode::normal) {
      ++round.finished;
    }
  }
  round.took = Clock::now() - start;
  return round;
}

Round start_threads(std::size_t n) {
  std::atomic<std::size_t> ran{0};
  Round round;
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    threads.emplace_back([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  }
  for (std::thread& thread : threads) {
    thread.join();
    ++round.finished;
  }
  round.took = Clock::now() - start;
  round.started = ran.load(std::memory_order_relaxed);  // the joins ordered every increment
  return round;
}

Round start_processes(std::size_t n) {
  static char program[] = "/bin/true";
  char* const argv[] = {program, nullptr};
  Round round;
  const Clock::time_point start = Clock::now();
  std::vector<pid_t> children;
  children.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    pid_t pid = 0;
    if (posix_spawn(&pid, program, nullptr, nullptr, argv, environ) == 0) children.push_back(pid);
  }
  round.started = children.size();
  for (const pid_t pid : children) {
    int status = 0;
    if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      ++round.finished;
    }
  }
  round.took = Clock::now() - start;
  return round;
}

void report(const char* what, std::size_t n, const Round& round, std::ostream& out) {
  out << "  " << what << round.started << " started, " << round.finished << " finished in "
      << format_each(round.took, n) << '\n';
}

int run(const DemoOptions& options, std::ostream& out) {
  const std::size_t n = options.quick ? 100 : 1'000;
  Outcome outcome(out);
  Runtime runtime;  // made before the clock starts: its worker threads are not the actors' cost
  out << "starting " << n << " of each, all at once, and waiting until every one has finished\n";

  const Round actors = start_actors(runtime, n, ActorOptions{}.mailbox_capacity);
  report("actors, mailbox of 1024: ", n, actors, out);
  const Round small_actors = start_actors(runtime, n, kSmallMailbox);
  report("actors, mailbox of 16:   ", n, small_actors, out);
  const Round threads = start_threads(n);
  report("threads:                 ", n, threads, out);
  const Round processes = start_processes(n);
  report("processes:               ", n, processes, out);
  out << "against an actor with a mailbox of 16 (this run, on this machine):\n"
      << "  the default mailbox cost " << format_ratio(actors.took, small_actors.took)
      << ", a thread " << format_ratio(threads.took, small_actors.took) << ", a process "
      << format_ratio(processes.took, small_actors.took) << '\n';

  outcome.expect(actors.started == n && actors.finished == n && small_actors.started == n &&
                     small_actors.finished == n,
                 "every actor started ('online') and finished ('exit (normal)')");
  outcome.expect(threads.started == n && threads.finished == n, "every thread ran and was joined");
  outcome.expect(processes.started == n && processes.finished == n,
                 "every process was spawned and exited with status 0");
  return outcome.finish();
}

}  // namespace
}  // namespace spawn_cost_impl

int run_spawn_cost(const DemoOptions& options, std::ostream& out) {
  return spawn_cost_impl::run(options, out);
}

}  // namespace troupe::demos
