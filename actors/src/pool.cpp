#include "troupe/actors/pool.hpp"

#include "metrics_text.hpp"
#include "troupe/channels/detail/fence.hpp"

#include <algorithm>
#include <atomic>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace troupe {

// One worker thread. `exited` is set (under the pool's lock) as its last act; the thread is
// joined by whoever erases the record: the next start (reap) or the close. The other fields
// are guarded by the pool's lock too.
struct Pool::Thread {
  std::thread thread;  // none in deterministic mode (the worker is a task)
  bool exited = false;
  // Deterministic mode: the worker task waits for work (counted in idle_), and its spawn
  // succeeded (its WorkerExit books the end from then on; before, the spawner undoes it).
  bool waiting = false;
  bool spawned = false;
  std::uint64_t generation = 0;  // of the init it ran
  bool ready = false;            // its init returned
  std::uint64_t tasks = 0;       // tasks it ran
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

namespace {
// Records `tasks` tasks that each took `took` (a batch's chunk counts its mean run time).
void note_time(TimeHistogram& histogram, std::uint64_t& max, std::chrono::nanoseconds took,
               std::size_t tasks = 1) {
  const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(took.count(), 0));
  histogram.add(ns, tasks);
  max = std::max(max, ns);
}

// Every live pool, for the runtime's metrics export (leaked: pools may outlive statics).
detail::LiveSet<Pool>& live_pools() {
  static auto* pools = new detail::LiveSet<Pool>;
  return *pools;
}
std::atomic<std::uint64_t> next_pool_id{0};

MetricsSection pool_metrics() {
  MetricsSection section;
  section.name = "pools";
  section.help = {
      {"pool_workers", "Pool worker threads alive"},
      {"pool_idle_workers", "Pool workers waiting for a task"},
      {"pool_parked_workers", "Idle pool workers asleep (done spinning)"},
      {"pool_queued", "Tasks waiting in the pool's queue"},
      {"pool_running", "Tasks running on the pool's workers"},
      {"pool_submitted", "Tasks accepted by the pool"},
      {"pool_completed", "Tasks that ran and returned"},
      {"pool_failed", "Tasks that ran and threw"},
      {"pool_cancelled", "Tasks dropped before they ran"},
      {"pool_rejected", "Submissions refused (queue full or pool closed)"},
      {"pool_timed_out", "Tasks that waited past their queue_timeout"},
      {"pool_deadline_exceeded", "Tasks that ran past their deadline"},
      {"pool_init_failures", "Workers whose worker_init threw"},
      {"pool_workers_faulted", "Workers replaced after a task threw WorkerFault"},
      {"pool_workers_recycled", "Workers replaced by recycling or replace_workers"},
      {"pool_generation", "replace_workers calls so far"},
      {"pool_stop_requests", "Running tasks asked to stop (cancel or deadline)"},
      {"pool_stops_unseen", "Tasks asked to stop whose callable takes no stop_token"},
      {"pool_max_stop_latency_ns", "Longest time a task asked to stop took to return"},
      {"pool_utilization", "Share of the pool's capacity spent running tasks"},
      {"pool_wait_ns_bucket", "Queue waits: waits shorter than le nanoseconds"},
      {"pool_wait_ns_count", "Queue waits recorded"},
      {"pool_wait_ns_sum", "Total queue wait in nanoseconds"},
      {"pool_run_ns_bucket", "Run times: runs shorter than le nanoseconds"},
      {"pool_run_ns_count", "Runs recorded"},
      {"pool_run_ns_sum", "Total run time in nanoseconds"},
  };
  std::string json = "[";
  live_pools().for_each([&](const Pool& pool) {
    const PoolStats s = pool.stats();
    const std::string& name = pool.options().name;
    const std::string labels = "pool=\"" + std::to_string(pool.id()) + "\",name=\"" +
                               detail::label_value(name) + "\"";
    if (json.size() > 1) json += ",";
    json += "{\"id\":" + std::to_string(pool.id()) + ",\"name\":" + detail::json_string(name);
    const auto count = [](auto n) { return static_cast<double>(n); };
    detail::add_values(section, json, labels, "pool_",
                       {{"workers", count(s.workers)},
                        {"idle_workers", count(s.idle_workers)},
                        {"parked_workers", count(s.parked_workers)},
                        {"queued", count(s.queued)},
                        {"running", count(s.running)},
                        {"submitted", count(s.submitted)},
                        {"completed", count(s.completed)},
                        {"failed", count(s.failed)},
                        {"cancelled", count(s.cancelled)},
                        {"rejected", count(s.rejected)},
                        {"timed_out", count(s.timed_out)},
                        {"deadline_exceeded", count(s.deadline_exceeded)},
                        {"init_failures", count(s.init_failures)},
                        {"workers_faulted", count(s.workers_faulted)},
                        {"workers_recycled", count(s.workers_recycled)},
                        {"generation", count(s.generation)},
                        {"stop_requests", count(s.stop_requests)},
                        {"stops_unseen", count(s.stops_unseen)},
                        {"max_stop_latency_ns", count(s.max_stop_latency_ns)},
                        {"utilization", s.utilization, true}});
    detail::add_histogram(section, json, labels, "pool_wait_ns", "wait_ns", s.wait_time);
    detail::add_histogram(section, json, labels, "pool_run_ns", "run_ns", s.run_time);
    json += "}";
  });
  section.json = json + "]";
  return section;
}

// The pool's lock is taken with lock_spinning(kLockTries): its critical sections are a few
// hundred nanoseconds, while sleeping on the mutex costs the holder a futex wake and the
// sleeper tens of microseconds to run again (a submitter and the worker that just finished its
// task meet here on every task).
constexpr int kLockTries = 128;

// How long an idle worker spins before it parks (see worker_loop).
constexpr std::chrono::microseconds kIdleSpin{50};

// The intake's mark once the pool closes: never an object, only compared.
detail::PoolWork* sealed_intake() noexcept {
  return reinterpret_cast<detail::PoolWork*>(std::uintptr_t{1});  // NOLINT: a mark, not a pointer
}

// The pool's worker the calling thread is, if any (close must not join itself).
thread_local const Pool* tls_pool = nullptr;

PoolOptions checked(PoolOptions options) {
  const std::size_t max = options.max_workers.value_or(
      std::max(options.min_workers, RuntimeOptions::default_threads()));
  if (max == 0) {
    throw Error(ErrorCode::invalid_argument, "PoolOptions::max_workers must be >= 1, got 0");
  }
  if (options.min_workers > max) {
    throw Error(ErrorCode::invalid_argument,
                "PoolOptions: min_workers (" + std::to_string(options.min_workers) +
                    ") exceeds max_workers (" + std::to_string(max) + ")");
  }
  if (options.idle_timeout <= std::chrono::milliseconds::zero()) {
    throw Error(ErrorCode::invalid_argument,
                "PoolOptions::idle_timeout must be positive, got " +
                    std::to_string(options.idle_timeout.count()) + " ms");
  }
  if (options.max_init_failures == 0) {
    throw Error(ErrorCode::invalid_argument, "PoolOptions::max_init_failures must be >= 1, got 0");
  }
  if (options.max_worker_age.count() < 0) {
    throw Error(ErrorCode::invalid_argument,
                "PoolOptions::max_worker_age must not be negative, got " +
                    std::to_string(options.max_worker_age.count()) + " ms");
  }
  if (options.max_queue > static_cast<std::size_t>(Semaphore::kMaxPermits)) {
    throw Error(ErrorCode::invalid_argument,
                "PoolOptions::max_queue is too large: " + std::to_string(options.max_queue));
  }
  if (options.runtime != nullptr && !options.runtime->is_deterministic()) {
    throw Error(ErrorCode::invalid_argument,
                "PoolOptions::runtime: the runtime is not deterministic (a pool's workers are "
                "threads of its own; the option is for deterministic tests)");
  }
  options.max_workers = max;
  return options;
}
}  // namespace

