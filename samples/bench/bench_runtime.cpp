// Runtime micro-benchmarks: what an idle runtime costs, and spawn + join of one task.
//
// idle_runtime_cpu: a Runtime with default options (one worker per core) sits idle for 2 s;
// the counter cpu_ms is the process CPU time (user + system) spent meanwhile, by every thread:
// parked workers, the monitor's ticks. Target: < 20 ms.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <thread>

#include "troupe/runtime/runtime.hpp"

namespace {

double process_cpu_ms() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

void idle_runtime_cpu(benchmark::State& state) {
  for (auto _ : state) {
    troupe::Runtime runtime;
    // Let start-up settle (threads created, first parks), then measure a quiet 2 s.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const double before = process_cpu_ms();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const double spent = process_cpu_ms() - before;
    state.counters["cpu_ms"] = spent;
    state.counters["workers"] = static_cast<double>(runtime.metrics().active_workers);
  }
}
BENCHMARK(idle_runtime_cpu)->Iterations(1)->Unit(benchmark::kMillisecond);

troupe::Task<int> one() { co_return 1; }

void spawn_and_join(benchmark::State& state) {
  troupe::Runtime runtime;
  auto body = [](benchmark::State& s) -> troupe::Task<void> {
    for (auto _ : s) {
      auto handle = troupe::spawn(one());
      benchmark::DoNotOptimize(co_await handle);
    }
  };
  runtime.block_on(body(state));
}
BENCHMARK(spawn_and_join);

}  // namespace
