// pool.cpp — `troupe demo pool`: 100 CPU-bound tasks on a pool of 4 worker threads, and what
// the pool's stats say about them (Piscina's job).
//
//   main ──submit(task 0..99)──▶ [ queue ] ──▶ worker 1 ┐
//        ◀── PoolFuture<long> ─┐               worker 2 ├─ each task counts the primes in
//                              │               worker 3 │  its own range of numbers
//                              │               worker 4 ┘
//        future.get() ─────────┘  (in submission order; each blocks until its task is done)
//
// What to notice:
//  * submit() returns at once with a future; the 100 tasks queue and the 4 workers take
//    them one at a time: most of a task's life is waiting (wait p50) rather than running;
//  * the workers are threads of the pool's own, not the runtime's, so CPU-bound work there
//    never starves actors; on a machine with fewer cores than workers the run times stretch
//    (the workers share the cores), which the run histogram shows;
//  * PoolStats: completed, the wait (queued -> started) and run (started -> returned)
//    histograms, p50 and p99 within a factor of two (upper bounds), exact maxima, and
//    utilization: run time over (wall time x workers).
#include <cstdint>
#include <vector>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/pool.hpp"

namespace troupe::demos {
namespace pool_impl {
namespace {

constexpr std::size_t kTasks = 100;
constexpr std::size_t kWorkers = 4;

// Trial division: deliberately plain CPU work.
long primes_in(std::uint64_t begin, std::uint64_t end) {
  long count = 0;
  for (std::uint64_t n = begin < 2 ? 2 : begin; n < end; ++n) {
    bool prime = true;
    for (std::uint64_t d = 2; d * d <= n; ++d) {
      if (n % d == 0) {
        prime = false;
        break;
      }
    }
    count += prime ? 1 : 0;
  }
  return count;
}

// The same count by a sieve, to check the tasks' sum.
long primes_below(std::uint64_t end) {
  std::vector<bool> composite(end, false);
  long count = 0;
  for (std::uint64_t n = 2; n < end; ++n) {
    if (composite[n]) continue;
    ++count;
    for (std::uint64_t m = n * n; m < end; m += n) composite[m] = true;
  }
  return count;
}

std::string quantiles(const TimeHistogram& histogram) {
  return "p50 <= " + format_duration(std::chrono::nanoseconds(histogram.quantile_ns(0.5))) +
         ", p99 <= " + format_duration(std::chrono::nanoseconds(histogram.quantile_ns(0.99)));
}

int run(const DemoOptions& options, std::ostream& out) {
  const std::uint64_t span = options.quick ? 2'000 : 20'000;  // numbers per task
  Outcome outcome(out);

  Pool pool(fixed_pool("primes", kWorkers));
  out << "a pool of " << kWorkers << " workers; " << kTasks << " tasks, each counting the primes"
      << " in " << span << " numbers\n";

  const Clock::time_point start = Clock::now();
  std::vector<PoolFuture<long>> futures;
  for (std::uint64_t task = 0; task < kTasks; ++task) {
    // The queue is unbounded: submit never waits, and value() never finds it refused.
    futures.push_back(
        pool.submit([begin = task * span, span] { return primes_in(begin, begin + span); })
            .value());
  }
  out << "submitted " << kTasks << " tasks in " << format_since(start) << '\n';
  long total = 0;
  for (PoolFuture<long>& future : futures) total += future.get();
  out << "all " << kTasks << " futures resolved after " << format_since(start) << ": "
      << total << " primes below " << kTasks * span << '\n';

  pool.wait_idle();  // the books are final once nothing runs
  const PoolStats stats = pool.stats();
  out << "stats:\n"
      << "  completed    " << stats.completed << " (failed " << stats.failed << ")\n"
      << "  workers      " << stats.workers_started << " started\n"
      << "  wait         " << quantiles(stats.wait_time) << ", max "
      << format_duration(std::chrono::nanoseconds(stats.max_wait_ns)) << '\n'
      << "  run          " << quantiles(stats.run_time) << ", max "
      << format_duration(std::chrono::nanoseconds(stats.max_run_ns)) << '\n'
      << "  utilization  " << static_cast<int>(stats.utilization * 100 + 0.5) << "%\n";

  outcome.expect(total == primes_below(kTasks * span), "the tasks' counts add up (a sieve agrees)");
  outcome.expect(stats.completed == kTasks && stats.failed == 0,
                 "the stats count every task completed");
  outcome.expect(stats.workers_started == kWorkers, "the pool ran exactly its 4 workers");
  pool.close();
  return outcome.finish();
}

}  // namespace
}  // namespace pool_impl

int run_pool(const DemoOptions& options, std::ostream& out) {
  return pool_impl::run(options, out);
}

}  // namespace troupe::demos