Pool::Pool(PoolOptions options)
    : options_(checked(std::move(options))),
      max_workers_(*options_.max_workers),
      id_(next_pool_id.fetch_add(1, std::memory_order_relaxed) + 1),
      init_(options_.worker_init
                ? std::make_shared<const std::function<void()>>(options_.worker_init)
                : nullptr),
      ready_left_(static_cast<std::int64_t>(options_.min_workers)),
      ready_(ready_left_),
      drain_at_(options_.drain_threshold != 0 ? options_.drain_threshold : options_.max_queue) {
  if (options_.max_queue != 0) room_.emplace(static_cast<std::int64_t>(options_.max_queue));
  // Every future is a channel, whose first creation in the process registers the asymmetric
  // fence with the kernel: a one-time cost of one RCU grace period (15-20 ms on the 2-core VM)
  // paid here rather than by the first submit.
  detail::prepare_asymmetric_fence();
  try {
    detail::MutexLock lock(mutex_);
    for (std::size_t i = 0; i < options_.min_workers; ++i) start_worker_locked();
  } catch (...) {
    close(true);  // no thread for the minimum: stop the ones started, then fail
    throw;
  }
  static const bool exported = (add_metrics_source(&pool_metrics), true);
  (void)exported;
  live_pools().add(this);
}

Pool::~Pool() {
  {
    // First: a metrics snapshot in progress finishes with us intact.
    live_pools().remove(this);
  }
  close(true);
}

std::string Pool::describe() const {
  return "pool" + (options_.name.empty() ? std::string() : " '" + options_.name + "'");
}

std::string Pool::count_refusal(bool closed, std::size_t n) {
  detail::MutexLock lock(mutex_);
  ++stats_.rejected;
  std::string why = describe();
  if (closed) {
    why += ": the pool is closed";
    if (gave_up_) why += " (" + detail::describe_exception(gave_up_) + ")";
  } else if (room_ && n > options_.max_queue) {
    why += ": a batch of " + std::to_string(n) + " tasks can never fit in max_queue " +
           std::to_string(options_.max_queue);
  } else {
    why += ": the queue is full (max_queue " + std::to_string(options_.max_queue) + ")";
  }
  return why;
}

namespace detail {
bool is_worker_fault(const std::exception_ptr& error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const WorkerFault&) {
    return true;
  } catch (...) {
    return false;
  }
}

Error pool_cancelled_error() {
  return Error(ErrorCode::cancelled,
               "pool task: cancelled before it ran (PoolFuture::cancel, PoolBatch::cancel, or the "
               "pool closed with force or destroyed)");
}
}  // namespace detail

void Pool::check_task(const TaskOptions& task, bool batch) {
  if (task.priority < -kMaxPriority || task.priority > kMaxPriority) {
    throw Error(ErrorCode::invalid_argument,
                "Pool: priority " + std::to_string(task.priority) + " is outside [-" +
                    std::to_string(kMaxPriority) + ", " + std::to_string(kMaxPriority) + "]");
  }
  if (task.queue_timeout.count() < 0 || task.deadline.count() < 0) {
    const bool queue = task.queue_timeout.count() < 0;
    throw Error(ErrorCode::invalid_argument,
                std::string("Pool: TaskOptions::") + (queue ? "queue_timeout " : "deadline ") +
                    std::to_string((queue ? task.queue_timeout : task.deadline).count()) +
                    " ms is negative");
  }
  if (batch && task.deadline.count() != 0) {
    throw Error(ErrorCode::invalid_argument,
                "Pool: TaskOptions::deadline is for single tasks; a batch takes queue_timeout "
                "only");
  }
}

