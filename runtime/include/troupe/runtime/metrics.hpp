// troupe/runtime/metrics.hpp — what the runtime counts, as a plain struct, JSON and Prometheus.
//
// Runtime::metrics() takes a snapshot. Each worker counts in its own cache line with plain
// (relaxed, non-RMW) stores, so counting puts no shared atomic on the hot path; a snapshot taken
// while workers run is therefore a consistent-enough sample, not an atomic cut.
//
// Utilization is Node's eventLoopUtilization: busy / (busy + idle), where a worker is idle while
// parked and busy otherwise (running tasks, or searching for them). Times are measured only
// when a worker parks or unparks, never per task.
//
// Thread-safety: the structs are plain values.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe {

struct WorkerMetrics {
  std::size_t index = 0;
  bool active = false;              // has a running thread now
  std::uint64_t polls = 0;          // task polls run
  std::uint64_t lifo_polls = 0;     // ...of which taken from the next (LIFO) slot
  std::uint64_t turns_yielded = 0;  // polls whose task gave up its turn instead of waiting
  std::uint64_t steals = 0;         // tasks taken from other workers' queues
  std::uint64_t global_polls = 0;   // tasks taken from the global queue
  std::uint64_t overflows = 0;      // times half of the local queue moved to the global queue
  std::uint64_t parks = 0;          // times the worker went to sleep
  std::uint64_t wakes = 0;          // times it was woken (or timed out) from sleep
  std::uint64_t local_queue_depth = 0;
  std::chrono::nanoseconds busy{0};
  std::chrono::nanoseconds idle{0};

  // busy / (busy + idle); 0 when nothing was measured.
  [[nodiscard]] double utilization() const noexcept;
};

// A section another layer adds to the runtime's export (the actors add "actors"): its JSON
// value, and its Prometheus samples (`<prefix>_<name>{<labels>} <value>`, gauges).
struct MetricSample {
  std::string name;    // without the prefix
  std::string labels;  // `actor="3",name="db"`, already escaped; may be empty
  double value = 0;
};
struct MetricsSection {
  std::string name;  // the JSON key
  std::string json;  // the JSON value
  std::vector<std::pair<std::string, std::string>> help;  // metric name -> help text
  std::vector<MetricSample> samples;
};
// Makes `source` contribute a section to every RuntimeMetrics snapshot from now on (process-
// wide; adding the same source twice adds it once). Thread-safe.
using MetricsSource = MetricsSection (*)();
void add_metrics_source(MetricsSource source);

struct RuntimeMetrics {
  std::vector<WorkerMetrics> workers;  // every worker slot that ever ran
  std::size_t active_workers = 0;
  std::size_t min_threads = 0;
  std::size_t max_threads = 0;
  std::uint64_t threads_added = 0;     // by the monitor, beyond the initial min_threads
  std::uint64_t threads_retired = 0;   // idle workers that exited
  std::uint64_t stalls_detected = 0;   // monitor samples that found a worker stuck in one poll
  std::uint64_t global_queue_depth = 0;
  std::uint64_t tasks_spawned = 0;
  std::uint64_t tasks_completed = 0;   // including failed and cancelled
  std::uint64_t live_tasks = 0;
  std::uint64_t blocking_threads = 0;  // spawn_blocking threads alive now
  std::uint64_t blocking_queue_depth = 0;
  std::uint64_t blocking_jobs = 0;     // spawn_blocking jobs started
  std::uint64_t dedicated_threads = 0;  // threads of dedicated-thread tasks alive now
  std::uint64_t dedicated_started = 0;  // tasks spawned with SpawnOptions::dedicated_thread
  std::vector<MetricsSection> sections;  // from add_metrics_source, in the order added

  // Sums over the workers.
  [[nodiscard]] WorkerMetrics total() const noexcept;

  // One JSON object (stable field names as above; times in nanoseconds).
  [[nodiscard]] std::string to_json() const;
  // Prometheus text exposition format, metric names prefixed with `prefix` + "_".
  [[nodiscard]] std::string to_prometheus(std::string_view prefix = "troupe") const;
};

}  // namespace troupe
