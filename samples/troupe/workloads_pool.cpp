// workloads_pool.cpp — the pool and batch styles: tasks submitted to a troupe::Pool, one by
// one with a future each (pool), or in batches of kBatchTasks with a future per batch (batch).
//
//   pool       n tasks x -> 2x (x = 1..n) on a pool of --threads workers (default 2); the
//              submitter then awaits every future and sums the results
//   pool_cpu   n tasks each computing recursive fib(25) on the pool; measured against the
//              machine's floor in the same run: the same fib(25)s on --threads plain threads
//              with no framework at all (fields floor_seconds and overhead_pct)
//   transfer   the 100 MiB Buffer goes to a pool worker inside a task and comes back as its
//              result, n times, one round trip after the other (a pool of --threads workers,
//              default 1: the one that is spinning for the next task takes it)
//
// --placement spread (the default of pool_cpu and transfer) pins the driver to the first CPU
// and the workers — the pool's, through worker_init, and the floor's alike — round-robin after
// it, so that the floor is the machine's real one: with os placement the kernel often starts both floor
// threads on the driver's core and the floor measures a third slower; for transfer, it often
// leaves the worker on the driver's core, and every round trip is then two threads taking
// turns through sched_yield (0.3-1 M round trips/s instead of 1.2-2.7 M). The pool is ready
// (every worker started) before the clock starts.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "troupe/actors/pool.hpp"
#include "troupe/channels/buffer.hpp"
#include "troupe/runtime/runtime.hpp"
#include "placement.hpp"
#include "workloads.hpp"