namespace {
template <class E>
bool later_entry(const E& a, const E& b) noexcept {
  return a.at > b.at;
}
}  // namespace

void Pool::add_timer_locked(std::chrono::milliseconds after,
                            const std::shared_ptr<detail::PoolWork>& work, bool queue_timeout) {
  // Beyond a century is no limit at all (and milliseconds::max() would overflow the clock).
  if (after > std::chrono::hours(24 * 365 * 100)) return;
  if (!timer_thread_.joinable()) timer_thread_ = std::thread([this] { timer_loop(); });
  // Entries leave the heap when they fall due; those of tasks that ended long before (a long
  // queue_timeout, a high rate) would pile up and keep their jobs' memory: drop them when the
  // heap has doubled since the last sweep.
  if (timers_.size() >= sweep_at_) {
    std::erase_if(timers_, [](const TimerEntry& entry) {
      const auto live = entry.work.lock();
      if (live == nullptr) return true;
      if (entry.queue_timeout) return !live->waiting();
      return static_cast<const detail::PoolJob&>(*live).phase.load(std::memory_order_relaxed) !=
             detail::PoolJob::kRunning;
    });
    std::make_heap(timers_.begin(), timers_.end(), later_entry<TimerEntry>);
    sweep_at_ = std::max<std::size_t>(1024, 2 * timers_.size());
  }
  const auto at = std::chrono::steady_clock::now() + after;
  const bool earliest = timers_.empty() || at < timers_.front().at;
  timers_.push_back(TimerEntry{at, work, queue_timeout});
  std::push_heap(timers_.begin(), timers_.end(), later_entry<TimerEntry>);
  if (earliest) timer_cv_.notify_one();
}

void Pool::timer_loop() {
  detail::UniqueLock lock(mutex_);
  while (!timer_stop_) {
    if (timers_.empty()) {
      timer_cv_.wait(lock.native());
      continue;
    }
    const auto at = timers_.front().at;
    if (std::chrono::steady_clock::now() < at) {
      timer_cv_.wait_until(lock.native(), at);
      continue;
    }
    std::pop_heap(timers_.begin(), timers_.end(), later_entry<TimerEntry>);
    TimerEntry entry = std::move(timers_.back());
    timers_.pop_back();
    std::shared_ptr<detail::PoolWork> work = entry.work.lock();
    if (work == nullptr) continue;  // finished and forgotten
    // A single task's, for its deadline (batches take no deadline).
    auto* const job = entry.queue_timeout ? nullptr : static_cast<detail::PoolJob*>(work.get());
    detail::TaskRange range;
    if (entry.queue_timeout) {
      range = work->claim_waiting(true);
      if (range.empty()) continue;  // taken, or cancelled, already
      stats_.timed_out += range.size();
      // Still counted as queued until a worker retires the entry (see retire_locked).
      if (work->is_batch) static_cast<detail::PoolBatchJob&>(*work).expired += range.size();
    } else {
      if (!job->advance(detail::PoolJob::kRunning, detail::PoolJob::kOverdue)) continue;
      ++stats_.deadline_exceeded;
    }
    lock.unlock();
    if (job != nullptr) job->request_stop();
    // The error is made in its own statement and moved into the reply: this thread keeps no
    // reference to it (nor to its message) once the future can see it.
    std::exception_ptr error;
    try {
      error = std::make_exception_ptr(Error(
          ErrorCode::timeout,
          entry.queue_timeout
              ? describe() + ": the task waited in the queue past its queue_timeout and never ran"
              : describe() + ": the task ran past its deadline (" +
                    std::to_string(job->deadline.count()) +
                    " ms); asked to stop, its result will be discarded"));
    } catch (...) {  // no memory for the message: the future resolves as cancelled instead
    }
    if (job != nullptr) {
      job->fail(std::move(error));  // null: the future resolves as cancelled
    } else {
      work->drop(range, std::move(error));  // null: Error(cancelled)
    }
    work.reset();
    lock.lock();
  }
}

namespace {
template <class Q>
bool lower_score(const Q& a, const Q& b) noexcept {
  return a.score < b.score;
}
}  // namespace

bool Pool::push(const std::shared_ptr<detail::PoolWork>& work, std::size_t permits,
                std::size_t tasks, const TaskOptions& task) {
  if (!work->is_batch && push_intake(work, task)) return true;
  {
    detail::UniqueLock lock(mutex_, std::defer_lock);
    lock.lock_spinning(kLockTries);
    absorb_intake_locked(Taker::none);  // what came before first: submission order holds
    if (!closing_) {
      if (tasks == 0) {  // an empty batch: nothing to run, its future resolves now
        lock.unlock();
        static_cast<detail::PoolBatchJob&>(*work).settle_empty();
        return true;
      }
      if (task.queue_timeout.count() > 0) add_timer_locked(task.queue_timeout, work, true);
      // A deadline is armed when the task starts; its timer thread is started now, where a
      // failure can still be reported to the submitter.
      if (task.deadline.count() > 0 && !timer_thread_.joinable()) {
        timer_thread_ = std::thread([this] { timer_loop(); });
      }
      work->queued_at = std::chrono::steady_clock::now();
      const std::int64_t score = std::int64_t{task.priority} * kAgingTasks - next_seq_++;
      queue_.push_back(Queued{score, work});
      std::push_heap(queue_.begin(), queue_.end(), lower_score<Queued>);
      pending_.store(queue_.size(), std::memory_order_relaxed);
      queued_tasks_ += tasks;
      stats_.submitted += tasks;
      grow_and_wake_locked(tasks, Taker::none);
      return true;
    }
  }
  if (permits != 0) room_->release(static_cast<std::int64_t>(permits));  // for the next waiter
  return false;
}

