#include "troupe/runtime/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "scheduler.hpp"

namespace troupe {

double WorkerMetrics::utilization() const noexcept {
  const auto total = busy + idle;
  return total.count() == 0 ? 0.0
                            : static_cast<double>(busy.count()) / static_cast<double>(total.count());
}

WorkerMetrics RuntimeMetrics::total() const noexcept {
  WorkerMetrics sum;
  sum.index = workers.size();
  for (const WorkerMetrics& w : workers) {
    sum.active = sum.active || w.active;
    sum.polls += w.polls;
    sum.lifo_polls += w.lifo_polls;
    sum.turns_yielded += w.turns_yielded;
    sum.steals += w.steals;
    sum.global_polls += w.global_polls;
    sum.overflows += w.overflows;
    sum.parks += w.parks;
    sum.wakes += w.wakes;
    sum.local_queue_depth += w.local_queue_depth;
    sum.busy += w.busy;
    sum.idle += w.idle;
  }
  return sum;
}

namespace {

// The per-worker counters, named once for both exports.
template <class F>
void for_each_worker_field(const WorkerMetrics& w, F&& field) {
  field("polls", "Task polls run", w.polls);
  field("lifo_polls", "Polls of a task taken from the next (LIFO) slot", w.lifo_polls);
  field("turns_yielded", "Polls whose task gave up its turn to a partner instead of waiting",
        w.turns_yielded);
  field("steals", "Tasks stolen from other workers", w.steals);
  field("global_polls", "Tasks taken from the global queue", w.global_polls);
  field("overflows", "Local queue overflows into the global queue", w.overflows);
  field("parks", "Times the worker parked", w.parks);
  field("wakes", "Times the worker woke from parking", w.wakes);
  field("local_queue_depth", "Tasks in the local queue", w.local_queue_depth);
  field("busy_ns", "Time not parked, in nanoseconds", static_cast<std::uint64_t>(w.busy.count()));
  field("idle_ns", "Time parked, in nanoseconds", static_cast<std::uint64_t>(w.idle.count()));
}

template <class F>
void for_each_runtime_field(const RuntimeMetrics& m, F&& field) {
  field("active_workers", "Worker threads running", m.active_workers);
  field("min_threads", "Configured minimum of workers", m.min_threads);
  field("max_threads", "Configured maximum of workers", m.max_threads);
  field("threads_added", "Workers added by the monitor", m.threads_added);
  field("threads_retired", "Idle workers retired", m.threads_retired);
  field("stalls_detected", "Monitor samples that found a worker stuck in one poll",
        m.stalls_detected);
  field("global_queue_depth", "Tasks in the global queue", m.global_queue_depth);
  field("tasks_spawned", "Tasks spawned", m.tasks_spawned);
  field("tasks_completed", "Tasks completed (including failed and cancelled)",
        m.tasks_completed);
  field("live_tasks", "Tasks alive now", m.live_tasks);
  field("blocking_threads", "spawn_blocking threads alive", m.blocking_threads);
  field("blocking_queue_depth", "spawn_blocking jobs waiting", m.blocking_queue_depth);
  field("blocking_jobs", "spawn_blocking jobs submitted", m.blocking_jobs);
  field("dedicated_threads", "Threads of dedicated-thread tasks alive", m.dedicated_threads);
  field("dedicated_started", "Dedicated-thread tasks started", m.dedicated_started);
}

// A sample value: integers exactly, others with enough digits.
std::string format_number(double value) {
  if (std::floor(value) == value && std::fabs(value) < 9.0e15) {
    return std::to_string(static_cast<long long>(value));
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", value);
  return text;
}

}  // namespace

std::string RuntimeMetrics::to_json() const {
  std::string out = "{";
  bool first = true;
  const auto put = [&](std::string_view key, std::string_view, auto value) {
    if (!first) out += ",";
    first = false;
    out += "\"";
    out += key;
    out += "\":";
    out += std::to_string(value);
  };
  for_each_runtime_field(*this, put);
  out += ",\"workers\":[";
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const WorkerMetrics& w = workers[i];
    out += i == 0 ? "{" : ",{";
    first = true;
    put("index", "", w.index);
    out += ",\"active\":";
    out += w.active ? "true" : "false";
    for_each_worker_field(w, put);
    out += ",\"utilization\":" + std::to_string(w.utilization());
    out += "}";
  }
  out += "]";
  for (const MetricsSection& section : sections) {
    out += ",\"" + section.name + "\":" + section.json;
  }
  out += "}";
  return out;
}

std::string RuntimeMetrics::to_prometheus(std::string_view prefix) const {
  std::string out;
  const std::string base(prefix);
  const auto header = [&](std::string_view name, std::string_view help) {
    out += "# HELP " + base + "_" + std::string(name) + " " + std::string(help) + "\n";
    out += "# TYPE " + base + "_" + std::string(name) + " gauge\n";
  };
  for_each_runtime_field(*this, [&](std::string_view name, std::string_view help, auto value) {
    header(name, help);
    out += base + "_" + std::string(name) + " " + std::to_string(value) + "\n";
  });
  // Other layers' sections: each metric's header once, then its samples.
  for (const MetricsSection& section : sections) {
    for (const auto& [name, help] : section.help) {
      header(name, help);
      for (const MetricSample& sample : section.samples) {
        if (sample.name != name) continue;
        out += base + "_" + sample.name + (sample.labels.empty() ? "" : "{" + sample.labels + "}") +
               " " + format_number(sample.value) + "\n";
      }
    }
  }
  if (workers.empty()) return out;
  const auto per_worker = [&](std::string_view name, std::string_view help, auto get) {
    header("worker_" + std::string(name), help);
    for (std::size_t i = 0; i < workers.size(); ++i) {
      out += base + "_worker_" + std::string(name) + "{worker=\"" +
             std::to_string(workers[i].index) + "\"} " + get(i) + "\n";
    }
  };
  // Names and help texts come from the one field list; values are gathered per worker.
  struct Column {
    std::string_view name, help;
  };
  std::vector<Column> columns;
  for_each_worker_field(workers.front(), [&](std::string_view name, std::string_view help,
                                             std::uint64_t) { columns.push_back({name, help}); });
  std::vector<std::vector<std::uint64_t>> values(workers.size());
  for (std::size_t i = 0; i < workers.size(); ++i) {
    for_each_worker_field(workers[i], [&](std::string_view, std::string_view,
                                          std::uint64_t value) { values[i].push_back(value); });
  }
  for (std::size_t c = 0; c < columns.size(); ++c) {
    per_worker(columns[c].name, columns[c].help,
               [&](std::size_t i) { return std::to_string(values[i][c]); });
  }
  per_worker("utilization", "busy / (busy + idle)",
             [&](std::size_t i) { return std::to_string(workers[i].utilization()); });
  return out;
}

namespace {
detail::PlainMutex sources_mutex;
std::vector<MetricsSource>& sources() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sources_mutex) {
  static std::vector<MetricsSource> list;
  return list;
}
}  // namespace

