// workloads_actor.cpp — the actor style: handler actors (troupe/actors) telling each other.
//
//   pingpong   ping ──Ball──▶ pong ──Ball+1──▶ ping, n round trips (two actors)
//   ring       node0 ─▶ node1 ─▶ … ─▶ node999 ─▶ node0: one Token, n hops (each hop one tell)
//   fanin      producer ×4 ──Num (awaited send: backpressure)──▶ one consumer actor
//   skynet     a 10-ary tree of actors (1,000,000 leaves): a parent spawns ten children, tells
//              each its range, and sums the ten replies on a channel of its own
//   transfer   driver ──ask(Visit{Buffer})──▶ worker actor ──reply Buffer──▶ driver, n times
//
// The mailboxes are bounded (--capacity, per workload default below). The measured phase runs
// from the first message to the last one's handler; the last handler stamps the end time and
// sends it through a oneshot.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "troupe/actors/actor.hpp"
#include "troupe/channels/buffer.hpp"
#include "troupe/channels/oneshot.hpp"
#include "workloads.hpp"

namespace troupe::cli {
namespace workloads_actor_impl {
namespace {

using Clock = std::chrono::steady_clock;
using Value = std::int64_t;


// How the last handler reports: the value it ended with and when.
struct Done {
  std::uint64_t check = 0;
  Clock::time_point end;
  std::string failure;  // empty unless a tell was refused
};
using DoneTx = OneshotSender<Done>;

ActorOptions mailbox(const LoadParams& params) {
  ActorOptions options;
  options.mailbox_capacity = params.capacity->unbounded() ? 0 : params.capacity->slots;
  return options;
}

// ---- pingpong and ring: one actor type, a token passed along a cycle ---------------------------

struct Token {
  Value value;
};
class Relay;
struct Wire {  // where to pass the token on
  ActorRef<Relay> next;
};
struct Wired {};  // asked after Wire: the mailbox is empty again once it is answered

// Passes the token on, adding `step`; whichever relay receives n reports and stops the run.
class Relay {
 public:
  Relay(std::uint64_t n, Value step, Sender<Done> done)
      : n_(n), step_(step), done_(std::move(done)) {}
  void handle(Wire wire) { next_ = std::move(wire.next); }
  void handle(Wired) const {}
  void handle(Token token) {
    if (static_cast<std::uint64_t>(token.value) == n_) {
      (void)done_.try_send(Done{n_, Clock::now(), {}});
      return;
    }
    if (!next_.tell(Token{token.value + step_})) {
      (void)done_.try_send(Done{0, Clock::now(), "a tell was refused (mailbox full)"});
    }
  }

 private:
  std::uint64_t n_;
  Value step_;
  ActorRef<Relay> next_;
  Sender<Done> done_;
};

LoadResult finish(const Done& done, Clock::time_point start, const LoadParams& params,
                  const Runtime& runtime) {
  LoadResult result;
  result.items = params.n;
  result.seconds = std::chrono::duration<double>(done.end - start).count();
  result.check = done.check;
  if (!done.failure.empty()) result.failures.push_back(done.failure);
  // Taken while the run's actors are still alive: --metrics shows their counters.
  RuntimeMetrics metrics = runtime.metrics();
  result.threads = metrics.workers.size();
  result.extras.push_back(capacity_field(*params.capacity));
  result.extras.push_back({"workers", static_cast<std::uint64_t>(metrics.workers.size())});
  result.extras.push_back({"parks", metrics.total().parks});
  if (params.metrics) result.metrics = std::move(metrics);
  return result;
}

// Relays 0..count-1 in a cycle with the given steps; the token starts at `first` with relay
// `entry`. Times from that first tell to the report.
LoadResult run_relays(const LoadParams& params, const std::vector<Value>& steps,
                      std::size_t entry, Value first) {
  Runtime runtime(runtime_options(params));
  auto [done_tx, done_rx] = channel<Done>(1);  // the first report wins; the run ends with it
  std::vector<ActorRef<Relay>> relays;
  for (const Value step : steps) {
    relays.push_back(spawn_actor<Relay>(runtime, mailbox(params), params.n, step, done_tx.clone()));
  }
  done_tx = Sender<Done>();
  for (std::size_t i = 0; i < relays.size(); ++i) {
    // With every mailbox empty before the token starts, a tell of the token never finds one
    // full (one token in flight), whatever the capacity.
    if (!relays[i].blocking_send(Wire{relays[(i + 1) % relays.size()]}) ||
        !relays[i].blocking_ask(Wired{}, std::chrono::seconds(60))) {
      throw Error(ErrorCode::closed, "a relay stopped before it was wired");
    }
  }
  const Clock::time_point start = Clock::now();
  if (!relays[entry].blocking_send(Token{first})) {
    throw Error(ErrorCode::closed, "the first relay stopped before the token started");
  }
  auto done = done_rx.blocking_recv();
  if (!done) throw Error(ErrorCode::closed, "every relay stopped without reporting");
  LoadResult result = finish(*done, start, params, runtime);
  result.extras.push_back({"actors", static_cast<std::uint64_t>(relays.size())});
  for (auto& relay : relays) (void)relay.blocking_terminate();
  return result;
}

// ---- fanin ------------------------------------------------------------------------------------

struct Num {
  Value value;
};

class Summer {
 public:
  Summer(std::uint64_t n, DoneTx done) : n_(n), done_(std::move(done)) {}
  void handle(Num num) {
    sum_ += static_cast<std::uint64_t>(num.value);
    if (++seen_ == n_) (void)done_.send(Done{sum_, Clock::now(), {}});
  }