void Pool::grow_and_wake_locked(std::size_t tasks, Taker taker) {
  // Workers that will take a task without being started: the idle ones, and the caller if it
  // is a worker about to take one (one that is idle is counted in idle_ already).
  const std::size_t idle = idle_ + (taker == Taker::busy_worker ? 1 : 0);
  // More queued tasks than idle workers (an idle worker already notified has not yet taken
  // its task, so idle_ alone would overcount): more workers, if allowed.
  for (std::size_t added = 0;
       queued_tasks_ > idle + added && alive_.load(std::memory_order_relaxed) < max_workers_;
       ++added) {
    try {
      start_worker_locked();
    } catch (...) {
      // No thread (a process limit) or no memory to be had now: the tasks stay queued for a
      // running worker, the next submit's attempt, or the close (which cancels them if no
      // worker is left to run them).
      break;
    }
  }
  // Parked workers are woken only for what the awake ones (the spinning ones and a taking
  // caller) cannot take: a wake costs a syscall and the woken worker tens of microseconds.
  const std::size_t spinning = spinning_.load(std::memory_order_relaxed);  // under mutex_
  const std::size_t awake = spinning + (taker == Taker::none ? 0 : 1);
  const std::size_t idle_awake = spinning + (taker == Taker::idle_worker ? 1 : 0);
  const std::size_t parked = idle_ > idle_awake ? idle_ - idle_awake : 0;
  if (parked != 0 && queued_tasks_ > awake) {
    notify_workers(tasks > 1);  // a batch has work for all of them
  }
}

bool Pool::push_intake(const std::shared_ptr<detail::PoolWork>& work, const TaskOptions& task) {
  if (task.queue_timeout.count() > 0 || task.deadline.count() > 0 || drain_at_ != 0 ||
      options_.runtime != nullptr) {
    return false;  // a timer to arm, a drain threshold to watch, or worker tasks to signal
  }
  // seq_cst here (intake_covered), on the push below, and in the re-check after it, against a
  // worker on its way to park (worker_loop: it raises parked_, lowers spinning_, then absorbs
  // the intake, all seq_cst): either that absorb finds this task, or the re-check sees the
  // worker parked and takes the lock to see the task run. When no worker is sure to come by,
  // the locked path decides who runs the task.
  if (!intake_covered()) return false;
  work->intake_priority = task.priority;
  work->queued_at = std::chrono::steady_clock::now();
  work->intake_hold = work;
  detail::PoolWork* head = intake_.load(std::memory_order_relaxed);
  do {
    if (head == sealed_intake()) {  // closed: the locked path refuses it
      work->intake_hold.reset();
      return false;
    }
    work->intake_next = head;
    // seq_cst (see above); its release half publishes the fields written above to the absorb.
  } while (!intake_.compare_exchange_weak(head, work.get(), std::memory_order_seq_cst,
                                          std::memory_order_relaxed));
  if (!intake_covered()) {
    // A worker stopped spinning meanwhile; it may be parking without having seen this task.
    detail::UniqueLock lock(mutex_, std::defer_lock);
    lock.lock_spinning(kLockTries);
    absorb_intake_locked(Taker::none);
  }
  return true;
}

void Pool::absorb_intake_locked(Taker taker) {
  // Nothing to do (the common case), or sealed already. seq_cst: for a worker on its way to
  // park this load is its look at the intake, the last of its three steps against push_intake
  // (a relaxed load could miss a push that a submitter's re-check counted on it to see). On
  // x86 a seq_cst load is a plain load.
  detail::PoolWork* top = intake_.load(std::memory_order_seq_cst);
  if (top == sealed_intake() || (top == nullptr && !closing_)) return;
  // seq_cst: see push_intake; its acquire half makes the pushed fields visible.
  top = intake_.exchange(closing_ ? sealed_intake() : nullptr, std::memory_order_seq_cst);
  if (top == nullptr || top == sealed_intake()) return;
  detail::PoolWork* fifo = nullptr;  // the stack, reversed: oldest first
  while (top != nullptr) {
    detail::PoolWork* below = std::exchange(top->intake_next, fifo);
    fifo = std::exchange(top, below);
  }
  std::size_t absorbed = 0;
  for (detail::PoolWork* next = fifo; next != nullptr;) {
    detail::PoolWork& entry = *next;
    next = std::exchange(entry.intake_next, nullptr);
    Queued queued{std::int64_t{entry.intake_priority} * kAgingTasks - next_seq_++,
                  std::move(entry.intake_hold)};
    ++stats_.submitted;
    try {
      queue_.push_back(std::move(queued));  // on failure, `queued` is left as it was
    } catch (...) {
      // No memory for the heap: the task is dropped unrun, its future fails with
      // Error(cancelled) (its callable is destroyed here, under the lock: only in this case).
      ++stats_.cancelled;
      queued.work->drop(queued.work->claim_waiting(false), nullptr);
      continue;
    }
    std::push_heap(queue_.begin(), queue_.end(), lower_score<Queued>);
    ++absorbed;
  }
  queued_tasks_ += absorbed;
  queue_changed_locked();  // the intake counted as queued for idleness: it is now the heap's
  if (absorbed != 0 && !closing_) grow_and_wake_locked(absorbed, taker);
}

