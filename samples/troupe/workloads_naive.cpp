// workloads_naive.cpp — the naive style, the baseline of `troupe load <w> --compare naive`: the
// code a developer writes by hand without troupe. Every actor is one std::thread with one
// unbounded queue (std::deque under a std::mutex, a std::condition_variable to sleep on while
// it is empty). Nothing here uses troupe: no channel, no runtime, no Buffer.
//
//   pingpong   ping thread ──int64──▶ pong thread ──int64+1──▶ ping thread, n round trips
//   ring       1,000 threads, each passing the token to the next queue: n hops
//   fanin      producer thread ×4 ──int64──▶ one queue ──▶ consumer thread
//   transfer   driver thread ──100 MiB (unique_ptr)──▶ worker thread ──▶ driver, n times
//
// Measured phase: the threads are created and waiting first (on their queue, or producers on
// a Gate); it starts when the first message is sent (or the gate opens) and ends when the last
// one is handled. The checks are the spec's, computed the same way as in the other styles.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "placement.hpp"
#include "workloads.hpp"

namespace troupe::cli {
namespace {

using Clock = std::chrono::steady_clock;
using Value = std::int64_t;

// An unbounded multi-producer, multi-consumer queue, the textbook way: a deque under a mutex,
// consumers sleeping on a condition variable while it is empty. close() wakes every consumer;
// pop() then drains what is left and returns nullopt. Thread-safety: every member may be called
// from any thread.
template <class T>
class NaiveQueue {
 public:
  void push(T value) {
    {
      const std::lock_guard lock(mutex_);
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
    return value;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<T> items_;
  bool closed_ = false;
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

}  // namespace

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

}  // namespace troupe::cli