 private:
  std::uint64_t n_;
  std::uint64_t seen_ = 0;
  std::uint64_t sum_ = 0;
  DoneTx done_;
};

struct Produce {
  ActorRef<Summer> to;
  Value count;
};

class Producer {
 public:
  Task<void> handle(Produce job) {
    for (Value value = 1; value <= job.count; ++value) {
      if (!co_await job.to.send(Num{value})) co_return;  // stopped: the check will say so
    }
  }
};

// ---- skynet -----------------------------------------------------------------------------------

struct Range {
  std::uint64_t first;
  std::uint64_t leaves;
  Sender<std::uint64_t> reply;  // where the sum of the range goes
};

class SkyNode {
 public:
  explicit SkyNode(std::size_t mailbox) : mailbox_(mailbox) {}
  Task<void> handle(Range range) {
    if (range.leaves == 1) {
      (void)range.reply.try_send(range.first);
      co_return;
    }
    Runtime& runtime = *Runtime::current();
    const std::uint64_t each = range.leaves / kSkynetFanout;
    auto [tx, rx] = channel<std::uint64_t>(kSkynetFanout);
    for (std::uint64_t i = 0; i < kSkynetFanout; ++i) {
      ActorOptions options;
      options.mailbox_capacity = mailbox_;
      // The child's only ActorRef is dropped at once: it handles its Range, then ends.
      (void)spawn_actor<SkyNode>(runtime, std::move(options), mailbox_)
          .tell(Range{range.first + i * each, each, tx.clone()});
    }
    tx = Sender<std::uint64_t>();
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < kSkynetFanout; ++i) {
      auto part = co_await rx.recv();
      if (!part) co_return;  // a child ended without replying: the check shows it
      sum += *part;
    }
    (void)range.reply.try_send(sum);
  }

 private:
  std::size_t mailbox_;
};

// The peak resident set of the process so far, in MiB (Linux: VmHWM), or 0 if unknown.
std::uint64_t peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) / 1024;  // kB
  }
  return 0;
}

// ---- transfer ---------------------------------------------------------------------------------

struct Visit {
  Buffer buffer;
};

class Visited {
 public:
  Buffer handle(Visit visit) {
    visit.buffer.as<std::uint64_t>()[0] += 1;
    return std::move(visit.buffer);
  }
};

