// Queue-choice micro-benchmark for troupe's MPSC mailbox: every candidate of queues.hpp runs the
// same scenarios in one binary, so their numbers come from the same machine, build and run.
//
//   single_thread_push_pop   one thread: push one, pop one (the uncontended send+recv cost)
//   single_thread_burst64    one thread: push 64, pop 64 (what batching consumers gain)
//   spsc_throughput          1 producer thread -> 1 consumer, 1,000,000 messages per iteration
//   mpsc_throughput_2p       2 producers -> 1 consumer, 2,000,000 messages per iteration
//   mpsc_throughput_4p       4 producers -> 1 consumer, 4,000,000 messages (troupe's fanin shape)
//
//        producer 0 ──┐
//        producer 1 ──┼──► queue ──► consumer (the benchmark thread): checks sum and FIFO order
//        producer … ──┘
//
// Each producer sends (id << 32 | seq) for seq = 1..n/P; the consumer sums seq and checks that each
// producer's sequence arrives in order, then reports SkipWithError on any mismatch. Waiting threads
// spin briefly and then sched_yield() (Backoff): the 2-core machines this runs on have fewer cores
// than threads, and a thread that only spins starves the one it waits for.
//
// Benchmarks are registered scenario by scenario, each scenario for every candidate in turn, so a
// plain run alternates candidates; add --benchmark_enable_random_interleaving=true with
// --benchmark_repetitions to interleave repetitions too (that spreads a noisy neighbour's load over
// all candidates). Adding a candidate: an adapter in queues.hpp (see the contract there) and one
// line in kCandidates below.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "queues.hpp"
#include "troupe_candidates.hpp"

namespace troupe::bench {
namespace {

// Capacity of the bounded candidates (and initial node-pool size of the pooled ones). Deliberately
// not a power of two, so ArrayMpsc pays for its arbitrary-capacity lap arithmetic.
inline constexpr std::size_t kCapacity = 4000;
inline constexpr std::int64_t kBurst = 64;
inline constexpr std::int64_t kSpscMessages = 1'000'000;
inline constexpr std::int64_t kMpsc2Messages = 2'000'000;
inline constexpr std::int64_t kMpsc4Messages = 4'000'000;

// A producer handle for a candidate without per-producer state: forwards to the queue itself.
template <class Q>
class SharedProducer {
 public:
  explicit SharedProducer(Q& queue) noexcept : queue_(&queue) {}
  bool try_push(std::int64_t value) { return queue_->try_push(value); }

