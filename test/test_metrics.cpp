// Runtime metrics: counted per worker, readable as a struct, exported as JSON and Prometheus.
#include <atomic>
#include <sstream>
#include <string>
#include <thread>

#include "test_support.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/runtime/runtime.hpp"

using troupe::Runtime;
using troupe::RuntimeOptions;
using troupe::Task;

namespace {

RuntimeOptions two_workers() {
  RuntimeOptions options;
  options.min_threads = 2;
  options.max_threads = 2;
  return options;
}

Task<int> chatter(int rounds) {
  auto [tx, rx] = troupe::channel<int>(1);
  auto echo = troupe::spawn([](troupe::Receiver<int> rx) -> Task<int> {
    int sum = 0;
    while (auto v = co_await rx.recv()) sum += *v;
    co_return sum;
  }(std::move(rx)));
  for (int i = 1; i <= rounds; ++i) (void)co_await tx.send(i);
  tx.close();
  co_return co_await echo;
}

}  // namespace

TEST_CASE("metrics count spawns, completions and polls per worker" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  CHECK(rt.block_on(chatter(1000)) == 500'500);
  const troupe::RuntimeMetrics m = rt.metrics();
  CHECK(m.tasks_spawned == 2);
  CHECK(m.tasks_completed == 2);
  CHECK(m.live_tasks == 0);
  CHECK(m.min_threads == 2);
  CHECK(m.max_threads == 2);
  CHECK(m.active_workers == 2);
  CHECK(m.workers.size() == 2);
  const troupe::WorkerMetrics total = m.total();
  CHECK(total.polls >= 2);
  for (const troupe::WorkerMetrics& w : m.workers) {
    CHECK(w.utilization() >= 0.0);
    CHECK(w.utilization() <= 1.0);
  }
}

TEST_CASE("a worker busy in one long poll shows its busy time growing while it runs" *
          doctest::timeout(30)) {
  // Busy and idle time count the period under way, not only the periods a park ended: a
  // worker that never parks must not read as idle (Node's eventLoopUtilization is live too).
  RuntimeOptions options;
  options.min_threads = 1;
  options.max_threads = 1;
  Runtime rt(options);
  std::atomic<bool> started{false};
  std::atomic<bool> stop{false};
  auto spinner = rt.spawn([](std::atomic<bool>& started, std::atomic<bool>& stop) -> Task<void> {
    started.store(true);
    while (!stop.load()) {
    }
    co_return;
  }(started, stop));
  while (!started.load()) std::this_thread::yield();
  const troupe::WorkerMetrics first = rt.metrics().workers.at(0);
  const troupe::WorkerMetrics second = rt.metrics().workers.at(0);
  stop.store(true);
  spinner.get();
  CHECK(first.polls == second.polls);  // the one poll, still running
  CHECK(second.busy > first.busy);
  CHECK(second.idle == first.idle);
  CHECK(second.utilization() > 0.0);
}

TEST_CASE("a parked worker shows its idle time growing while it sleeps" * doctest::timeout(30)) {
  RuntimeOptions options;
  options.min_threads = 1;
  options.max_threads = 1;
  Runtime rt(options);
  CHECK(rt.block_on([]() -> Task<int> { co_return 1; }()) == 1);
  // Two snapshots inside one sleep (the same park, not woken in between).
  for (;;) {
    const troupe::WorkerMetrics first = rt.metrics().workers.at(0);
    const troupe::WorkerMetrics second = rt.metrics().workers.at(0);
    const bool asleep = first.parks > first.wakes;
    if (!asleep || second.parks != first.parks || second.wakes != first.wakes) {
      std::this_thread::yield();
      continue;
    }
    CHECK(second.idle > first.idle);
    CHECK(second.busy == first.busy);
    break;
  }
}

TEST_CASE("metrics export as one JSON object with every field" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  (void)rt.block_on(chatter(10));
  const std::string json = rt.metrics().to_json();
  CHECK(json.front() == '{');
  CHECK(json.back() == '}');
  for (const char* key : {"\"active_workers\":2", "\"tasks_spawned\":2", "\"threads_added\":",
                          "\"threads_retired\":", "\"global_queue_depth\":", "\"workers\":[",
                          "\"polls\":", "\"turns_yielded\":", "\"steals\":", "\"parks\":",
                          "\"wakes\":", "\"busy_ns\":", "\"idle_ns\":", "\"utilization\":"}) {
    CHECK_MESSAGE(json.find(key) != std::string::npos, key);
  }
}

TEST_CASE("metrics export as Prometheus text: HELP, TYPE and one sample per line" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  (void)rt.block_on(chatter(10));
  const std::string text = rt.metrics().to_prometheus("app");
  std::istringstream lines(text);
  int samples = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# HELP app_", 0) == 0 || line.rfind("# TYPE app_", 0) == 0) continue;
    CHECK_MESSAGE(line.rfind("app_", 0) == 0, line);
    CHECK_MESSAGE(line.find(' ') != std::string::npos, line);
    ++samples;
  }
  CHECK(samples > 20);
  CHECK(text.find("app_tasks_spawned 2\n") != std::string::npos);
  CHECK(text.find("app_worker_polls{worker=\"0\"}") != std::string::npos);
  CHECK(text.find("app_worker_utilization{worker=\"1\"}") != std::string::npos);
}
