#include "troupe/actors/pipeline.hpp"

#include "metrics_text.hpp"

namespace troupe::detail {
namespace {

// Every live pipeline, for the runtime's metrics export (leaked: pipelines may outlive
// statics).
LiveSet<PipelineCore>& live_pipelines() {
  static auto* pipelines = new LiveSet<PipelineCore>;
  return *pipelines;
}
std::atomic<std::uint64_t> next_pipeline_id{0};

MetricsSection pipeline_metrics() {
  MetricsSection section;
  section.name = "pipelines";
  section.help = {
      {"pipeline_emitted", "Items the pipeline's source produced"},
      {"pipeline_delivered", "Items its sink consumed"},
      {"pipeline_stage_parallelism", "Tasks running a stage"},
      {"pipeline_stage_in", "Items a stage took"},
      {"pipeline_stage_out", "Items a stage passed on (the sink: consumed)"},
      {"pipeline_stage_filtered", "Items a stage dropped by returning nullopt"},
      {"pipeline_stage_skipped", "Items that failed a stage under OnError::skip"},
      {"pipeline_stage_dead_lettered", "Items a stage sent to its dead-letter port"},
      {"pipeline_stage_failed", "Items whose error stopped the pipeline"},
      {"pipeline_stage_queued", "Items waiting in a stage's input"},
      {"pipeline_stage_busy_ratio", "Share of a stage's task time spent in its function"},
      {"pipeline_stage_latency_ns_bucket", "Per-item stage times shorter than le nanoseconds"},
      {"pipeline_stage_latency_ns_count", "Per-item stage times recorded"},
      {"pipeline_stage_latency_ns_sum", "Total per-item stage time in nanoseconds"},
  };
  std::string json = "[";
  live_pipelines().for_each([&](const PipelineCore& core) {
    const PipelineStats s = core.stats();
    const std::string& name = core.options().name;
    const std::string labels = "pipeline=\"" + std::to_string(core.id()) + "\",name=\"" +
                               label_value(name) + "\"";
    if (json.size() > 1) json += ",";
    json += "{\"id\":" + std::to_string(core.id()) + ",\"name\":" + json_string(name);
    add_values(section, json, labels, "pipeline_",
               {{"emitted", static_cast<double>(s.emitted)},
                {"delivered", static_cast<double>(s.delivered)}});
    json += ",\"stages\":[";
    for (const StageStats& stage : s.stages) {
      if (json.back() != '[') json += ",";
      json += "{\"stage\":" + json_string(stage.name);
      const std::string stage_labels = labels + ",stage=\"" + label_value(stage.name) + "\"";
      add_values(section, json, stage_labels, "pipeline_stage_",
                 {{"parallelism", static_cast<double>(stage.parallelism)},
                  {"in", static_cast<double>(stage.in)},
                  {"out", static_cast<double>(stage.out)},
                  {"filtered", static_cast<double>(stage.filtered)},
                  {"skipped", static_cast<double>(stage.skipped)},
                  {"dead_lettered", static_cast<double>(stage.dead_lettered)},
                  {"failed", static_cast<double>(stage.failed)},
                  {"queued", static_cast<double>(stage.queued)},
                  {"busy_ratio", stage.busy_ratio, true}});
      add_histogram(section, json, stage_labels, "pipeline_stage_latency_ns", "latency_ns",
                    stage.latency);
      json += "}";
    }
    json += "]}";
  });
  section.json = json + "]";
  return section;
}

}  // namespace

PipelineCore::PipelineCore(Runtime& runtime, PipelineOptions options)
    : runtime_(&runtime),
      options_(std::move(options)),
      id_(next_pipeline_id.fetch_add(1, std::memory_order_relaxed) + 1) {
  static const bool exported = (add_metrics_source(&pipeline_metrics), true);
  (void)exported;
}

PipelineCore::~PipelineCore() { live_pipelines().remove(this); }  // a no-op if never published

void StageCounters::record(std::uint64_t ns, std::size_t items) {
  if (items == 0) return;
  detail::MutexLock lock(latency_mutex);
  latency.add(ns / items, items);
}

void check_stage(StageOptions& options, std::size_t index, bool sink, bool has_dead_port) {
  if (options.name.empty()) options.name = sink ? "sink" : "stage" + std::to_string(index);
  const std::string what = "Pipeline: stage '" + options.name + "': ";
  if (options.parallelism == 0) {
    throw Error(ErrorCode::invalid_argument, what + "parallelism must be >= 1, got 0");
  }
  if (options.parallelism > 4096) {
    throw Error(ErrorCode::invalid_argument,
                what + "parallelism " + std::to_string(options.parallelism) +
                    " is too large (at most 4096)");
  }
  if (options.capacity < 8 * options.parallelism ||
      options.capacity > static_cast<std::size_t>(kMaxChannelCapacity)) {
    throw Error(ErrorCode::invalid_argument,
                what + "capacity " + std::to_string(options.capacity) + " must be in [" +
                    std::to_string(8 * options.parallelism) +
                    " (8 x parallelism), " + std::to_string(kMaxChannelCapacity) + "]");
  }
  if (options.on_error == OnError::dead_letter && !has_dead_port) {
    throw Error(ErrorCode::invalid_argument,
                what + "on_error is dead_letter but no dead-letter port was given");
  }
  if (options.on_error != OnError::dead_letter && has_dead_port) {
    throw Error(ErrorCode::invalid_argument,
                what + "a dead-letter port was given but on_error is not dead_letter");
  }
}

StageCounters& PipelineCore::add_stage(std::string name, std::size_t parallelism) {
  auto counters = std::make_unique<StageCounters>();
  counters->name = std::move(name);
  counters->parallelism = parallelism;
  detail::MutexLock lock(mutex_);
  stages_.push_back(std::move(counters));
  return *stages_.back();
}

Task<void> PipelineCore::guarded(Guarded task, std::string where) {
  // `task` counts the end however the task ends: returned, threw, or dropped by a cancel —
  // even one that comes before its first poll (found by the deterministic exploration in
  // test_deterministic: a cancel right after start left finish() waiting for ever).
  std::exception_ptr escaped;
  try {
    co_await std::move(task.body);
  } catch (...) {
    escaped = std::current_exception();
  }
  // An exception that left the task (an allocation, a generator, an item's copy): the task
  // did not close what follows it, so the pipeline stops rather than waits for ever.
  if (escaped) fail(std::move(escaped), where);
}

void PipelineCore::spawn(Task<void> task, const std::string& where) {
  {
    detail::MutexLock lock(mutex_);
    ++alive_;  // before it can end
  }
  // If the spawn fails, the guard's destructor counts the end: in the coroutine's frame
  // (destroyed unrun), or here if the frame could not even be made.
  JoinHandle<void> handle = runtime_->spawn(guarded(Guarded(std::move(task), this), where));
  detail::MutexLock lock(mutex_);
  if (stopped_) handle.cancel();
  tasks_.push_back(std::move(handle));
}

void PipelineCore::task_ended() noexcept {
  bool last = false;
  {
    detail::MutexLock lock(mutex_);
    last = --alive_ == 0 && !spawning_;
  }
  if (last) {
    try {
      ended_.count_down();
    } catch (...) {  // cannot happen: the count is 1 and this transition happens once
    }
  }
}

void PipelineCore::publish() {
  bool none_alive = false;
  {
    detail::MutexLock lock(mutex_);
    started_at_ = std::chrono::steady_clock::now();
    spawning_ = false;
    none_alive = alive_ == 0;
  }
  live_pipelines().add(this);
  if (none_alive) {
    try {
      ended_.count_down();
    } catch (...) {  // cannot happen: see task_ended
    }
  }
}

void PipelineCore::fail(std::exception_ptr error, const std::string& stage) {
  {
    detail::MutexLock lock(mutex_);
    if (error_ == nullptr && !stopped_) {
      error_ = std::move(error);
      failed_stage_ = stage;
    }
  }
  stop();
}

void PipelineCore::stop() {
  detail::MutexLock lock(mutex_);
  stopped_ = true;
  for (auto& task : tasks_) {
    if (!task.is_finished()) task.cancel();
  }
}

void PipelineCore::rethrow_failure() const {
  std::exception_ptr error;
  {
    detail::MutexLock lock(mutex_);
    error = error_;
  }
  if (error) std::rethrow_exception(error);
}

void PipelineCore::join() {
  // A deterministic runtime has no thread of its own: this thread runs the tasks meanwhile.
  if (runtime_->is_deterministic() && !runtime_->run_until([&] { return ended_.try_wait(); })) {
    runtime_->throw_deadlock("Pipeline::finish", "the pipeline");
  }
  ended_.blocking_wait();
  {
    detail::MutexLock lock(mutex_);
    joined_ = true;
  }
  rethrow_failure();
}

Task<void> PipelineCore::join_async() {
  co_await ended_.wait();
  {
    detail::MutexLock lock(mutex_);
    joined_ = true;
  }
  rethrow_failure();
}

PipelineStats PipelineCore::stats() const {
  PipelineStats out;
  detail::MutexLock lock(mutex_);  // stages_ grows during start; the counters are atomics
  out.stopped = stopped_;
  out.failed_stage = failed_stage_;
  out.finished = joined_;
  out.emitted = emitted.load(std::memory_order_relaxed);
  out.copied = copied.load(std::memory_order_relaxed);
  const double elapsed_ns =
      spawning_ ? 0
                : std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() -
                                                           started_at_)
                      .count();
  std::uint64_t ended = 0;  // items that ended in a stage other than by going on
  for (const auto& c : stages_) {
    StageStats s;
    s.name = c->name;
    s.parallelism = c->parallelism;
    s.in = c->in.load(std::memory_order_relaxed);
    s.out = c->out.load(std::memory_order_relaxed);
    s.filtered = c->filtered.load(std::memory_order_relaxed);
    s.skipped = c->skipped.load(std::memory_order_relaxed);
    s.dead_lettered = c->dead.load(std::memory_order_relaxed);
    s.failed = c->failed.load(std::memory_order_relaxed);
    // Once finished nothing waits: what a stop left in the ports was dropped with them.
    s.queued = out.finished ? 0
                            : static_cast<std::size_t>(std::max<std::int64_t>(
                                  c->queued.load(std::memory_order_relaxed), 0));
    s.busy_ns = c->busy_ns.load(std::memory_order_relaxed);
    s.busy_ratio =
        elapsed_ns > 0 ? std::min(1.0, static_cast<double>(s.busy_ns) /
                                           (elapsed_ns * static_cast<double>(s.parallelism)))
                       : 0;
    {
      detail::MutexLock lock(c->latency_mutex);
      s.latency = c->latency;
    }
    ended += s.filtered + s.skipped + s.dead_lettered + s.failed;
    out.stages.push_back(std::move(s));
  }
  if (!out.stages.empty()) out.delivered = out.stages.back().out;
  if (out.finished) out.cancelled = out.emitted + out.copied - out.delivered - ended;
  return out;
}

}  // namespace troupe::detail