void add_metrics_source(MetricsSource source) {
  detail::MutexLock lock(sources_mutex);
  auto& list = sources();
  if (std::find(list.begin(), list.end(), source) == list.end()) list.push_back(source);
}

namespace detail {

RuntimeMetrics Scheduler::metrics() const {
  RuntimeMetrics m;
  {
    std::vector<MetricsSource> list;
    {
      detail::MutexLock lock(sources_mutex);
      list = sources();
    }
    for (MetricsSource source : list) m.sections.push_back(source());
  }
  m.min_threads = options_.min_threads;
  m.max_threads = *options_.max_threads;
  m.active_workers = active_workers.load(std::memory_order_relaxed);
  m.threads_added = threads_added.load(std::memory_order_relaxed);
  m.threads_retired = threads_retired.load(std::memory_order_relaxed);
  m.stalls_detected = stalls_detected_.load(std::memory_order_relaxed);
  m.global_queue_depth = global_len();
  m.tasks_spawned = external_spawns_.load(std::memory_order_relaxed);
  m.tasks_completed = external_completions_.load(std::memory_order_relaxed);
  const auto now = std::chrono::steady_clock::now();
  for (const auto& worker : workers_) {
    if (!worker->ever_ran.load(std::memory_order_relaxed)) continue;
    const Worker::Counters& c = worker->counters;
    WorkerMetrics w;
    w.index = worker->index();
    w.active = worker->active.load(std::memory_order_relaxed);
    w.polls = c.polls.get();
    w.lifo_polls = c.lifo_polls.get();
    w.turns_yielded = c.turns_yielded.get();
    w.steals = c.steals.get();
    w.global_polls = c.global_polls.get();
    w.overflows = c.overflows.get();
    w.parks = c.parks.get();
    w.wakes = c.wakes.get();
    w.local_queue_depth = worker->queue.len();
    const Worker::Times times = worker->times(now);
    w.busy = times.busy;
    w.idle = times.idle;
    m.tasks_spawned += c.spawned.get();
    m.tasks_completed += c.completed.get();
    m.workers.push_back(w);
  }
  m.live_tasks = registry_.size();
  {
    MutexLock lock(blocking_mutex_);
    m.blocking_threads = blocking_alive_;
    m.blocking_queue_depth = blocking_queue_.size();
    m.blocking_jobs = blocking_jobs_;
  }
  {
    MutexLock lock(dedicated_mutex_);
    for (const DedicatedThread& home : dedicated_) m.dedicated_threads += home.exited ? 0 : 1;
  }
  m.dedicated_started = dedicated_started_.load(std::memory_order_relaxed);
  return m;
}

}  // namespace detail
}  // namespace troupe