 private:
  Q* queue_;
};

template <class Q>
auto make_producer(Q& queue) {
  if constexpr (requires { queue.producer(); }) {
    return queue.producer();
  } else {
    return SharedProducer<Q>(queue);
  }
}

template <class Q>
void single_thread_push_pop(benchmark::State& state) {
  auto queue = std::make_unique<Q>(kCapacity);
  auto producer = make_producer(*queue);
  std::int64_t sent = 0;
  for (auto _ : state) {
    std::int64_t value = 0;
    if (!producer.try_push(++sent) || !queue->try_pop(value) || value != sent) {
      state.SkipWithError("push/pop lost or reordered a message");
      break;
    }
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(state.iterations());
}

template <class Q>
void single_thread_burst(benchmark::State& state) {
  auto queue = std::make_unique<Q>(kCapacity);
  auto producer = make_producer(*queue);
  std::int64_t sent = 0;
  std::int64_t received = 0;
  for (auto _ : state) {
    bool ok = true;
    for (std::int64_t i = 0; i < kBurst; ++i) ok &= producer.try_push(++sent);
    for (std::int64_t i = 0; i < kBurst; ++i) {
      std::int64_t value = 0;
      ok &= queue->try_pop(value) && value == ++received;
      benchmark::DoNotOptimize(value);
    }
    if (!ok) {
      state.SkipWithError("burst lost or reordered a message");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
}

// kProducers threads push kMessages in total; the benchmark thread consumes and verifies.
template <class Q, int kProducers, std::int64_t kMessages>
void throughput(benchmark::State& state) {
  static_assert(kMessages % kProducers == 0);
  constexpr std::int64_t kPerProducer = kMessages / kProducers;
  constexpr std::int64_t kExpectedSum = kProducers * (kPerProducer * (kPerProducer + 1) / 2);

  // One queue for all iterations, drained at the end of each: a long-lived mailbox with its node
  // pool (if any) warm, as in an actor system.
  auto queue = std::make_unique<Q>(kCapacity);
  for (auto _ : state) {
    std::vector<std::thread> producers;
    producers.reserve(kProducers);
    for (int id = 0; id < kProducers; ++id) {
      producers.emplace_back([&queue, id] {
        auto producer = make_producer(*queue);
        const std::int64_t tag = std::int64_t{id} << 32;
        Backoff backoff;
        for (std::int64_t seq = 1; seq <= kPerProducer; ++seq) {
          while (!producer.try_push(tag | seq)) backoff.snooze();
          backoff.reset();
        }
      });
    }

    std::array<std::int64_t, kProducers> last_seq{};
    std::int64_t sum = 0;
    bool in_order = true;
    Backoff backoff;
    for (std::int64_t received = 0; received < kMessages;) {
      std::int64_t value = 0;
      if (!queue->try_pop(value)) {
        backoff.snooze();
        continue;
      }
      backoff.reset();
      const std::int64_t id = value >> 32;
      const std::int64_t seq = value & 0xffff'ffff;
      if (id < 0 || id >= kProducers || seq != last_seq[id] + 1) {
        in_order = false;
      } else {
        last_seq[id] = seq;
      }
      sum += seq;
      ++received;
    }
    for (std::thread& thread : producers) thread.join();

    if (sum != kExpectedSum || !in_order) {
      state.SkipWithError(sum != kExpectedSum ? "checksum mismatch" : "per-producer FIFO broken");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kMessages);
}

using BenchFn = void (*)(benchmark::State&);

struct Candidate {
  const char* name;
  bool multi_producer;
  BenchFn single_thread_push_pop;
  BenchFn single_thread_burst;
  BenchFn spsc_throughput;
  BenchFn mpsc_throughput_2p;
  BenchFn mpsc_throughput_4p;
};

template <class Q>
constexpr Candidate candidate(const char* name) {
  return {name,
          Q::kMultiProducer,
          &single_thread_push_pop<Q>,
          &single_thread_burst<Q>,
          &throughput<Q, 1, kSpscMessages>,
          &throughput<Q, 2, kMpsc2Messages>,
          &throughput<Q, 4, kMpsc4Messages>};
}

// The field: one line per candidate.
const Candidate kCandidates[] = {
    candidate<VyukovMpsc<HeapNodes>>("vyukov_heap"),
    candidate<VyukovMpsc<NodePool>>("vyukov_pool"),
    candidate<LifoInbox<HeapNodes>>("lifo_inbox_heap"),
    candidate<LifoInbox<NodePool>>("lifo_inbox_pool"),
    candidate<BoostMpmcQueue>("boost_lockfree_queue"),
    candidate<MutexDeque>("mutex_deque"),
    candidate<MutexDequeBatch>("mutex_deque_batch"),
    candidate<BoostSpscQueue>("boost_spsc_queue"),
    candidate<ArrayMpsc>("array_mpsc"),
    candidate<SegmentedMpsc>("segmented_mpsc"),
    candidate<TroupeBounded>("troupe_bounded"),
    candidate<TroupeUnbounded>("troupe_unbounded"),
    candidate<TroupeBoundedBlocking>("troupe_bounded_blocking"),
    candidate<TroupeSpsc>("troupe_spsc"),
};

struct Scenario {
  const char* name;
  BenchFn Candidate::*function;
  bool needs_multi_producer;
  void (*configure)(benchmark::internal::Benchmark*);
};

void configure_single_thread(benchmark::internal::Benchmark* bench) {
  bench->MinTime(0.1);
}

void configure_throughput(benchmark::internal::Benchmark* bench) {
  bench->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(3);
}

const Scenario kScenarios[] = {
    {"single_thread_push_pop", &Candidate::single_thread_push_pop, false, &configure_single_thread},
    {"single_thread_burst64", &Candidate::single_thread_burst, false, &configure_single_thread},
    {"spsc_throughput", &Candidate::spsc_throughput, false, &configure_throughput},
    {"mpsc_throughput_2p", &Candidate::mpsc_throughput_2p, true, &configure_throughput},
    {"mpsc_throughput_4p", &Candidate::mpsc_throughput_4p, true, &configure_throughput},
};

void register_benchmarks() {
  for (const Scenario& scenario : kScenarios) {
    for (const Candidate& candidate : kCandidates) {
      if (scenario.needs_multi_producer && !candidate.multi_producer) continue;
      const std::string name = std::string(scenario.name) + "/" + candidate.name;
      scenario.configure(benchmark::RegisterBenchmark(name.c_str(), candidate.*scenario.function));
    }
  }
}

}  // namespace
}  // namespace troupe::bench

int main(int argc, char** argv) {
  troupe::bench::register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
