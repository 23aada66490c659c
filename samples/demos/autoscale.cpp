// autoscale.cpp — `troupe demo autoscale`: a pool that sizes itself to its load, and
// priorities that let a late task overtake the queue (Piscina's minThreads, maxThreads,
// idleTimeout and priority).
//
//   1. spike:    pool (min 1, max 4) ◀── 8 tasks at once, each held until main opens a gate
//                more tasks queued than workers idle ──▶ a worker added, and again: 1 → 4
//                4 running, 4 queued: it stops at max_workers
//   2. idle:     the gate opens, the 8 finish, nothing more comes
//                a worker idle for idle_timeout exits while more than min run: 4 → 1
//   3. priority: a pool of 1 worker, busy; queued behind it: low 0 … low 4, then HIGH
//                (priority 10, submitted last) ──▶ the worker frees up: HIGH runs first,
//                then the lows in submission order
//
// What to notice:
//  * nobody resizes the pool: it grows because tasks wait while no worker is idle, and
//    shrinks because workers find nothing to do; PoolStats shows workers alive, started and
//    retired;
//  * idle_timeout is short here (so the demo does not wait); a real pool keeps workers
//    longer, so that a burst that comes back finds them warm;
//  * priorities order the queue, not the workers: the task that is already running is never
//    interrupted. Scene 3 uses one worker so that the queue's order is the order of finishing
//    (with several workers, tasks taken a moment apart could finish either way).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/pool.hpp"
#include "troupe/runtime/sync.hpp"

namespace troupe::demos {
namespace autoscale_impl {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kMin = 1;
constexpr std::size_t kMax = 4;
constexpr std::size_t kLows = 5;

std::string sizes(const PoolStats& stats) {
  return "workers " + std::to_string(stats.workers) + " alive, " + std::to_string(stats.running) +
         " running, " + std::to_string(stats.queued) + " queued; " +
         std::to_string(stats.workers_started) + " started, " +
         std::to_string(stats.workers_retired) + " retired so far";
}

// Scenes 1 and 2: grows `pool` with a spike of held tasks, then lets it go idle and shrink.
void spike_then_idle(Pool& pool, std::chrono::milliseconds idle_timeout, Outcome& outcome,
                     std::ostream& out) {
  out << "1. spike: " << 2 * kMax << " tasks at once, each held until a gate opens\n";
  Latch gate(1);
  Latch all_busy(1);  // opened by the task that finds kMax tasks running at once
  std::atomic<std::size_t> started{0};
  std::vector<PoolFuture<void>> spike;
  for (std::size_t i = 0; i < 2 * kMax; ++i) {
    spike.push_back(pool.submit([&gate, &all_busy, &started] {
                          if (started.fetch_add(1) + 1 == kMax) all_busy.count_down();
                          gate.blocking_wait();
                        })
                        .value());  // the queue is unbounded: never refused
  }
  const bool busy = all_busy.blocking_wait_for(kPatience);
  const PoolStats peak = pool.stats();
  out << "  at the peak: " << sizes(peak) << '\n';
  gate.count_down();
  for (PoolFuture<void>& task : spike) task.get();
  outcome.expect(busy && peak.workers == kMax && peak.running == kMax && peak.queued == kMax,
                 "the spike grew the pool from 1 to its max of 4 workers, the rest queued");

  out << "2. idle: nothing more to do; idle_timeout is " << idle_timeout.count() << " ms\n";
  pool.wait_idle();
  const Clock::time_point idle_since = Clock::now();
  PoolStats now = pool.stats();
  // No event says "a worker retired": look again every quarter of the timeout.
  while (now.workers > kMin && Clock::now() - idle_since < kPatience) {
    std::this_thread::sleep_for(idle_timeout / 4);
    now = pool.stats();
  }
  out << "  after " << format_since(idle_since) << ": " << sizes(now) << '\n';
  outcome.expect(now.workers == kMin && now.workers_retired == kMax - kMin,
                 "idleness shrank it back to its min of 1 worker (3 retired)");
}

// Scene 3: on a one-worker pool, a high-priority task submitted after the low ones.
void priorities(Outcome& outcome, std::ostream& out) {
  out << "3. priorities: one worker, busy; " << kLows
      << " low tasks queued, then a HIGH one (priority 10)\n";
  Pool one(fixed_pool("one-worker", 1));
  Latch running(1);
  Latch release(1);
  PoolFuture<void> blocker = one.submit([&running, &release] {
                                  running.count_down();
                                  release.blocking_wait();
                                })
                                 .value();
  const bool blocked = running.blocking_wait_for(kPatience);  // the worker is taken
  std::atomic<int> finished{0};  // each task's place in the finishing order
  const auto place = [&finished] { return finished.fetch_add(1); };
  std::vector<PoolFuture<int>> lows;
  for (std::size_t i = 0; i < kLows; ++i) lows.push_back(one.submit(place, 0).value());
  PoolFuture<int> high = one.submit(place, 10).value();
  release.count_down();
  blocker.get();

  std::vector<std::string> order(kLows + 1);
  bool lows_in_order = true;
  for (std::size_t i = 0; i < kLows; ++i) {
    const int at = lows[i].get();
    lows_in_order = lows_in_order && at == static_cast<int>(i) + 1;
    if (at >= 0 && at <= static_cast<int>(kLows)) order[at] = "low " + std::to_string(i);
  }
  const int high_at = high.get();
  if (high_at >= 0 && high_at <= static_cast<int>(kLows)) order[high_at] = "HIGH";
  out << "  finishing order:";
  for (const std::string& name : order) out << ' ' << name << (&name != &order.back() ? "," : "");
  out << '\n';
  outcome.expect(blocked && high_at == 0, "the high-priority task, submitted last, ran first");
  outcome.expect(lows_in_order, "the low ones kept their submission order after it");
}

int run(const DemoOptions& options, std::ostream& out) {
  const auto idle_timeout = options.quick ? 40ms : 300ms;
  Outcome outcome(out);
  PoolOptions pool_options;
  pool_options.name = "elastic";
  pool_options.min_workers = kMin;
  pool_options.max_workers = kMax;
  pool_options.idle_timeout = idle_timeout;
  Pool pool(pool_options);
  pool.wait_ready();
  out << "a pool with min " << kMin << ", max " << kMax
      << " workers; at rest: " << sizes(pool.stats()) << '\n';
  spike_then_idle(pool, idle_timeout, outcome, out);
  priorities(outcome, out);
  return outcome.finish();
}

}  // namespace
}  // namespace autoscale_impl

int run_autoscale(const DemoOptions& options, std::ostream& out) {
  return autoscale_impl::run(options, out);
}

}  // namespace troupe::demos