bool Pool::intake_covered() const noexcept {
  // spinning_ first: a worker raises parked_ before it lowers spinning_.
  if (spinning_.load(std::memory_order_seq_cst) != 0) return true;
  return parked_.load(std::memory_order_seq_cst) == 0 &&
         alive_.load(std::memory_order_seq_cst) >= max_workers_;
}

std::size_t Pool::intake_size_locked() const {
  std::size_t size = 0;
  // acquire: the entries' links were published by their pushes (a chain of compare-and-swaps,
  // so this load synchronizes with each); they stay put while mutex_ is held.
  for (const detail::PoolWork* entry = intake_.load(std::memory_order_acquire);
       entry != nullptr && entry != sealed_intake(); entry = entry->intake_next) {
    ++size;
  }
  return size;
}

// Books a worker task's end: on the task's return, or when the runtime's shutdown drops it.
// Armed once its spawn succeeded (Thread::spawned); before that, the spawner undoes the record.
class Pool::WorkerExit {
 public:
  WorkerExit(Pool* pool, ThreadRef self) noexcept : pool_(pool), self_(self) {}
  WorkerExit(WorkerExit&& other) noexcept
      : pool_(std::exchange(other.pool_, nullptr)), self_(other.self_) {}
  WorkerExit& operator=(WorkerExit&&) = delete;
  // `spawned` is read without the lock: it is written under it, before the task can run, by
  // the thread that then drives the runtime (deterministic mode has no other thread); a spawn
  // that fails destroys the frame on the spawning thread, which holds the lock.
  ~WorkerExit() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (pool_ != nullptr && self_->spawned) pool_->worker_task_ended(*self_);
  }

 private:
  Pool* pool_;
  ThreadRef self_;
};

void Pool::start_worker_locked() {
  reap_locked();
  auto self = threads_.emplace(threads_.end());
  self->generation = generation_;
  try {
    if (options_.runtime != nullptr) {
      options_.runtime->spawn(worker_task(self, WorkerExit(this, self))).detach();
      self->spawned = true;
    } else {
      self->thread = std::thread([this, self] { worker_loop(self); });
    }
  } catch (...) {
    threads_.erase(self);
    throw;
  }
  alive_.fetch_add(1, std::memory_order_seq_cst);  // see intake_covered
  ++stats_.workers_started;
}

void Pool::replace_locked() {
  if (closing_) return;  // closing: the workers left finish the queue
  try {
    start_worker_locked();
  } catch (const std::system_error&) {
    // No thread to be had now (a process limit): the pool runs a worker short until a
    // submit starts one; a close cancels what no worker is left to run.
  }
}

void Pool::reap_locked() {
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (it->exited) {
      // A thread has only to return: its last act was under our lock. A task has none.
      if (it->thread.joinable()) it->thread.join();
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
}

bool Pool::init_worker(detail::UniqueLock& lock, Thread& self) {
  const std::shared_ptr<const std::function<void()>> init = init_;
  self.generation = generation_;
  self.started = std::chrono::steady_clock::now();
  std::exception_ptr error;
  if (init != nullptr && *init) {
    detail::Unlocked unlocked(lock, mutex_);
    try {
      (*init)();
    } catch (...) {
      error = std::current_exception();
    }
  }
  if (error == nullptr) {
    self.ready = true;
    init_failures_in_row_ = 0;
    if (ready_left_ > 0) {
      --ready_left_;
      ready_.count_down();
    }
    done_cv_.notify_all();  // replace_workers waits for the new workers to be ready
    return true;
  }
  ++stats_.init_failures;
  if (++init_failures_in_row_ < options_.max_init_failures) {
    replace_locked();
    return false;
  }
  if (closing_) return false;
  // Giving up: no worker can start, so nothing queued would ever run. The pool closes, and
  // every waiter learns why: queued tasks, later submissions, wait_ready, replace_workers.
  closing_ = true;
  absorb_intake_locked(Taker::none);  // seals it: what it held is dropped with the queue below
  try {
    gave_up_ = std::make_exception_ptr(
        Error(ErrorCode::cancelled, describe() + ": gave up: worker_init failed " +
                                        std::to_string(init_failures_in_row_) +
                                        " times in a row (last: " +
                                        detail::describe_exception(error) + ")"));
  } catch (...) {  // no memory for the message: the init's own error says enough
    gave_up_ = error;
  }
  if (ready_left_ > 0) {
    ready_.count_down(ready_left_);
    ready_left_ = 0;
  }
  Dropped taken = take_queue_locked();
  notify_workers(true);  // idle workers see the close and leave
  const std::exception_ptr why = gave_up_;
  detail::Unlocked unlocked(lock, mutex_);
  drop_taken(std::move(taken), why);
  return false;
}

bool Pool::recycling_due_locked(const Thread& self) const {
  if (closing_) return false;  // no replacements now: the workers left finish the queue
  return self.generation != generation_ ||
         (options_.max_tasks_per_worker != 0 && self.tasks >= options_.max_tasks_per_worker) ||
         (options_.max_worker_age.count() > 0 &&
          std::chrono::steady_clock::now() - self.started >= options_.max_worker_age);
}

Pool::Turn Pool::worker_turn_locked(detail::UniqueLock& lock, Thread& self) {
  absorb_intake_locked(Taker::busy_worker);
  if (recycling_due_locked(self)) {
    ++stats_.workers_recycled;
    replace_locked();
    return Turn::leave;
  }
  if (queue_.empty()) return closing_ ? Turn::leave : Turn::idle;
  const bool faulted = queue_.front().work->is_batch ? run_chunk_locked(lock, self)
                                                    : run_single_locked(lock, self);
  if (faulted) {
    ++stats_.workers_faulted;
    replace_locked();
    return Turn::leave;
  }
  return Turn::ran;
}

void Pool::worker_loop(ThreadRef self) {
  tls_pool = this;
  detail::UniqueLock lock(mutex_);
  const bool ready = init_worker(lock, *self);  // on failure, a replacement is on its way
  bool retired = false;
  while (ready) {
    const Turn turn = worker_turn_locked(lock, *self);
    if (turn == Turn::leave) break;
    if (turn == Turn::idle) {
      ++idle_;
      // Spin first, outside the lock, watching the queue's size: a task submitted meanwhile is
      // taken without the futex wake a parked worker costs. The spin outlasts such a wake
      // (tens of microseconds across cores on the 2-core VM), so that a submitter waiting for
      // this worker's last result, woken by it, finds the worker still awake when it submits
      // the next task; otherwise both sides would park and wake each other every round trip.
      // Pauses first, then yields (so a submitter on this core gets it), up to kIdleSpin.
      // relaxed: changed under mutex_, and push_intake reads it again after its push.
      spinning_.fetch_add(1, std::memory_order_relaxed);
      lock.unlock();
      SpinWait spin;
      const auto spin_until = std::chrono::steady_clock::now() + kIdleSpin;
      while (pending_.load(std::memory_order_relaxed) == 0 &&
             intake_.load(std::memory_order_relaxed) == nullptr) {
        if (spin.spin()) continue;
        if (std::chrono::steady_clock::now() >= spin_until) break;
        std::this_thread::yield();
      }
      lock.lock_spinning(kLockTries);
      // seq_cst, all three: parked before not spinning, both before the absorb in wake()
      // below (see push_intake and intake_covered).
      parked_.fetch_add(1, std::memory_order_seq_cst);
      spinning_.fetch_sub(1, std::memory_order_seq_cst);
      const auto wake = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        absorb_intake_locked(Taker::idle_worker);  // counted in idle_, no longer spinning
        return !queue_.empty() || closing_ || self->generation != generation_;
      };
      const bool woken = wake() || work_cv_.wait_for(lock.native(), options_.idle_timeout, wake);
      --idle_;
      retired = !woken && alive_.load(std::memory_order_relaxed) > options_.min_workers;
      // Leaving: one worker fewer before none parked (see intake_covered).
      if (retired) alive_.fetch_sub(1, std::memory_order_seq_cst);
      parked_.fetch_sub(1, std::memory_order_seq_cst);
      if (retired) {
        ++stats_.workers_retired;
        break;
      }
    }
  }
  if (!retired) alive_.fetch_sub(1, std::memory_order_seq_cst);  // see intake_covered
  self->exited = true;
  tls_pool = nullptr;
  done_cv_.notify_all();
}

