// rolling_update.cpp — `troupe demo rolling-update`: every worker of a pool replaced by one
// running new code while tasks keep coming, and no task lost or run twice.
//
//   submitter thread ──submit(task 0, 1, 2, …)──▶ [ queue, bounded: 64 ] ──▶ 3 workers, v1
//                                    │ (waits for room: traffic at the pool's own pace)
//   main, mid-stream: pool.replace_workers(init v2)
//        each v1 worker finishes the task in its hands, leaves, and a new worker that ran
//        init v2 takes its place; the queue is not touched
//   replace_workers returns once every worker alive runs v2 ──▶ main raises a flag
//   the submitter goes on; each task records the code version of the worker that ran it
//
// The "code" is a thread_local the worker's init sets: what worker_init is for — warm state
// (a loaded model, a connection, a config) that each worker thread keeps for its tasks.
//
// What to notice:
//  * submissions never stop during the update, and no worker count dips: an old worker starts
//    its replacement as it leaves;
//  * every task runs once, on an old worker or a new one: the futures all resolve with their
//    own task's number, and the pool's books balance (completed = submitted);
//  * a task submitted after replace_workers returned runs the new code — that is the promise
//    a deploy script needs; tasks submitted before it may run either version.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/pool.hpp"
#include "troupe/runtime/sync.hpp"

namespace troupe::demos {
namespace rolling_update_impl {
namespace {

constexpr std::size_t kWorkers = 3;
constexpr std::size_t kQueue = 64;

// The code version of the worker thread that runs a task, set by the pool's worker_init.
thread_local int code_version = 0;

// What a task hands back: which task it was, the code version that ran it, and its answer.
struct Served {
  std::uint64_t task = 0;
  int version = 0;
  std::uint64_t answer = 0;
};

// A small request's work (a few microseconds), so that tasks queue and the update happens
// with tasks in the queue and in the workers' hands.
std::uint64_t work(std::uint64_t seed) {
  std::uint64_t x = seed + 1;
  for (int i = 0; i < 2'000; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}

// What the submitter thread sent: a future per task, and whether it was submitted after main
// saw replace_workers return.
struct Stream {
  std::vector<PoolFuture<Served>> futures;
  std::vector<bool> after_update;
};

int run(const DemoOptions& options, std::ostream& out) {
  const std::size_t before = options.quick ? 300 : 5'000;  // tasks before the update starts
  const std::size_t after = options.quick ? 300 : 5'000;   // tasks after it returned
  Outcome outcome(out);
  PoolOptions pool_options = fixed_pool("service", kWorkers);
  pool_options.max_queue = kQueue;  // QueueFull::wait: the submitter waits for room
  pool_options.worker_init = [] { code_version = 1; };
  Pool pool(pool_options);
  pool.wait_ready();
  out << kWorkers << " workers running code v1; a submitter thread starts sending tasks\n";

  Latch under_way(1);                // opened after `before` submissions
  std::atomic<bool> updated{false};  // raised once replace_workers has returned
  Stream stream;
  std::thread submitter([&] {
    std::size_t sent_after = 0;
    for (std::uint64_t i = 0; sent_after < after; ++i) {
      const bool late = updated.load(std::memory_order_acquire);
      // Bounded queue under QueueFull::wait: submit blocks for room, never refuses.
      stream.futures.push_back(pool.submit([i] {
                                     return Served{i, code_version, work(i)};
                                   })
                                   .value());
      stream.after_update.push_back(late);
      sent_after += late ? 1 : 0;
      if (i + 1 == before) under_way.count_down();
    }
  });

  const bool started = under_way.blocking_wait_for(kPatience);
  out << "main: " << before << " tasks submitted; replace_workers(init v2) under traffic\n";
  const Clock::time_point update_start = Clock::now();
  pool.replace_workers([] { code_version = 2; });
  updated.store(true, std::memory_order_release);
  out << "main: replace_workers returned after " << format_since(update_start)
      << "; every worker alive runs v2\n";
  submitter.join();

  std::size_t own_number = 0;
  std::size_t ran_v1 = 0;
  std::size_t ran_v2 = 0;
  std::size_t late_on_v1 = 0;
  for (std::size_t i = 0; i < stream.futures.size(); ++i) {
    const Served served = stream.futures[i].get();
    own_number += served.task == i ? 1 : 0;
    ran_v1 += served.version == 1 ? 1 : 0;
    ran_v2 += served.version == 2 ? 1 : 0;
    late_on_v1 += stream.after_update[i] && served.version != 2 ? 1 : 0;
  }
  pool.wait_idle();  // the books are final once nothing runs
  const PoolStats stats = pool.stats();
  const std::size_t submitted = stream.futures.size();
  out << "submitted " << submitted << " tasks: " << ran_v1 << " ran on v1, " << ran_v2 << " on v2; "
      << after << " were submitted after the update returned, " << late_on_v1 << " of them on v1\n"
      << "pool: completed " << stats.completed << ", failed " << stats.failed << ", cancelled "
      << stats.cancelled << "; workers started " << stats.workers_started << ", replaced "
      << stats.workers_recycled << "; generation " << stats.generation << '\n';

  outcome.expect(started, "the update began under traffic");
  outcome.expect(own_number == submitted && stats.submitted == submitted &&
                     stats.completed == submitted && stats.failed == 0 && stats.cancelled == 0,
                 "every task ran exactly once: each future has its own task's result, and "
                 "completed = submitted");
  outcome.expect(ran_v1 + ran_v2 == submitted && ran_v1 > 0,
                 "each task ran on v1 or v2, and the early ones on v1");
  outcome.expect(late_on_v1 == 0, "every task submitted after replace_workers returned ran v2");
  outcome.expect(stats.workers_recycled == kWorkers && stats.generation == 1,
                 "all 3 workers were replaced, in one update");
  pool.close();
  return outcome.finish();
}

}  // namespace
}  // namespace rolling_update_impl

int run_rolling_update(const DemoOptions& options, std::ostream& out) {
  return rolling_update_impl::run(options, out);
}

}  // namespace troupe::demos
