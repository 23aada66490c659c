// workloads_naive.cpp — the naive style, the baseline of `troupe load <w> --compare naive`: the
// code a developer writes by hand without troupe. Every actor is one std::thread with one
// queue (std::deque under a std::mutex, a std::condition_variable to sleep on while it is
// empty; bounded where the troupe workload is, with a second one to sleep on while it is full).
// Nothing here uses troupe: no channel, no runtime, no Pool, no Buffer.
//
//   pingpong   ping thread ──int64──▶ pong thread ──int64+1──▶ ping thread, n round trips
//   ring       1,000 threads, each passing the token to the next queue: n hops
//   fanin      producer thread ×4 ──int64──▶ one queue ──▶ consumer thread
//   transfer   driver thread ──100 MiB (unique_ptr)──▶ worker thread ──▶ driver, n times
//   pool       driver ──std::function──▶ one queue ──▶ --threads worker threads (default 2),
//              a std::packaged_task's std::future per task: x -> 2x, x = 1..n
//   pool_cpu   the same hand-written pool, every task recursive fib(25)
//   pipeline   source thread ──1..n──▶ [capacity] ──▶ map thread (x3) ──▶ [capacity] ──▶ sink
//              thread (sums); --capacity default 1024, as the troupe pipeline's
//
// skynet has none: one std::thread per actor is 1,111,111 threads for its 1,000,000 leaves
// (compare.cpp refuses it, saying so).
//
// Measured phase: the threads are created and waiting first (on their queue, or producers on
// a Gate; a pool's workers have all started); it starts when the first message is sent (or the
// gate opens, or the first task is submitted) and ends when the last one is handled. The checks
// are the spec's, computed the same way as in the other styles.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "placement.hpp"
#include "workloads.hpp"

namespace troupe::cli {
namespace workloads_naive_impl {
namespace {

using Clock = std::chrono::steady_clock;
using Value = std::int64_t;

// A multi-producer, multi-consumer queue, the textbook way: a deque under a mutex, consumers
// sleeping on a condition variable while it is empty. Unbounded by default; with a bound,
// producers sleep on a second condition variable while it is full. close() wakes every consumer;
// pop() then drains what is left and returns nullopt. Only producers close, after their last
// push (a push after close() is still delivered). Thread-safety: every member may be called
// from any thread.
template <class T>
class NaiveQueue {
 public:
  NaiveQueue() = default;
  // At most `bound` items (>= 1) queued: push() waits for room.
  explicit NaiveQueue(std::size_t bound) : bound_(bound) {}

  void push(T value) {
    {
      std::unique_lock lock(mutex_);
      if (bound_) room_.wait(lock, [&] { return items_.size() < *bound_; });
      items_.push_back(std::move(value));
    }
    ready_.notify_one();
  }
  void close() {
    {
      const std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }
  // The oldest item, waiting for one; nullopt once closed and empty.
  std::optional<T> pop() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return std::nullopt;
    T value = std::move(items_.front());
    items_.pop_front();
    if (bound_) {
      lock.unlock();
      room_.notify_one();
    }
    return value;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;  // an item was pushed, or the queue closed
  std::condition_variable room_;   // bounded: an item was popped
  std::deque<T> items_;
  std::optional<std::size_t> bound_;  // nullopt: unbounded
  bool closed_ = false;
};

// The thread pool a developer writes by hand (the well-known ThreadPool.h pattern): `workers`
// threads pull std::function<void()> from one NaiveQueue; submit() wraps the callable in a
// std::packaged_task (held by a shared_ptr, as std::function must be copyable) whose
// std::future carries the result back. The destructor closes the queue, and the workers finish
// what is queued, then end. Thread-safety: submit() from any thread; wait_ready() from any.
class NaivePool {
 public:
  // Worker i (from 0) pins itself as the run's thread i + 1 (the driver is 0).
  NaivePool(std::size_t workers, const ThreadPlacement& placement)
      : started_(static_cast<std::ptrdiff_t>(workers)) {
    threads_.reserve(workers);
    try {
      for (std::size_t i = 0; i < workers; ++i) {
        threads_.emplace_back([this, &placement, i] {
          placement.pin(i + 1);
          started_.count_down();
          while (const auto task = tasks_.pop()) (*task)();
        });
      }
    } catch (...) {  // no thread: the ones started must end before threads_ joins them
      tasks_.close();
      throw;
    }
  }
  NaivePool(const NaivePool&) = delete;
  NaivePool& operator=(const NaivePool&) = delete;
  ~NaivePool() { tasks_.close(); }  // then threads_ joins, before tasks_ is destroyed