Task<void> Pool::worker_task(ThreadRef self, WorkerExit exit) {
  (void)exit;  // books the end when the frame goes
  detail::UniqueLock lock(mutex_);
  const bool ready = init_worker(lock, *self);  // on failure, a replacement is on its way
  while (ready) {
    const Turn turn = worker_turn_locked(lock, *self);
    if (turn == Turn::leave) break;
    if (turn == Turn::idle) {
      // Registered before the lock goes: a notify_all from then on reaches this wait.
      auto woken = work_signal_.notified();
      ++idle_;
      self->waiting = true;
      lock.unlock();
      co_await woken;
      lock.lock();
      self->waiting = false;
      --idle_;
    }
  }
}

void Pool::worker_task_ended(Thread& self) {
  detail::MutexLock lock(mutex_);
  if (self.waiting) {  // dropped at its wait by the runtime's shutdown
    self.waiting = false;
    --idle_;
  }
  alive_.fetch_sub(1, std::memory_order_seq_cst);  // see intake_covered
  self.exited = true;
  done_cv_.notify_all();
}

void Pool::notify_workers(bool all) noexcept {
  if (all) {
    work_cv_.notify_all();
  } else {
    work_cv_.notify_one();
  }
  if (options_.runtime == nullptr) return;
  if (all) {
    work_signal_.notify_all();
  } else {
    work_signal_.notify_one();
  }
}

void Pool::drive_until(const char* what, absl::FunctionRef<bool()> holds) {
  const bool held = options_.runtime->run_until([&] {
    detail::MutexLock lock(mutex_);
    return holds();
  });
  if (!held) options_.runtime->throw_deadlock(describe() + ": " + what, "the wait");
}

std::size_t Pool::retire_locked(detail::PoolWork& work) {
  if (!work.is_batch) {
    --queued_tasks_;
    // Cancelled by its future or a forced close; an expired one was counted by the timer.
    if (static_cast<detail::PoolJob&>(work).phase.load(std::memory_order_relaxed) ==
        detail::PoolJob::kCancelled) {
      ++stats_.cancelled;
    }
    return 1;
  }
  auto& batch = static_cast<detail::PoolBatchJob&>(work);
  const std::size_t unrun = batch.size() - batch.ran;  // claimed by a worker: counted there
  queued_tasks_ -= unrun;
  stats_.cancelled += unrun - batch.expired;
  return unrun;
}

void Pool::queue_changed_locked() {
  pending_.store(queue_.size(), std::memory_order_relaxed);
  const bool drained = drain_wanted_ && drained_locked();
  const bool idle = idle_wanted_ && (idle_locked() || closing_);
  if (!drained && !idle) return;
  if (drained) drain_wanted_ = false;
  if (idle) idle_wanted_ = false;
  signal_cv_.notify_all();
  signal_.notify_all();
}

