// pool_vs_spawn.cpp — `troupe demo pool-vs-spawn`: the same N small requests served by a pool
// of warm workers, and by a new actor spawned for each request (Node: Piscina against a
// `new Worker()` per request).
//
//   1. pool:    main ──submit(steps(n)) × N──▶ [ queue ] ──▶ worker 1 … worker W
//                                                            (started once, before the clock)
//               main ◀── PoolFuture<int> × N (get, in order)
//
//   2. spawn:   main ──spawn_actor ──▶ actor n ──ask(Steps{n})──▶ reply ──▶ actor n ends
//                    × N: a new actor per request, dropped once it has answered
//               main ◀── JoinHandle<AskResult<int>> × N (get, in order)
//
// Each request is tiny: the number of Collatz steps from n down to 1 (a few hundred
// arithmetic operations at most). So what is timed is the cost of serving a request, not the
// work.
//
// What to notice:
//  * the pool pays for its threads once: each request is a queue entry and a future;
//  * an actor per request pays for a spawn, a mailbox (of one slot here), a message, a reply
//    and an exit every time — cheap next to a thread or a process (`troupe demo spawn-cost`),
//    but not free; an actor with a thread of its own (ActorOptions::dedicated_thread, the
//    Node Worker's shape) would pay for a thread each time too;
//  * both answer every request the same: the results are compared one by one.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/actors/pool.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/task.hpp"

namespace troupe::demos {
namespace pool_vs_spawn_impl {
namespace {

constexpr std::size_t kWorkers = 4;

// The request's work: Collatz steps from n down to 1.
int collatz_steps(std::uint64_t n) {
  int steps = 0;
  for (; n > 1; ++steps) n = n % 2 == 0 ? n / 2 : 3 * n + 1;
  return steps;
}

struct Steps {
  std::uint64_t n;
};
class Solver {
 public:
  int handle(Steps request) const { return collatz_steps(request.n); }
};

// One request to a fresh actor: the task holds its ActorRef, so the actor lives until the
// reply, then ends by itself (every ActorRef gone).
Task<AskResult<int>> ask_once(ActorRef<Solver> solver, std::uint64_t n) {
  co_return co_await solver.ask(Steps{n}, kPatience);
}

int run(const DemoOptions& options, std::ostream& out) {
  const std::size_t requests = options.quick ? 2'000 : 20'000;
  Outcome outcome(out);
  out << requests << " requests, each the Collatz steps of n = 1.." << requests << '\n';

  out << "1. a pool of " << kWorkers << " workers\n";
  const Clock::time_point warm = Clock::now();
  Pool pool(fixed_pool("collatz", kWorkers));
  pool.wait_ready();
  out << "  its workers started in " << format_since(warm) << " (once, before the clock)\n";
  std::vector<int> pooled;
  pooled.reserve(requests);
  const Clock::time_point pool_start = Clock::now();
  std::vector<PoolFuture<int>> futures;
  futures.reserve(requests);
  for (std::uint64_t n = 1; n <= requests; ++n) {
    // The queue is unbounded: submit never waits, and value() never finds it refused.
    futures.push_back(pool.submit([n] { return collatz_steps(n); }).value());
  }
  for (PoolFuture<int>& future : futures) pooled.push_back(future.get());
  const Clock::duration pool_took = Clock::now() - pool_start;
  out << "  served in " << format_each(pool_took, requests) << '\n';

  out << "2. a new actor per request\n";
  Runtime runtime;
  ActorOptions one_message;
  // One request each: a mailbox of one slot (the default's 1,024 slots are allocated at every
  // spawn, and would be most of its cost: see `troupe demo spawn-cost`).
  one_message.mailbox_capacity = 1;
  std::vector<int> spawned;
  spawned.reserve(requests);
  const Clock::time_point spawn_start = Clock::now();
  std::vector<JoinHandle<AskResult<int>>> answers;
  answers.reserve(requests);
  for (std::uint64_t n = 1; n <= requests; ++n) {
    answers.push_back(runtime.spawn(ask_once(spawn_actor<Solver>(runtime, one_message), n)));
  }
  std::size_t failed_asks = 0;
  for (JoinHandle<AskResult<int>>& answer : answers) {
    AskResult<int> steps = answer.get();
    if (steps) {
      spawned.push_back(*steps);
    } else {
      ++failed_asks;
      spawned.push_back(-1);
    }
  }
  const Clock::duration spawn_took = Clock::now() - spawn_start;
  out << "  served in " << format_each(spawn_took, requests) << '\n';
  out << "an actor per request took " << format_ratio(spawn_took, pool_took)
      << " the pool's time (this run, on this machine)\n";
  out << "n = 27: the pool says " << pooled[26] << " steps, its actor says " << spawned[26] << '\n';

  outcome.expect(failed_asks == 0, "every actor answered its request");
  outcome.expect(pooled == spawned, "the pool and the actors gave the same result for each n");
  pool.close();
  return outcome.finish();
}

}  // namespace
}  // namespace pool_vs_spawn_impl

int run_pool_vs_spawn(const DemoOptions& options, std::ostream& out) {
  return pool_vs_spawn_impl::run(options, out);
}

}  // namespace troupe::demos
