// Timer-wheel micro-benchmark: the runtime's TimerWheel (runtime/include/troupe/runtime/detail/timer_wheel.hpp) with N
// pending timers: N = 1,000,000 (the load its design is sized for; 32 MB of entries, beyond the
// caches) and N = 10,000 (cache-resident: the cost of the algorithm without memory misses).
//
//   timer_wheel/insert/N               insert N timers into an empty wheel
//   timer_wheel/cancel/N               cancel N pending timers, in random order
//   timer_wheel/insert_cancel_pending/N  one insert + one cancel while N others are pending
//                                      (a timeout that never fires: the common case)
//   timer_wheel/fire_sleep_loop/N      fire N timers the way a runtime does: advance to
//                                      next_deadline() until the wheel is empty
//   timer_wheel/fire_one_jump/N        fire N timers with one advance() past them all
//
// Deadlines are uniform over the next hour (1 ms ticks), in random order, so slot lists and
// cascades walk memory in the order a real timer population does. The batch benchmarks report
// per_op: seconds per timer (so "25n" is 25 ns); set-up and tear-down run with the timer paused.
// Registered with BENCHMARK (static registration): troupe_bench's main() runs them with the rest.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <vector>

// runtime/src is private to the runtime; troupe_bench links only the channels layer.
#include "troupe/runtime/detail/timer_wheel.hpp"

namespace troupe::bench {
namespace {

using troupe::detail::TimerEntry;
using troupe::detail::TimerWheel;

inline constexpr std::uint64_t kStart = 1'000'000;    // ms: an arbitrary clock reading
inline constexpr std::uint64_t kHorizon = 3'600'000;  // one hour of 1 ms ticks

struct Population {
  std::size_t size;
  std::unique_ptr<TimerEntry[]> timers;
  std::vector<std::uint64_t> deadlines;
  std::vector<std::size_t> cancel_order;

  explicit Population(std::size_t n)
      : size(n), timers(std::make_unique<TimerEntry[]>(n)), deadlines(n), cancel_order(n) {
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<std::uint64_t> distance(1, kHorizon);
    for (std::uint64_t& d : deadlines) d = kStart + distance(rng);
    std::iota(cancel_order.begin(), cancel_order.end(), std::size_t{0});
    std::shuffle(cancel_order.begin(), cancel_order.end(), rng);
  }
  void insert_all(TimerWheel& wheel) {
    for (std::size_t i = 0; i < size; ++i) wheel.insert(timers[i], deadlines[i]);
  }
};

Population& population(const benchmark::State& state) {
  static Population large(1'000'000);
  static Population small(10'000);
  return static_cast<std::size_t>(state.range(0)) == large.size ? large : small;
}

void per_op(benchmark::State& state, std::size_t ops_per_iteration) {
  state.counters["per_op"] = benchmark::Counter(
      static_cast<double>(ops_per_iteration),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void insert(benchmark::State& state) {
  Population& p = population(state);
  auto wheel = std::make_unique<TimerWheel>(kStart);
  for (auto _ : state) {
    p.insert_all(*wheel);
    state.PauseTiming();
    wheel->clear();
    state.ResumeTiming();
  }
  per_op(state, p.size);
}

void cancel(benchmark::State& state) {
  Population& p = population(state);
  auto wheel = std::make_unique<TimerWheel>(kStart);
  for (auto _ : state) {
    state.PauseTiming();
    p.insert_all(*wheel);
    state.ResumeTiming();
    for (std::size_t i : p.cancel_order) wheel->remove(p.timers[i]);
  }
  if (!wheel->empty()) state.SkipWithError("timers left after cancelling all");
  per_op(state, p.size);
}

void insert_cancel_pending(benchmark::State& state) {
  Population& p = population(state);
  auto wheel = std::make_unique<TimerWheel>(kStart);
  p.insert_all(*wheel);
  TimerEntry probe;
  std::size_t next = 0;
  for (auto _ : state) {
    wheel->insert(probe, p.deadlines[next]);
    wheel->remove(probe);
    next = next + 1 == p.size ? 0 : next + 1;
  }
  if (wheel->size() != p.size) state.SkipWithError("pending count changed");
  wheel->clear();
}

template <bool kSleepLoop>
void fire(benchmark::State& state) {
  Population& p = population(state);
  std::size_t fired = 0;
  std::size_t wakeups = 0;
  std::uint64_t check = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto wheel = std::make_unique<TimerWheel>(kStart);
    p.insert_all(*wheel);
    fired = 0;
    wakeups = 0;
    state.ResumeTiming();
    auto fire = [&](TimerEntry& e) { check += e.deadline_ms(); };
    if constexpr (kSleepLoop) {
      while (std::optional<std::uint64_t> at = wheel->next_deadline()) {
        fired += wheel->advance(*at, fire);
        ++wakeups;
      }
    } else {
      fired = wheel->advance(kStart + kHorizon, fire);
      wakeups = 1;
    }
  }
  benchmark::DoNotOptimize(check);
  if (fired != p.size) state.SkipWithError("not every timer fired exactly once");
  state.counters["wakeups"] = static_cast<double>(wakeups);
  per_op(state, p.size);
}

void configure_batch(benchmark::internal::Benchmark* bench) {
  bench->Unit(benchmark::kMillisecond)->Iterations(5)->Arg(10'000)->Arg(1'000'000);
}

BENCHMARK(insert)->Name("timer_wheel/insert")->Apply(configure_batch);
BENCHMARK(cancel)->Name("timer_wheel/cancel")->Apply(configure_batch);
BENCHMARK(insert_cancel_pending)
    ->Name("timer_wheel/insert_cancel_pending")
    ->MinTime(0.2)
    ->Arg(10'000)
    ->Arg(1'000'000);
BENCHMARK(fire<true>)->Name("timer_wheel/fire_sleep_loop")->Apply(configure_batch);
BENCHMARK(fire<false>)->Name("timer_wheel/fire_one_jump")->Apply(configure_batch);

}  // namespace
}  // namespace troupe::bench