bool Pool::run_single_locked(detail::UniqueLock& lock, Thread& self) {
  std::pop_heap(queue_.begin(), queue_.end(), lower_score<Queued>);
  auto job = std::static_pointer_cast<detail::PoolJob>(std::move(queue_.back().work));
  queue_.pop_back();
  if (!job->claim(detail::PoolJob::kRunning)) {
    // Cancelled by its future while queued, or expired: discarded unrun; its future has
    // resolved already.
    const std::size_t permits = retire_locked(*job);
    queue_changed_locked();
    detail::Unlocked unlocked(lock, mutex_);
    if (room_) room_->release(static_cast<std::int64_t>(permits));
    job.reset();
    return false;
  }
  --queued_tasks_;
  ++running_;
  queue_changed_locked();
  const auto start = std::chrono::steady_clock::now();
  note_time(stats_.wait_time, stats_.max_wait_ns, start - job->queued_at);
  if (job->deadline.count() > 0) {
    try {
      add_timer_locked(job->deadline, job, false);
    } catch (...) {
      // No timer thread or no memory for the entry: this run goes without its deadline
      // (the thread was started at submission, so only an allocation can fail here).
    }
  }
  detail::RunOutcome outcome;
  std::chrono::steady_clock::duration ran{};
  std::int64_t job_stop_ns = 0;
  bool job_sees_stop = false;
  {
    detail::Unlocked unlocked(lock, mutex_, kLockTries);
    if (room_) room_->release(1);  // the task's permit: a submitter may queue another
    outcome = job->run();          // destroys the callable, outside the lock
    ran = std::chrono::steady_clock::now() - start;
    // Read before the job goes: a request made after this is one for a finished task.
    job_stop_ns = job->stop_requested_ns.load(std::memory_order_relaxed);
    job_sees_stop = job->sees_stop();
    job.reset();
  }
  --running_;
  ++self.tasks;
  queue_changed_locked();
  note_time(stats_.run_time, stats_.max_run_ns, ran);
  if (const std::int64_t asked = job_stop_ns; asked != 0) {
    ++stats_.stop_requests;
    if (!job_sees_stop) ++stats_.stops_unseen;
    const auto latency = std::chrono::nanoseconds(detail::steady_ns() - asked);
    stats_.max_stop_latency_ns =
        std::max(stats_.max_stop_latency_ns,
                 static_cast<std::uint64_t>(std::max<std::int64_t>(latency.count(), 0)));
  }
  if (!outcome.overdue) {  // overdue: counted in deadline_exceeded by the timer
    if (outcome.failed != 0) {
      ++stats_.failed;
    } else {
      ++stats_.completed;
    }
  }
  return outcome.faulted;
}

bool Pool::run_chunk_locked(detail::UniqueLock& lock, Thread& self) {
  std::shared_ptr<detail::PoolWork> work = queue_.front().work;
  auto& batch = static_cast<detail::PoolBatchJob&>(*work);
  // Guided chunks: a share of what is left, so that the workers finish the batch together,
  // capped so that other entries get their turn.
  const std::size_t most =
      std::clamp<std::size_t>(batch.unclaimed() / (2 * max_workers_), 1, kMaxChunk);
  const detail::TaskRange range = batch.claim(most);
  batch.ran += range.size();
  queued_tasks_ -= range.size();
  std::size_t permits = range.size();
  if (!batch.waiting()) {  // taken in full, or the rest dropped: it leaves the queue
    std::pop_heap(queue_.begin(), queue_.end(), lower_score<Queued>);
    queue_.pop_back();
    permits += retire_locked(batch);
  }
  const auto start = std::chrono::steady_clock::now();
  queue_changed_locked();
  if (!range.empty()) {
    running_ += range.size();
    note_time(stats_.wait_time, stats_.max_wait_ns, start - batch.queued_at, range.size());
  }
  detail::RunOutcome outcome;
  std::chrono::steady_clock::duration ran{};
  {
    detail::Unlocked unlocked(lock, mutex_, kLockTries);
    if (room_ && permits != 0) room_->release(static_cast<std::int64_t>(permits));
    if (!range.empty()) outcome = batch.run(range);
    ran = std::chrono::steady_clock::now() - start;
    work.reset();
  }
  if (range.empty()) return false;
  running_ -= range.size();
  self.tasks += range.size();
  queue_changed_locked();
  note_time(stats_.run_time, stats_.max_run_ns, ran / range.size(), range.size());
  stats_.completed += range.size() - outcome.failed;
  stats_.failed += outcome.failed;
  return outcome.faulted;
}

Pool::Dropped Pool::take_queue_locked() {
  // Each entry is booked (see retire_locked): what had not started is cancelled now, unless
  // its future cancelled it already or it expired.
  Dropped taken;
  for (Queued& queued : queue_) {
    const detail::TaskRange range = queued.work->claim_waiting(false);
    taken.second += retire_locked(*queued.work);
    if (!range.empty()) taken.first.emplace_back(std::move(queued.work), range);
  }
  queue_.clear();
  queue_changed_locked();
  return taken;
}

void Pool::drop_taken(Dropped&& taken, const std::exception_ptr& error) {
  for (auto& [work, range] : taken.first) work->drop(range, error);
  // Submitters still waiting for room wake up and find the pool closed.
  if (room_ && taken.second != 0) room_->release(static_cast<std::int64_t>(taken.second));
}

