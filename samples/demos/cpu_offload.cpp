// cpu_offload.cpp — `troupe demo cpu-offload`: keep the main thread responsive by moving a
// long computation to an actor on a thread of its own (Node: the Worker that keeps the event
// loop free).
//
//   1. inline:    main ── fib(n) ──────────────────────────────▶ heartbeats? none until it ends
//
//   2. offloaded: main ──ask(Fib{n})──▶ fib actor (dedicated_thread: its own OS thread)
//                 main: ♥ ♥ ♥ ♥ ♥ ♥ … every 50 ms, on time      │ fib(n), recursive
//                 main ◀──────────────── the reply ──────────────┘
//
// What to notice:
//  * computed inline, fib(n) holds the main thread: heartbeat 1 comes only after the whole
//    computation, late by nearly all of it;
//  * offloaded, the heartbeats keep their schedule (late by a scheduling hiccup at most) while
//    the actor computes: the ask runs as a task (`rt.spawn(ref.ask(...))`), and main polls its
//    JoinHandle between heartbeats instead of blocking on it;
//  * ActorOptions::dedicated_thread gives the actor a thread of its own, so a handler that
//    runs for a long time never holds one of the runtime's workers (and their timers).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <utility>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe::demos {
namespace cpu_offload_impl {
namespace {

using namespace std::chrono_literals;

constexpr auto kHeartbeat = 50ms;

// Deliberately slow: ~1.6^n calls. That is the point.
std::uint64_t slow_fib(unsigned n) { return n < 2 ? n : slow_fib(n - 1) + slow_fib(n - 2); }

std::uint64_t fast_fib(unsigned n) {
  std::uint64_t a = 0;
  std::uint64_t b = 1;
  for (unsigned i = 0; i < n; ++i) b = std::exchange(a, b) + b;
  return a;
}

struct Fib {
  unsigned n;
};
class Fibber {
 public:
  std::uint64_t handle(Fib fib) const { return slow_fib(fib.n); }
};

// Heartbeats on the main thread, due every kHeartbeat from `start`, until `done()` holds (at
// least one), each printed with how late it came; returns the worst lateness.
template <class Done>
Clock::duration heartbeats_until(Clock::time_point start, Done done, std::ostream& out) {
  Clock::duration worst{0};
  for (int beat = 1;; ++beat) {
    const Clock::time_point due = start + beat * kHeartbeat;
    std::this_thread::sleep_until(due);  // the heartbeat's schedule: this is what it shows
    const Clock::duration late = Clock::now() - due;
    worst = std::max(worst, late);
    out << "  heartbeat " << beat << " at " << format_since(start) << " (late "
        << format_duration(late) << ")\n";
    if (done()) return worst;
  }
}

int run(const DemoOptions& options, std::ostream& out) {
  const unsigned n = options.quick ? 32 : 42;  // 42: a few hundred ms, even at -O3
  const std::uint64_t expected = fast_fib(n);
  Outcome outcome(out);

  out << "1. inline: the main thread computes fib(" << n << ") itself\n";
  const Clock::time_point inline_start = Clock::now();
  const std::uint64_t inline_result = slow_fib(n);  // heartbeat 1, due at 50 ms, waits for it
  const Clock::duration inline_late = heartbeats_until(inline_start, [] { return true; }, out);
  out << "  fib(" << n << ") = " << inline_result << " after " << format_since(inline_start)
      << "; worst heartbeat lateness " << format_duration(inline_late) << '\n';

  out << "2. offloaded: an actor on its own thread computes fib(" << n
      << "), main keeps beating\n";
  Runtime runtime;
  ActorOptions actor_options;
  actor_options.name = "fib";
  actor_options.dedicated_thread = true;
  ActorRef<Fibber> fibber = spawn_actor<Fibber>(runtime, std::move(actor_options));
  const Clock::time_point offload_start = Clock::now();
  // The ask runs as a task on the runtime: main holds a handle, not a blocked thread.
  JoinHandle<AskResult<std::uint64_t>> answer =
      runtime.spawn(fibber.ask(Fib{n}, std::chrono::seconds(60)));
  const Clock::duration offload_late =
      heartbeats_until(offload_start, [&answer] { return answer.is_finished(); }, out);
  AskResult<std::uint64_t> offloaded = answer.get();
  if (offloaded) {
    out << "  fib(" << n << ") = " << *offloaded << " after " << format_since(offload_start)
        << "; worst heartbeat lateness " << format_duration(offload_late) << '\n';
  } else {
    out << "  the ask failed: " << offloaded.error().message() << '\n';
  }

  outcome.expect(inline_result == expected, "fib computed inline is right");
  outcome.expect(offloaded && *offloaded == expected, "fib computed by the actor is right");
  return outcome.finish();
}

}  // namespace
}  // namespace cpu_offload_impl

int run_cpu_offload(const DemoOptions& options, std::ostream& out) {
  return cpu_offload_impl::run(options, out);
}

}  // namespace troupe::demos