// The driver, a task (an ask from a plain thread would park and wake it every trip): n asks,
// each moving the Buffer to the worker and back.
Task<LoadResult> transfer_trips(ActorRef<Visited> worker, Buffer buffer, std::uint64_t n) {
  TransferBooks books(buffer);
  LoadResult result;
  result.items = n;
  const Clock::time_point start = Clock::now();
  for (std::uint64_t trip = 1; trip <= n; ++trip) {
    Visit visit{std::move(buffer)};  // named: see the GCC 12 note in actor.hpp
    auto back = co_await worker.ask(std::move(visit), std::chrono::seconds(60));
    if (!back) {
      result.failures.push_back("round trip " + std::to_string(trip) + ": " +
                                back.error().message());
      break;
    }
    buffer = std::move(*back);
    books.returned(buffer, trip, result);
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  books.finish(result);
  co_return result;
}


LoadResult run_skynet_actor(const LoadParams& params) {
  Runtime runtime(runtime_options(params));
  const std::size_t mailbox = params.capacity->unbounded() ? 0 : params.capacity->slots;
  auto [tx, rx] = channel<std::uint64_t>(1);
  const std::uint64_t live_before = detail::ActorCell::live();
  const Clock::time_point start = Clock::now();
  ActorOptions options;
  options.mailbox_capacity = mailbox;
  (void)spawn_actor<SkyNode>(runtime, std::move(options), mailbox)
      .tell(Range{0, params.n, std::move(tx)});
  auto sum = rx.blocking_recv();
  const Clock::time_point end = Clock::now();
  LoadResult result;
  result.items = params.n;
  result.seconds = std::chrono::duration<double>(end - start).count();
  result.check = sum ? *sum : 0;
  if (!sum) result.failures.push_back("the root actor ended without a sum");
  const RuntimeMetrics metrics = runtime.metrics();
  result.threads = metrics.workers.size();
  result.extras.push_back(capacity_field(*params.capacity));
  result.extras.push_back({"workers", static_cast<std::uint64_t>(metrics.workers.size())});
  result.extras.push_back({"actors", metrics.tasks_spawned});
  result.extras.push_back({"peak_rss_mib", peak_rss_mib()});
  // Every actor of the tree ends by itself once its reply is sent (its ActorRef is gone).
  while (detail::ActorCell::live() > live_before) std::this_thread::yield();
  // After the tree is gone, so that the export is not a listing of up to a million actors.
  if (params.metrics) result.metrics = runtime.metrics();
  return result;
}

LoadResult run_transfer_actor(const LoadParams& params) {
  Runtime runtime(runtime_options(params));
  ActorRef<Visited> worker = spawn_actor<Visited>(runtime, mailbox(params));
  Buffer buffer(kTransferBytes);
  LoadResult result = runtime.block_on(transfer_trips(worker, std::move(buffer), params.n));
  RuntimeMetrics metrics = runtime.metrics();
  result.threads = metrics.workers.size();
  result.extras.push_back(capacity_field(*params.capacity));
  if (params.metrics) result.metrics = std::move(metrics);
  return result;
}

LoadResult run_pingpong_actor(const LoadParams& params) {
  // Relay 0 is ping (passes the value back unchanged), relay 1 is pong (adds 1). The driver
  // plays ping's first send: pong gets 0; ping receives k after k round trips and stops at n.
  return run_relays(params, {0, 1}, 1, 0);
}

LoadResult run_ring_actor(const LoadParams& params) {
  // As the task ring: the driver's send of 1 to node 0 is hop 1; the token counts the hops.
  return run_relays(params, std::vector<Value>(kRingNodes, 1), 0, 1);
}

LoadResult run_fanin_actor(const LoadParams& params) {
  Runtime runtime(runtime_options(params));
  auto [done_tx, done_rx] = oneshot<Done>();
  ActorRef<Summer> summer =
      spawn_actor<Summer>(runtime, mailbox(params), params.n, std::move(done_tx));
  std::vector<ActorRef<Producer>> producers;
  for (std::uint64_t i = 0; i < kFaninProducers; ++i) {
    producers.push_back(spawn_actor<Producer>(runtime, mailbox(params)));
  }
  const Clock::time_point start = Clock::now();
  for (auto& producer : producers) {
    if (!producer.blocking_send(Produce{summer, static_cast<Value>(params.n / kFaninProducers)})) {
      throw Error(ErrorCode::closed, "a producer stopped before it started");
    }
  }
  auto done = done_rx.blocking_recv();
  if (!done) throw Error(ErrorCode::closed, "the consumer stopped without reporting");
  LoadResult result = finish(*done, start, params, runtime);
  result.extras.push_back({"producers", kFaninProducers});
  return result;
}

}  // namespace
}  // namespace workloads_actor_impl

LoadResult run_skynet_actor(const LoadParams& params) {
  return workloads_actor_impl::run_skynet_actor(params);
}

LoadResult run_transfer_actor(const LoadParams& params) {
  return workloads_actor_impl::run_transfer_actor(params);
}

LoadResult run_pingpong_actor(const LoadParams& params) {
  return workloads_actor_impl::run_pingpong_actor(params);
}

LoadResult run_ring_actor(const LoadParams& params) {
  return workloads_actor_impl::run_ring_actor(params);
}

LoadResult run_fanin_actor(const LoadParams& params) {
  return workloads_actor_impl::run_fanin_actor(params);
}

}  // namespace troupe::cli