void Pool::close(bool force) {
  if (tls_pool == this) {
    throw Error(ErrorCode::invalid_argument,
                "Pool::close: called from one of the pool's own workers (it would join itself)");
  }
  {
    detail::UniqueLock lock(mutex_);
    closing_ = true;
    absorb_intake_locked(Taker::none);  // seals it: a later submit takes the locked path, refused
    queue_changed_locked();  // drain waiters: a closed pool has nothing left to drain
    Dropped dropped = force ? take_queue_locked() : Dropped{};
    notify_workers(true);
    lock.unlock();
    drop_taken(std::move(dropped), nullptr);  // at once, not after the running tasks
  }
  std::list<Thread> threads;
  std::thread timer;
  if (options_.runtime != nullptr) {
    drive_until("close", [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return alive_.load(std::memory_order_relaxed) == 0;
    });
  }
  {
    detail::UniqueLock lock(mutex_);
    // Every worker finishes the queue (unless dropped) and its running task, then exits.
    done_cv_.wait(lock.native(), [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return alive_.load(std::memory_order_relaxed) == 0;
    });
    // Left with no worker to run them (none could be started): cancelled.
    Dropped left = take_queue_locked();
    threads.swap(threads_);
    timer_stop_ = true;  // nothing runs or waits any more: the timer has nothing left to do
    timer = std::move(timer_thread_);
    timer_cv_.notify_all();
    lock.unlock();
    drop_taken(std::move(left), nullptr);
  }
  for (Thread& t : threads) {
    if (t.thread.joinable()) t.thread.join();
  }
  if (timer.joinable()) timer.join();
}

bool Pool::needs_drain() const {
  detail::MutexLock lock(mutex_);
  return draining_locked();
}

void Pool::wait_signal(const char* what, bool (Pool::*holds)() const, bool Pool::*wanted) {
  detail::refuse_blocking_on_worker(what);
  if (options_.runtime != nullptr) {
    drive_until(what, [this, holds]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return (this->*holds)();
    });
    return;
  }
  detail::UniqueLock lock(mutex_);
  while (!(this->*holds)()) {
    this->*wanted = true;
    signal_cv_.wait(lock.native());
  }
}

Task<void> Pool::await_signal(bool (Pool::*holds)() const, bool Pool::*wanted) {
  for (;;) {
    auto woken = signal_.notified();  // a waiter from here: no notify_all after it is lost
    {
      detail::MutexLock lock(mutex_);
      if ((this->*holds)()) co_return;
      this->*wanted = true;
    }
    co_await woken;
  }
}

void Pool::wait_drain() {
  wait_signal("Pool::wait_drain", &Pool::drained_locked, &Pool::drain_wanted_);
}
Task<void> Pool::drained() { return await_signal(&Pool::drained_locked, &Pool::drain_wanted_); }
void Pool::wait_idle() { wait_signal("Pool::wait_idle", &Pool::idle_locked, &Pool::idle_wanted_); }
Task<void> Pool::idle() { return await_signal(&Pool::idle_locked, &Pool::idle_wanted_); }

void Pool::wait_ready() {
  detail::refuse_blocking_on_worker("Pool::wait_ready");
  if (options_.runtime != nullptr) {
    drive_until("wait_ready", [this] { return ready_.try_wait(); });
  }
  ready_.blocking_wait();
  detail::MutexLock lock(mutex_);
  if (gave_up_) std::rethrow_exception(gave_up_);
}

Task<void> Pool::ready() {
  co_await ready_.wait();
  std::exception_ptr gave_up;
  {
    detail::MutexLock lock(mutex_);
    gave_up = gave_up_;
  }
  if (gave_up) std::rethrow_exception(gave_up);
}

void Pool::replace_workers(std::function<void()> init) {
  if (tls_pool == this) {
    throw Error(ErrorCode::invalid_argument,
                "Pool::replace_workers: called from one of the pool's own workers (it would "
                "wait for itself)");
  }
  auto next = init ? std::make_shared<const std::function<void()>>(std::move(init)) : nullptr;
  detail::UniqueLock lock(mutex_);
  if (closing_) {
    throw Error(ErrorCode::closed, describe() + ": replace_workers: the pool is closed");
  }
  init_ = std::move(next);
  const std::uint64_t target = ++generation_;
  stats_.generation = generation_;
  notify_workers(true);  // idle workers leave now, each starting its replacement
  // Done when every worker alive runs the new init and has finished it (or the pool closed,
  // or gave up because the new init keeps failing).
  const auto replaced = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return closing_ || std::all_of(threads_.begin(), threads_.end(), [&](const Thread& t) {
             return t.exited || (t.generation >= target && t.ready);
           });
  };
  if (options_.runtime != nullptr) {
    detail::Unlocked unlocked(lock, mutex_);
    drive_until("replace_workers", replaced);
  }
  done_cv_.wait(lock.native(), replaced);
  if (gave_up_) std::rethrow_exception(gave_up_);
}

bool Pool::is_closed() const {
  detail::MutexLock lock(mutex_);
  return closing_;
}

PoolStats Pool::stats() const {
  detail::MutexLock lock(mutex_);
  PoolStats out = stats_;
  // Tasks still in the intake are submitted and queued already, for whoever asks.
  const std::size_t intake = intake_size_locked();
  out.submitted += intake;
  out.queued = queued_tasks_ + intake;
  out.running = running_;
  out.workers = alive_.load(std::memory_order_relaxed);
  out.idle_workers = idle_;
  // relaxed: raised and lowered under mutex_, which we hold: exact.
  out.parked_workers = parked_.load(std::memory_order_relaxed);
  const double capacity_ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - started_)
          .count() *
      static_cast<double>(max_workers_);
  out.utilization =
      capacity_ns > 0 ? std::min(1.0, static_cast<double>(out.run_time.sum_ns) / capacity_ns) : 0;
  return out;
}

}  // namespace troupe
