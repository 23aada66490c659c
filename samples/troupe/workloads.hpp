// workloads.hpp — the implementations behind the registry rows of load.cpp, one file per style
// (workloads_thread.cpp: plain std::threads and troupe channels; workloads_task.cpp: runtime
// tasks; workloads_actor.cpp: handler actors), and what they share.
#pragma once

#include <string>
#include <utility>

#include "troupe/channels/buffer.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/runtime/runtime.hpp"
#include "load.hpp"

namespace troupe::cli {

// thread style
LoadResult run_fanin_thread(const LoadParams& params);
LoadResult run_transfer_thread(const LoadParams& params);

// task style (troupe::Runtime tasks)
LoadResult run_pingpong_task(const LoadParams& params);
LoadResult run_ring_task(const LoadParams& params);
LoadResult run_skynet_task(const LoadParams& params);
LoadResult run_fanin_task(const LoadParams& params);

// actor style (troupe/actors handler actors)
LoadResult run_pingpong_actor(const LoadParams& params);
LoadResult run_ring_actor(const LoadParams& params);
LoadResult run_fanin_actor(const LoadParams& params);
LoadResult run_skynet_actor(const LoadParams& params);
LoadResult run_transfer_actor(const LoadParams& params);

// pool style (troupe::Pool, one future per task) and batch style (Pool::submit_batch)
LoadResult run_pool_pool(const LoadParams& params);
LoadResult run_pool_cpu_pool(const LoadParams& params);
LoadResult run_pool_batch(const LoadParams& params);
LoadResult run_pool_cpu_batch(const LoadParams& params);
LoadResult run_transfer_pool(const LoadParams& params);

// naive style (workloads_naive.cpp): no troupe at all — one std::thread per actor, each with a
// std::mutex + std::condition_variable queue (pool, pool_cpu: a hand-written thread pool on one
// such queue, a std::future per task); the baseline of --compare naive. skynet has none.
LoadResult run_pingpong_naive(const LoadParams& params);
LoadResult run_ring_naive(const LoadParams& params);
LoadResult run_fanin_naive(const LoadParams& params);
LoadResult run_transfer_naive(const LoadParams& params);
LoadResult run_pool_naive(const LoadParams& params);
LoadResult run_pool_cpu_naive(const LoadParams& params);
LoadResult run_pipeline_naive(const LoadParams& params);

// pipeline (troupe::Pipeline on a Runtime)
LoadResult run_pipeline_task(const LoadParams& params);
// The bound of each pipeline stage's input, in every style: --capacity, default 1024
// (workloads_task.cpp).
[[nodiscard]] std::size_t pipeline_capacity(const LoadParams& params);

// What pool and pool_cpu share in every style (workloads_pool.cpp): the pool's workers
// (--threads, else `by_default`), and one pool_cpu task, recursive fib(25) (75025).
[[nodiscard]] std::size_t pool_workers(const LoadParams& params, std::size_t by_default = 2);
[[nodiscard]] std::uint64_t pool_cpu_task();
// The Runtime of a task- or actor-style run: --threads workers (default one per core), able to
// grow to four times the cores (workloads_task.cpp).
[[nodiscard]] RuntimeOptions runtime_options(const LoadParams& params);

// transfer's Buffer (every style).
inline constexpr std::size_t kTransferBytes = std::size_t{100} << 20;  // 100 MiB

// transfer's books, for every style: each returned Buffer must be the very allocation that was
// sent (moved, never copied), and the check is the sum of its counter (the first 64-bit word)
// after each round trip. Defined in workloads_thread.cpp.
class TransferBooks {
 public:
  explicit TransferBooks(const Buffer& buffer) : origin_(buffer.data()) {}
  // The naive style's buffer is no troupe Buffer: its bytes start at `origin`.
  explicit TransferBooks(const std::byte* origin) : origin_(origin) {}
  // Round trip `trip` brought `buffer` back: checks and counts it.
  void returned(const Buffer& buffer, std::uint64_t trip, LoadResult& result) {
    returned(buffer.data(), buffer.as<std::uint64_t>()[0], trip, result);
  }
  // The same for the bytes at `data`, whose counter (first 64-bit word) reads `counter`.
  void returned(const std::byte* data, std::uint64_t counter, std::uint64_t trip,
                LoadResult& result);
  // Sets the check and the transfer fields of `result` (before any style-specific extras).
  void finish(LoadResult& result) const;

 private:
  const std::byte* origin_;
  bool moved_not_copied_ = true;
  std::uint64_t sum_ = 0;
};

// A channel of the given capacity: bounded (0 = rendezvous) or unbounded.
template <class T>
[[nodiscard]] std::pair<Sender<T>, Receiver<T>> open_channel(Capacity capacity) {
  if (capacity.unbounded()) return unbounded_channel<T>();
  return channel<T>(capacity.slots);
}

// The "capacity" field of a result: the bound, or "unbounded".
[[nodiscard]] inline Field capacity_field(Capacity capacity) {
  if (capacity.unbounded()) return {"capacity", std::string("unbounded")};
  return {"capacity", static_cast<std::uint64_t>(capacity.slots)};
}

}  // namespace troupe::cli
