// workloads_task.cpp — the task style: troupe::Runtime tasks talking through troupe channels.
//
//   pingpong   ping ──int64──▶ pong ──int64+1──▶ ping, n round trips
//   ring       node0 ─▶ node1 ─▶ … ─▶ node999 ─▶ node0: one token, n hops (each hop one send)
//   skynet     a 10-ary tree of spawned tasks; leaf i returns i, parents sum their children
//   fanin      producer ×4 ──Sender<int64> clones──▶ one channel ──▶ consumer task
//
// Each run builds its Runtime (--threads workers, default one per core) before the measured
// phase, which is timed from the first message (or spawn) to the final answer.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "troupe/actors/pipeline.hpp"
#include "troupe/runtime/runtime.hpp"
#include "workloads.hpp"

namespace troupe::cli {
namespace workloads_task_impl {
namespace {

using Clock = std::chrono::steady_clock;
using Value = std::int64_t;


double seconds_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

// The facts every task-style result reports, from the snapshot that --metrics exports.
void add_runtime_fields(LoadResult& result, const Runtime& runtime, const LoadParams& params) {
  RuntimeMetrics metrics = runtime.metrics();
  const WorkerMetrics total = metrics.total();
  result.threads = metrics.workers.size();
  if (params.capacity) result.extras.push_back(capacity_field(*params.capacity));
  result.extras.push_back({"workers", static_cast<std::uint64_t>(metrics.workers.size())});
  result.extras.push_back({"steals", total.steals});
  result.extras.push_back({"parks", total.parks});
  if (params.metrics) result.metrics = std::move(metrics);
}

// What a measured task hands back to the driver.
struct Timed {
  std::uint64_t check = 0;
  Clock::time_point start;
  Clock::time_point end;
  std::vector<std::string> failures;
};

// ---- pingpong ---------------------------------------------------------------------------------

Task<void> pong(Receiver<Value> rx, Sender<Value> tx) {
  while (auto value = co_await rx.recv()) {
    if (!co_await tx.send(*value + 1)) co_return;
  }
}

Task<Timed> ping(Sender<Value> tx, Receiver<Value> rx, std::uint64_t n) {
  Timed timed;
  Value value = 0;
  timed.start = Clock::now();
  for (std::uint64_t trip = 1; trip <= n; ++trip) {
    auto back = (co_await tx.send(value)) ? co_await rx.recv() : std::nullopt;
    if (!back) {
      timed.failures.push_back("pong ended during round trip " + std::to_string(trip));
      break;
    }
    value = *back;
  }
  timed.end = Clock::now();
  timed.check = static_cast<std::uint64_t>(value);
  co_return timed;  // dropping tx ends pong's loop
}

// ---- ring -------------------------------------------------------------------------------------

struct RingEnd {
  std::uint64_t token = 0;
  Clock::time_point end;
};

// Receives the token; at n it stops (and by returning drops its Sender, which closes the next
// node's channel, and so on around the ring); otherwise it passes token + 1 on.
Task<void> ring_node(Receiver<Value> rx, Sender<Value> next, std::uint64_t n, RingEnd& end) {
  while (auto token = co_await rx.recv()) {
    if (static_cast<std::uint64_t>(*token) == n) {
      end.end = Clock::now();
      end.token = static_cast<std::uint64_t>(*token);
      co_return;
    }
    if (!co_await next.send(*token + 1)) co_return;
  }
}

Task<Clock::time_point> ring_start(Sender<Value> first) {
  const Clock::time_point start = Clock::now();
  (void)co_await first.send(1);  // hop 1
  co_return start;
}

// ---- skynet -----------------------------------------------------------------------------------

Task<std::uint64_t> skynet(std::uint64_t first_leaf, std::uint64_t leaves) {
  if (leaves == 1) co_return first_leaf;
  const std::uint64_t each = leaves / kSkynetFanout;
  std::array<JoinHandle<std::uint64_t>, kSkynetFanout> children;
  for (std::uint64_t i = 0; i < kSkynetFanout; ++i) {
    children[i] = spawn(skynet(first_leaf + i * each, each));
  }
  std::uint64_t sum = 0;
  for (auto& child : children) sum += co_await child;
  co_return sum;
}

// ---- fanin ------------------------------------------------------------------------------------

Task<void> produce(Sender<Value> tx, Value count) {
  for (Value value = 1; value <= count; ++value) {
    if (!co_await tx.send(value)) co_return;  // closed cannot happen here; the check would see
  }
}

Task<std::uint64_t> consume(Receiver<Value> rx) {
  std::uint64_t sum = 0;
  while (auto value = co_await rx.recv()) sum += static_cast<std::uint64_t>(*value);
  co_return sum;
}

Task<Timed> fanin(Capacity capacity, std::uint64_t n) {
  Timed timed;
  auto [tx, rx] = open_channel<Value>(capacity);
  timed.start = Clock::now();
  auto consumer = spawn(consume(std::move(rx)));
  std::vector<JoinHandle<void>> producers;
  for (std::uint64_t i = 0; i < kFaninProducers; ++i) {
    producers.push_back(spawn(produce(tx.clone(), static_cast<Value>(n / kFaninProducers))));
  }
  tx = Sender<Value>();  // only the producers' clones keep the stream open
  timed.check = co_await consumer;
  timed.end = Clock::now();
  for (auto& producer : producers) co_await producer;
  co_return timed;
}

LoadResult finish(const Timed& timed, const LoadParams& params, Runtime& runtime) {
  LoadResult result;
  result.items = params.n;
  result.seconds = seconds_between(timed.start, timed.end);
  result.check = timed.check;
  result.failures = timed.failures;
  add_runtime_fields(result, runtime, params);
  return result;
}

}  // namespace
}  // namespace workloads_task_impl

RuntimeOptions runtime_options(const LoadParams& params) {
  RuntimeOptions options;
  if (params.threads) {
    options.min_threads = static_cast<std::size_t>(*params.threads);
    options.max_threads = std::max(options.min_threads, RuntimeOptions::default_threads() * 4);
  }
  return options;
}

std::size_t pipeline_capacity(const LoadParams& params) {
  if (!params.capacity || params.capacity->unbounded()) return 1024;
  return static_cast<std::size_t>(params.capacity->slots);
}

namespace workloads_task_impl {
namespace {

LoadResult run_pingpong_task(const LoadParams& params) {
  Runtime runtime(runtime_options(params));
  auto there = open_channel<Value>(*params.capacity);
  auto back = open_channel<Value>(*params.capacity);
  auto ponger = runtime.spawn(pong(std::move(there.second), std::move(back.first)));
  const Timed timed =
      runtime.block_on(ping(std::move(there.first), std::move(back.second), params.n));
  ponger.get();
  return finish(timed, params, runtime);
}

LoadResult run_ring_task(const LoadParams& params) {
  Runtime runtime(runtime_options(params));
  std::vector<Sender<Value>> senders;
  std::vector<Receiver<Value>> receivers;
  for (std::uint64_t i = 0; i < kRingNodes; ++i) {
    auto [tx, rx] = open_channel<Value>(*params.capacity);
    senders.push_back(std::move(tx));
    receivers.push_back(std::move(rx));
  }
  Sender<Value> first = senders[0].clone();
  RingEnd end;
  std::vector<JoinHandle<void>> nodes;
  for (std::uint64_t i = 0; i < kRingNodes; ++i) {
    nodes.push_back(runtime.spawn(ring_node(std::move(receivers[i]),
                                            std::move(senders[(i + 1) % kRingNodes]), params.n,
                                            end)));
  }
  const Clock::time_point start = runtime.block_on(ring_start(std::move(first)));
  for (auto& node : nodes) node.get();
  LoadResult result;
  result.items = params.n;
  result.seconds = seconds_between(start, end.end);
  result.check = end.token;
  add_runtime_fields(result, runtime, params);
  result.extras.push_back({"nodes", kRingNodes});
  return result;
}

LoadResult run_skynet_task(const LoadParams& params) {
  Runtime runtime(runtime_options(params));
  const Clock::time_point start = Clock::now();
  const std::uint64_t sum = runtime.block_on(skynet(0, params.n));
  const Clock::time_point end = Clock::now();
  LoadResult result;
  result.items = params.n;
  result.seconds = seconds_between(start, end);
  result.check = sum;
  add_runtime_fields(result, runtime, params);
  result.extras.push_back({"tasks", runtime.metrics().tasks_spawned});
  return result;
}

// pipeline: a troupe::Pipeline of three steps on bounded ports (--capacity, default 1024) —
// the source emits 1..n, a stage maps x -> 3x, the sink sums — with every item through every
// step, each a function call on a runtime task; items move between the steps in chunks.
LoadResult run_pipeline_task(const LoadParams& params) {
  Runtime runtime(runtime_options(params));
  const std::size_t capacity = pipeline_capacity(params);
  std::uint64_t sum = 0;  // the sink is one task: no two calls at once
  auto pipeline = troupe::pipeline<std::uint64_t>(runtime)
                      .stage([](std::uint64_t x) { return 3 * x; },
                             {.name = "map", .capacity = capacity})
                      .sink([&sum](std::uint64_t x) { sum += x; }, {.capacity = capacity});
  const Clock::time_point start = Clock::now();
  pipeline.start([next = std::uint64_t{0}, n = params.n]() mutable -> std::optional<std::uint64_t> {
    if (next == n) return std::nullopt;
    return ++next;
  });
  const PipelineStats stats = pipeline.finish();
  const Clock::time_point end = Clock::now();
  LoadResult result;
  result.items = params.n;
  result.seconds = seconds_between(start, end);
  result.check = sum;
  if (stats.delivered != params.n) {
    result.failures.push_back("the sink took " + std::to_string(stats.delivered) + " of " +
                              std::to_string(params.n) + " items");
  }
  add_runtime_fields(result, runtime, params);
  // The source, the map stage and the sink.
  result.extras.push_back({"stages", static_cast<std::uint64_t>(stats.stages.size() + 1)});
  return result;
}

LoadResult run_fanin_task(const LoadParams& params) {
  Runtime runtime(runtime_options(params));
  const Timed timed = runtime.block_on(fanin(*params.capacity, params.n));
  LoadResult result = finish(timed, params, runtime);
  result.extras.push_back({"producers", kFaninProducers});
  return result;
}

}  // namespace
}  // namespace workloads_task_impl

LoadResult run_pingpong_task(const LoadParams& params) {
  return workloads_task_impl::run_pingpong_task(params);
}

LoadResult run_ring_task(const LoadParams& params) {
  return workloads_task_impl::run_ring_task(params);
}

LoadResult run_skynet_task(const LoadParams& params) {
  return workloads_task_impl::run_skynet_task(params);
}

LoadResult run_pipeline_task(const LoadParams& params) {
  return workloads_task_impl::run_pipeline_task(params);
}

LoadResult run_fanin_task(const LoadParams& params) {
  return workloads_task_impl::run_fanin_task(params);
}

}  // namespace troupe::cli