namespace troupe::cli {
namespace workloads_pool_impl {
namespace {

using Clock = std::chrono::steady_clock;

// A pool of `workers` threads; under --placement spread, each pins itself as it starts (the
// driver is thread 0, the workers 1, 2...).
Pool make_pool(std::size_t workers, const ThreadPlacement& placement) {
  PoolOptions options;
  options.name = "load";
  options.min_workers = workers;
  options.max_workers = workers;
  options.worker_init = [&placement, next = std::make_shared<std::atomic<std::size_t>>(1)] {
    placement.pin(next->fetch_add(1));
  };
  return Pool(options);
}

// Recursive on purpose (the workload is the call tree); noinline so that the compiler cannot
// fold the n calls of one run into one.
[[gnu::noinline]] std::uint64_t fib(std::uint64_t n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
volatile std::uint64_t fib_argument = 25;  // read at run time: nothing is computed in advance

// What --metrics exports of a pool run. A Pool runs on threads of its own, outside any Runtime,
// and its metrics reach an export only as the process-wide "pools" section of a Runtime's
// snapshot; so a one-worker Runtime is made just to read the sections, after the measured
// phase, and only they are kept: the runtime fields stay zero, as no Runtime ran the workload.
RuntimeMetrics pool_metrics() {
  RuntimeOptions options;
  options.min_threads = 1;
  options.max_threads = 1;
  const Runtime reader(options);
  RuntimeMetrics metrics;
  metrics.sections = reader.metrics().sections;
  return metrics;
}

// The end of every pool-style run: closes the pool, reports its threads and placement, and
// takes the metrics snapshot (the closed pool is still listed until destroyed).
void finish_pool_run(Pool& pool, std::size_t workers, const ThreadPlacement& placement,
                     const LoadParams& params, LoadResult& result) {
  result.threads = workers;
  pool.close();
  result.extras.push_back({"workers", static_cast<std::uint64_t>(workers)});
  result.extras.push_back(placement.field());
  if (params.metrics) result.metrics = pool_metrics();
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr std::uint64_t kBatchTasks = 1024;

// Submits task(x) for x = 1..n, one by one, and sums the results of their futures.
template <class MakeTask>
std::uint64_t submit_each(Pool& pool, std::uint64_t n, MakeTask make_task, LoadResult& result) {
  std::vector<PoolFuture<std::uint64_t>> futures;
  futures.reserve(n);
  for (std::uint64_t x = 1; x <= n; ++x) {
    auto submitted = pool.submit(make_task(x));
    if (!submitted) {
      result.failures.push_back("task " + std::to_string(x) + ": " +
                                submitted.error().message());
      break;
    }
    futures.push_back(std::move(submitted).value());
  }
  std::uint64_t sum = 0;
  for (auto& future : futures) sum += future.get();
  return sum;
}

// The same in batches of kBatchTasks, a future per batch.
template <class MakeTask>
std::uint64_t submit_batches(Pool& pool, std::uint64_t n, MakeTask make_task,
                             LoadResult& result) {
  std::vector<PoolBatch<std::uint64_t>> batches;
  batches.reserve(n / kBatchTasks + 1);
  for (std::uint64_t first = 1; first <= n; first += kBatchTasks) {
    const std::uint64_t end = std::min(n + 1, first + kBatchTasks);
    std::vector<decltype(make_task(first))> tasks;
    tasks.reserve(end - first);
    for (std::uint64_t x = first; x < end; ++x) tasks.push_back(make_task(x));
    auto submitted = pool.submit_batch(std::move(tasks));
    if (!submitted) {
      result.failures.push_back("batch from task " + std::to_string(first) + ": " +
                                submitted.error().message());
      break;
    }
    batches.push_back(std::move(submitted).value());
  }
  std::uint64_t sum = 0;
  for (auto& batch : batches) {
    for (const std::uint64_t value : batch.get()) sum += value;
  }
  return sum;
}

// The measured phase of both workloads: task(x) for x = 1..n on a pool of `workers`, every
// result summed into the check (a refused submit is a failure).
template <class MakeTask>
LoadResult run_on_pool(const LoadParams& params, const ThreadPlacement& placement,
                       MakeTask make_task, bool batched) {
  const std::size_t workers = pool_workers(params);
  Pool pool = make_pool(workers, placement);
  pool.wait_ready();  // every worker started (and pinned) before the clock starts
  LoadResult result;
  const Clock::time_point start = Clock::now();
  const std::uint64_t sum = batched ? submit_batches(pool, params.n, make_task, result)
                                    : submit_each(pool, params.n, make_task, result);
  result.seconds = seconds_since(start);
  result.items = params.n;
  result.check = sum;
  finish_pool_run(pool, workers, placement, params, result);
  result.extras.push_back({"completed", pool.stats().completed});
  return result;
}

LoadResult run_doubling(const LoadParams& params, bool batched) {
  const ThreadPlacement placement(params.placement);
  placement.pin(0);
  return run_on_pool(
      params, placement, [](std::uint64_t x) { return [x] { return 2 * x; }; }, batched);
}

LoadResult run_fib(const LoadParams& params, bool batched) {
  const std::size_t workers = pool_workers(params);
  const ThreadPlacement placement(params.placement);
  placement.pin(0);
  // The floor: the same n fib(25)s split over `workers` plain threads, placed as the pool's
  // workers are.
  std::vector<std::uint64_t> partial(workers, 0);
  const Clock::time_point floor_start = Clock::now();
  {
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < workers; ++t) {
      threads.emplace_back([&partial, &placement, t, workers, n = params.n] {
        placement.pin(t + 1);
        std::uint64_t sum = 0;
        for (std::uint64_t i = t; i < n; i += workers) sum += pool_cpu_task();
        partial[t] = sum;
      });
    }
    for (auto& thread : threads) thread.join();
  }
  const double floor_seconds = seconds_since(floor_start);
  std::uint64_t floor_check = 0;
  for (const std::uint64_t p : partial) floor_check += p;

  LoadResult result = run_on_pool(
      params, placement, [](std::uint64_t) { return [] { return pool_cpu_task(); }; }, batched);
  const std::uint64_t sum = result.check;
  if (floor_check != sum) {
    result.failures.push_back("the floor's threads computed " + std::to_string(floor_check) +
                              ", the pool " + std::to_string(sum));
  }
  result.extras.push_back({"floor_seconds", floor_seconds});
  result.extras.push_back(
      {"overhead_pct", floor_seconds > 0 ? (result.seconds / floor_seconds - 1.0) * 100.0 : 0.0});
  return result;
}

}  // namespace
}  // namespace workloads_pool_impl

std::size_t pool_workers(const LoadParams& params, std::size_t by_default) {
  return params.threads ? static_cast<std::size_t>(*params.threads) : by_default;
}

std::uint64_t pool_cpu_task() {
  return workloads_pool_impl::fib(workloads_pool_impl::fib_argument);
}

namespace workloads_pool_impl {
namespace {

LoadResult run_transfer_pool(const LoadParams& params) {
  const std::size_t workers = pool_workers(params, 1);
  const ThreadPlacement placement(params.placement);
  placement.pin(0);
  Pool pool = make_pool(workers, placement);
  pool.wait_ready();
  Buffer buffer(kTransferBytes);
  TransferBooks books(buffer);
  LoadResult result;
  result.items = params.n;
  const Clock::time_point start = Clock::now();
  for (std::uint64_t trip = 1; trip <= params.n; ++trip) {
    auto submitted = pool.submit([moved = std::move(buffer)]() mutable {
      moved.as<std::uint64_t>()[0] += 1;
      return std::move(moved);
    });
    if (!submitted) {
      result.failures.push_back("round trip " + std::to_string(trip) + ": " +
                                submitted.error().message());
      break;
    }
    buffer = std::move(submitted).value().get();
    books.returned(buffer, trip, result);
  }
  result.seconds = seconds_since(start);
  books.finish(result);
  finish_pool_run(pool, workers, placement, params, result);
  return result;
}

}  // namespace
}  // namespace workloads_pool_impl

LoadResult run_transfer_pool(const LoadParams& params) {
  return workloads_pool_impl::run_transfer_pool(params);
}

LoadResult run_pool_pool(const LoadParams& params) {
  return workloads_pool_impl::run_doubling(params, false);
}
LoadResult run_pool_batch(const LoadParams& params) {
  return workloads_pool_impl::run_doubling(params, true);
}
LoadResult run_pool_cpu_pool(const LoadParams& params) {
  return workloads_pool_impl::run_fib(params, false);
}
LoadResult run_pool_cpu_batch(const LoadParams& params) {
  return workloads_pool_impl::run_fib(params, true);
}

}  // namespace troupe::cli