  // Every worker has started (and pinned itself).
  void wait_ready() { started_.wait(); }

  template <class F>
  [[nodiscard]] std::future<std::invoke_result_t<F>> submit(F task) {
    auto packaged =
        std::make_shared<std::packaged_task<std::invoke_result_t<F>()>>(std::move(task));
    auto future = packaged->get_future();
    tasks_.push([packaged] { (*packaged)(); });
    return future;
  }

 private:
  NaiveQueue<std::function<void()>> tasks_;
  std::latch started_;
  std::vector<std::jthread> threads_;  // last: joined first
};

// Holds threads until open() (the start of the measured phase). Thread-safety: any thread.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mutex_);
    opened_cv_.wait(lock, [&] { return opened_; });
  }
  void open() {
    {
      const std::lock_guard lock(mutex_);
      opened_ = true;
    }
    opened_cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_cv_;
  bool opened_ = false;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

LoadResult naive_result(const LoadParams& params, double seconds, std::uint64_t check,
                        std::uint64_t threads, const ThreadPlacement& placement) {
  return {.items = params.n,
          .seconds = seconds,
          .check = check,
          .threads = threads,
          .extras = {{"queue", std::string("std::deque + std::mutex + std::condition_variable")},
                     placement.field()},
          .failures = {},
          .metrics = std::nullopt};  // no troupe: --metrics is refused for this style
}

// pingpong: the ping thread sends 0, pong returns value + 1, n times; the check is the last
// value, n.
LoadResult run_pingpong_naive(const LoadParams& params) {
  NaiveQueue<Value> to_pong;
  NaiveQueue<Value> to_ping;
  const ThreadPlacement placement(params.placement);
  std::jthread pong([&] {
    placement.pin(1);
    while (const auto value = to_pong.pop()) to_ping.push(*value + 1);
  });
  placement.pin(0);
  const Clock::time_point start = Clock::now();
  Value value = 0;
  for (std::uint64_t trip = 1; trip <= params.n; ++trip) {
    to_pong.push(value);
    value = *to_ping.pop();  // never closed: pong answers every ping
  }
  const double seconds = seconds_since(start);
  to_pong.close();
  pong.join();
  return naive_result(params, seconds, static_cast<std::uint64_t>(value), 2, placement);
}

// ring: kRingNodes threads; node i pops the token and pushes token + 1 to node i+1 (mod the
// ring size); the node that receives n reports it and the driver closes every queue.
LoadResult run_ring_naive(const LoadParams& params) {
  std::vector<NaiveQueue<Value>> queues(kRingNodes);
  NaiveQueue<Value> done;
  const ThreadPlacement placement(params.placement);
  std::vector<std::jthread> nodes;
  nodes.reserve(kRingNodes);
  for (std::size_t i = 0; i < kRingNodes; ++i) {
    nodes.emplace_back([&, i] {
      placement.pin(i + 1);
      NaiveQueue<Value>& next = queues[(i + 1) % kRingNodes];
      while (const auto token = queues[i].pop()) {
        if (static_cast<std::uint64_t>(*token) == params.n) {
          done.push(*token);
        } else {
          next.push(*token + 1);
        }
      }
    });
  }
  placement.pin(0);
  const Clock::time_point start = Clock::now();
  queues[0].push(1);  // hop 1
  const Value token = *done.pop();
  const double seconds = seconds_since(start);
  for (NaiveQueue<Value>& queue : queues) queue.close();
  for (std::jthread& node : nodes) node.join();
  return naive_result(params, seconds, static_cast<std::uint64_t>(token), kRingNodes,
                      placement);
}

// fanin: four producer threads push 1..n/4 each into one queue; the consumer thread sums until
// the queue is closed (after the last producer finished) and drained.
LoadResult run_fanin_naive(const LoadParams& params) {
  const auto per_producer = static_cast<Value>(params.n / kFaninProducers);
  NaiveQueue<Value> queue;
  Gate gate;
  const ThreadPlacement placement(params.placement);
  std::uint64_t sum = 0;
  Clock::time_point end;
  std::jthread consumer([&] {
    placement.pin(kFaninProducers + 1);
    while (const auto value = queue.pop()) sum += static_cast<std::uint64_t>(*value);
    end = Clock::now();
  });
  std::vector<std::jthread> producers;
  for (std::uint64_t i = 0; i < kFaninProducers; ++i) {
    producers.emplace_back([&, i] {
      placement.pin(i + 1);
      gate.wait();
      for (Value value = 1; value <= per_producer; ++value) queue.push(value);
    });
  }
  placement.pin(0);
  const Clock::time_point start = Clock::now();
  gate.open();
  for (std::jthread& producer : producers) producer.join();
  queue.close();
  consumer.join();  // its writes to sum and end happen-before join() returns
  return naive_result(params, std::chrono::duration<double>(end - start).count(), sum,
                      kFaninProducers + 1, placement);
}

// transfer: a 100 MiB block (std::unique_ptr<std::byte[]>, zeroed) goes to the worker thread,
// which adds 1 to its first 64-bit word, and back, n times. TransferBooks checks that the very
// allocation returns (moved, never copied) and sums the counter.
LoadResult run_transfer_naive(const LoadParams& params) {
  using Block = std::unique_ptr<std::byte[]>;
  Block block = std::make_unique<std::byte[]>(kTransferBytes);  // value-initialised: zeroed
  TransferBooks books(block.get());
  NaiveQueue<Block> to_worker;
  NaiveQueue<Block> to_driver;
  const ThreadPlacement placement(params.placement);
  std::jthread worker([&] {
    placement.pin(1);
    while (auto visiting = to_worker.pop()) {
      std::uint64_t counter = 0;
      std::memcpy(&counter, visiting->get(), sizeof counter);
      ++counter;
      std::memcpy(visiting->get(), &counter, sizeof counter);
      to_driver.push(std::move(*visiting));
    }
  });
  placement.pin(0);
  LoadResult result = naive_result(params, 0, 0, 2, placement);
  const Clock::time_point start = Clock::now();
  for (std::uint64_t trip = 1; trip <= params.n; ++trip) {
    to_worker.push(std::move(block));
    block = std::move(*to_driver.pop());  // never closed: the worker returns every block
    std::uint64_t counter = 0;
    std::memcpy(&counter, block.get(), sizeof counter);
    books.returned(block.get(), counter, trip, result);
  }
  result.seconds = seconds_since(start);
  to_worker.close();
  worker.join();
  std::vector<Field> extras = std::move(result.extras);
  books.finish(result);  // sets the check and the transfer fields
  result.extras.insert(result.extras.end(), extras.begin(), extras.end());
  return result;
}

// pool and pool_cpu: task(x) for x = 1..n submitted one by one to a NaivePool of --threads
// workers (default 2, as the troupe pool's), then every future awaited and its result summed
// into the check.
template <class MakeTask>
LoadResult run_on_naive_pool(const LoadParams& params, MakeTask make_task) {
  const std::size_t workers = pool_workers(params);
  const ThreadPlacement placement(params.placement);
  placement.pin(0);
  NaivePool pool(workers, placement);
  pool.wait_ready();  // every worker started (and pinned) before the clock starts
  const Clock::time_point start = Clock::now();
  std::vector<std::future<std::uint64_t>> futures;
  futures.reserve(params.n);
  for (std::uint64_t x = 1; x <= params.n; ++x) futures.push_back(pool.submit(make_task(x)));
  std::uint64_t sum = 0;
  for (std::future<std::uint64_t>& future : futures) sum += future.get();
  LoadResult result = naive_result(params, seconds_since(start), sum, workers, placement);
  result.extras.push_back({"workers", static_cast<std::uint64_t>(workers)});
  return result;
}

// pool: the tasks x -> 2x; the check is n(n+1).
LoadResult run_pool_naive(const LoadParams& params) {
  return run_on_naive_pool(params, [](std::uint64_t x) { return [x] { return 2 * x; }; });
}

// pool_cpu: every task computes recursive fib(25), the troupe pool_cpu's work; the check is
// 75025 n. (No floor here: the troupe side measures its own against plain threads.)
LoadResult run_pool_cpu_naive(const LoadParams& params) {
  return run_on_naive_pool(params, [](std::uint64_t) { return [] { return pool_cpu_task(); }; });
}

// pipeline: a source thread pushes 1..n into a bounded queue, a map thread pops x and pushes 3x
// into a second one, a sink thread sums; both queues hold --capacity items (default 1024, the
// troupe pipeline's). Item by item: a lock, a push and a wake-up per item per queue. Each
// stage closes its output after its last item; the check is the sum, 3n(n+1)/2.
LoadResult run_pipeline_naive(const LoadParams& params) {
  const std::size_t capacity = pipeline_capacity(params);
  NaiveQueue<std::uint64_t> mapped_in(capacity);
  NaiveQueue<std::uint64_t> sink_in(capacity);
  Gate gate;
  const ThreadPlacement placement(params.placement);
  std::uint64_t sum = 0;
  std::uint64_t delivered = 0;
  Clock::time_point end;
  std::jthread source([&] {
    placement.pin(1);
    gate.wait();
    for (std::uint64_t x = 1; x <= params.n; ++x) mapped_in.push(x);
    mapped_in.close();
  });
  std::jthread mapper([&] {
    placement.pin(2);
    while (const auto x = mapped_in.pop()) sink_in.push(3 * *x);
    sink_in.close();
  });
  std::jthread sink([&] {
    placement.pin(3);
    while (const auto x = sink_in.pop()) {
      sum += *x;
      ++delivered;
    }
    end = Clock::now();
  });
  placement.pin(0);
  const Clock::time_point start = Clock::now();
  gate.open();
  source.join();
  mapper.join();
  sink.join();  // its writes to sum, delivered and end happen-before join() returns
  LoadResult result =
      naive_result(params, std::chrono::duration<double>(end - start).count(), sum, 3, placement);
  if (delivered != params.n) {
    result.failures.push_back("the sink took " + std::to_string(delivered) + " of " +
                              std::to_string(params.n) + " items");
  }
  result.extras.push_back(capacity_field(Capacity{static_cast<std::int64_t>(capacity)}));
  result.extras.push_back({"stages", std::uint64_t{3}});
  return result;
}

}  // namespace
}  // namespace workloads_naive_impl

LoadResult run_pingpong_naive(const LoadParams& params) {
  return workloads_naive_impl::run_pingpong_naive(params);
}

LoadResult run_ring_naive(const LoadParams& params) {
  return workloads_naive_impl::run_ring_naive(params);
}

LoadResult run_fanin_naive(const LoadParams& params) {
  return workloads_naive_impl::run_fanin_naive(params);
}

LoadResult run_transfer_naive(const LoadParams& params) {
  return workloads_naive_impl::run_transfer_naive(params);
}

LoadResult run_pool_naive(const LoadParams& params) {
  return workloads_naive_impl::run_pool_naive(params);
}

LoadResult run_pool_cpu_naive(const LoadParams& params) {
  return workloads_naive_impl::run_pool_cpu_naive(params);
}

LoadResult run_pipeline_naive(const LoadParams& params) {
  return workloads_naive_impl::run_pipeline_naive(params);
}

}  // namespace troupe::cli
