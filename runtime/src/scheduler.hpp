// The scheduler behind troupe::Runtime (see runtime.hpp for the user-facing behaviour). Not API.
//
// Pieces: Worker (a thread, its LocalQueue and next slot), the global queue, the idle
// coordinator (who is searching, who sleeps), the live-task registry (for cancellation at
// shutdown and its report), the blocking pool, the monitor thread and the timer driver.
//
// Wake-up protocol between work producers and parking workers (why no work is stranded):
//   producer:  push the task (release store)  -> seq_cst fence -> read searching_/sleeping_
//   parker:    sleeping_ += 1, searching_ -= 1 (seq_cst RMWs) -> seq_cst fence -> re-check
//              every queue before it sleeps
// Either the producer sees the sleeper (and, with no searcher, wakes one), or the sleeper's
// re-check sees the task. A searcher that finds work while being the last searcher wakes one
// more sleeper (tokio's handoff), so one search always follows new work.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <absl/functional/function_ref.h>

#include "local_queue.hpp"
#include "timer_driver.hpp"
#include "troupe/channels/detail/mutex.hpp"
#include "troupe/runtime/detail/raw_task.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe::detail {

// A counter written only by its owner thread: a relaxed load and store, no locked instruction;
// readable (approximately) from any thread.
class OwnerCounter {
 public:
  // `order`: relaxed, or release where a reader pairs an acquire get() with it (busy/idle).
  void add(std::uint64_t n = 1, std::memory_order order = std::memory_order_relaxed) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, order);
  }
  [[nodiscard]] std::uint64_t get(
      std::memory_order order = std::memory_order_relaxed) const noexcept {
    return value_.load(order);
  }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Scheduler;

class Worker final : private TurnYielder {
 public:
  Worker(Scheduler& scheduler, std::size_t index) : scheduler_(scheduler), index_(index) {}
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker() = default;

  void start();           // launches the thread (the slot must be inactive)
  void join_if_exited();  // joins a previous thread of this slot
  void join();

  LocalQueue queue;
  std::atomic<RawTask*> lifo{nullptr};  // the next slot; stolen only while the worker stalls
  std::atomic<bool> lifo_thief{false};  // a thief is at the slot (see steal_stranded)
  std::atomic<bool> active{false};      // a thread runs this slot
  std::atomic<bool> ever_ran{false};
  std::atomic<bool> stalled{false};     // set by the monitor
  // Stall detection: poll_seq changes at every poll start, in_poll tells if one is running.
  std::atomic<std::uint64_t> poll_seq{0};
  std::atomic<bool> in_poll{false};
  Parker* parker = nullptr;  // the thread's parker; valid while active

  struct Counters {
    OwnerCounter polls, lifo_polls, turns_yielded, steals, global_polls, overflows, parks, wakes, spawned,
        completed, busy_ns, idle_ns;
  } counters;

  // Busy and idle time up to `now`, the period under way included (a parked worker's idle
  // time grows, so does a busy one's busy time). Any thread.
  struct Times {
    std::chrono::nanoseconds busy{0};
    std::chrono::nanoseconds idle{0};
  };
  [[nodiscard]] Times times(std::chrono::steady_clock::time_point now) const noexcept;

  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  [[nodiscard]] Scheduler& scheduler() const noexcept { return scheduler_; }

  // --- owner thread only ---
  void run();
  // A wake from the task this worker runs; `fresh`: a task it just spawned.
  void schedule_from_task(RawTask* task, bool fresh = false);
  void push_local(RawTask* task, bool notify);

  // --- any thread ---
  // Takes the task in the next slot of this (stalled) worker, and the tasks waiting in its
  // retry list, if it is still inside a poll: returns one, queues the rest on `thief`.
  RawTask* steal_stranded(Worker& thief) noexcept;
  // Whether a stalled worker has stranded work for steal_stranded (a hint: relaxed loads).
  [[nodiscard]] bool has_stranded() const noexcept {
    return lifo.load(std::memory_order_relaxed) != nullptr ||
           retry_head_.load(std::memory_order_relaxed) != nullptr;
  }
  std::uint64_t next_task_id() noexcept { return (++spawn_seq_ << 9) | (index_ + 1); }
  // References on the Scheduler for the tasks spawned / destroyed here, batched so that the
  // shared count is touched once per kSchedulerRefBatch tasks (raw_task.hpp).
  void take_scheduler_ref();
  void give_back_scheduler_ref() noexcept;
  // Hands the batched references in hand back to the Scheduler (a thread that stops running
  // this worker: its own thread on exit, or a deterministic runtime's driver).
  void return_scheduler_refs() noexcept;
  // Set by the worker when it caught up with its local queue: found it empty at a pick, or
  // took a retry (a send waiting on its channel's consumer, which another core would not
  // speed up); cleared by the monitor at each tick. A worker that did neither for a whole tick
  // has work waiting for a core (Scheduler::monitor_loop). relaxed: a hint.
  std::atomic<bool> caught_up{false};
  bool in_task = false;
  bool finishing = false;  // run_task is completing the task it polled (Scheduler::finish)

  // Polls `task` once on the calling thread, with `budget` coop operations.
  void run_task(RawTask* task, std::int32_t budget);

 private:
  RawTask* next_task();
  RawTask* pop_local();  // from the local queue: never-started tasks newest first
  void queue_retry(RawTask* task) noexcept;  // see retry_head_
  RawTask* take_retry() noexcept;
  void note_caught_up() noexcept;  // see caught_up
  RawTask* search();
  bool try_become_searcher();
  void leave_searching();
  bool park();  // false: the worker retires
  void end_of_poll_handshake() noexcept;
  // TurnYielder (awaitable.hpp): the polled task gives up its turn if another task is runnable
  // here; run_task then queues it again without its closing transition.
  bool yield_turn(const Waker& waker) noexcept override;
  void retry_quietly(const Waker& waker) noexcept override;
  bool has_company(const Waker& waker) noexcept override;

  Scheduler& scheduler_;
  const std::size_t index_;
  std::thread thread_;
  std::uint32_t tick_ = 0;
  std::uint32_t lifo_streak_ = 0;
  bool searching_ = false;
  // The task that gave up its turn (yield_turn) in the poll running or just ended, until
  // next_task places it; whether the poll before the running one ended that way; the yielder
  // next_task last put in the next slot (compared, never dereferenced).
  RawTask* yielder_ = nullptr;
  bool last_poll_yielded_ = false;
  RawTask* lifo_yielder_ = nullptr;
  bool lifo_fresh_ = false;  // the task we last put in the next slot was just spawned
  // At least the number of started tasks in the local queue (stolen ones are not subtracted),
  // and how many picks in a row took a never-started task from its tail: see pop_local.
  std::uint32_t started_queued_ = 0;
  std::uint32_t fresh_streak_ = 0;
  bool quiet_retry_ = false;  // the running poll's wake is a retry (retry_quietly)
  // Tasks queued to retry a send on a full channel (retry_quietly), oldest first, linked
  // through RawTask::next (free: a task here is in no global queue). Thieves do not take them:
  // such a task waits for its channel's consumer, and running it on another worker makes the
  // two ends trade the channel's cache lines at every message (BENCHMARKS.md: fanin). Only a
  // stalled worker's list is taken (steal_stranded), under the next slot's handshake. The
  // owner touches the list between polls only; the head is atomic for has_stranded's hint
  // (relaxed: the handshake orders the rest). The tail is valid while the head is not null.
  std::atomic<RawTask*> retry_head_{nullptr};
  RawTask* retry_tail_ = nullptr;
  std::uint64_t rng_ = 0;
  std::uint64_t spawn_seq_ = 0;
  static constexpr std::uint64_t kSchedulerRefBatch = 1024;
  std::uint64_t scheduler_refs_ = 0;  // taken from Scheduler::refs_, not yet given to a task
  // Ends the period under way at `now` (adding it to busy_ns or idle_ns) and begins the next
  // (Period::none: the thread stops). Owner only.
  enum class Period { none, busy, parked };
  void switch_period(std::chrono::steady_clock::time_point now, Period next) noexcept;
  // The period under way, for times(): its start (steady_clock nanoseconds) shifted left by
  // two, kParkedBit if parked, 0 while no thread runs. kWritingBit is set while switch_period
  // updates the counters: a sequence lock, so that times() never counts a period twice or
  // not at all. Written only by the owner.
  static constexpr std::uint64_t kParkedBit = 1;
  static constexpr std::uint64_t kWritingBit = 2;
  std::atomic<std::uint64_t> period_{0};
};

// The thread of one task spawned with SpawnOptions::dedicated_thread. It polls only that task:
// the scheduler's schedule() hands it the task by setting `ready` and waking its parker. The
// record lives until the task has completed and its thread has been joined (or until the
// Scheduler is destroyed); notify() does not touch it after setting `ready` (the moment the
// thread may finish, and the record be reaped).
class DedicatedThread {
 public:
  explicit DedicatedThread(RawTask* task) noexcept : task_(task) {}
  ~DedicatedThread();
  DedicatedThread(const DedicatedThread&) = delete;
  DedicatedThread& operator=(const DedicatedThread&) = delete;

  // The task became runnable (it was idle). Any thread; never blocks.
  void notify() noexcept;
  // Wakes the thread so that it sees the scheduler stopping.
  void interrupt() noexcept;
  // The thread's body.
  void run(Scheduler& scheduler);

  std::thread thread;
  bool exited = false;  // guarded by the scheduler's dedicated_mutex_

 private:
  bool wait_ready(const Scheduler& scheduler);

  RawTask* task_;
  // release/acquire: notify's release hands the waker's writes (already ordered by the task's
  // CAS chain) to the thread's acquire before it polls; a plain flag, as the task's kScheduled
  // bit guarantees at most one notify per idle period.
  std::atomic<bool> ready_{true};  // spawned scheduled: the first poll is due
  PlainMutex parker_mutex_;  // publishes parker_ to interrupt() (see run)
  // The thread's (a reference); notify reads it after the task's first poll, which
  // happens-after it is set.
  Parker* parker_ = nullptr;
};

// Live tasks, sharded by id (spawn and completion lock one shard each).
class Registry {
 public:
  // Adds `task`; false once closed (shutdown began).
  bool add(RawTask* task);
  // Unlinks `task`; false if it was not linked (the shutdown drain took it).
  bool remove(RawTask* task) noexcept;
  void close();
  // Unlinks and returns some live task on a dedicated thread (or, `dedicated` false, any other
  // task), or nullptr when none is left.
  RawTask* take_any(bool dedicated);
  [[nodiscard]] std::uint64_t size() const;

 private:
  static constexpr std::size_t kShards = 16;
  struct alignas(64) Shard {
    mutable SpinMutex mutex;  // held for a link or an unlink, or to walk the list
    RawTask* head ABSL_GUARDED_BY(mutex) = nullptr;
    std::uint64_t count ABSL_GUARDED_BY(mutex) = 0;
    bool closed ABSL_GUARDED_BY(mutex) = false;
  };
  Shard& shard_of(const RawTask* task) noexcept { return shards_[task->id % kShards]; }
  Shard shards_[kShards];
};

// Lifetime: reference counted. The Runtime holds one reference, every task one (raw_task.hpp;
// workers batch these), and the last release frees the Scheduler — after shutdown(), since the
// Runtime releases its reference only after shutting down. So a wake arriving from outside
// while the Runtime is destroyed finds the scheduler still there (its queues closed).
class Scheduler {
 public:
  Scheduler(Runtime& owner, RuntimeOptions options);
  ~Scheduler();
  // Drops one reference; the last frees the Scheduler. Thread-safe.
  void release_ref() noexcept;

  void spawn(RawTask* task, Placement placement);
  void schedule(RawTask* task) noexcept;  // from RawTask::wake (kScheduled already set)
  // schedule() from a thread that runs `worker`, one of ours (a wake from a task, the common
  // case): inlined into the task's wake, which has checked that already.
  void schedule_on_own(Worker& worker, RawTask* task) noexcept;
  void finish(RawTask* task) noexcept;    // completion: join wake, registry, reference
  void shutdown();
  [[nodiscard]] bool is_shut_down() const noexcept {
    return shut_down_.load(std::memory_order_acquire);
  }
  [[nodiscard]] ShutdownReport report() const;
  [[nodiscard]] RuntimeMetrics metrics() const;
  [[nodiscard]] const RuntimeOptions& options() const noexcept { return options_; }
  [[nodiscard]] Runtime& owner() const noexcept { return owner_; }
  TimerDriver& timers() noexcept { return timers_; }

  // Deterministic mode (RuntimeOptions::deterministic_seed; runtime.hpp): no thread runs the
  // workers; drive() runs tasks on the calling thread, the seeded generator picking each next
  // one among the runnable (ready_), until `done()` or until idle (nothing runnable, no timer:
  // then virtual time jumps to the next timer first). Returns the polls it ran (0 once
  // shutdown has begun, also when the shutdown took the driver's lock after drive checked).
  // Throws Error(invalid_argument) from a runtime thread or while another thread drives.
  [[nodiscard]] bool deterministic() const noexcept { return deterministic_; }
  std::size_t drive(absl::FunctionRef<bool()> done);
  // As drive, but nullopt (having run nothing) while another thread drives.
  std::optional<std::size_t> try_drive(absl::FunctionRef<bool()> done);
  [[nodiscard]] std::uint64_t live_tasks() const { return registry_.size(); }

  // Global queue.
  void push_global(RawTask* task);
  void push_global_batch(RawTask** tasks, std::size_t n, RawTask* extra);
  RawTask* pop_global();
  [[nodiscard]] std::uint64_t global_len() const noexcept {
    return global_len_.load(std::memory_order_relaxed);
  }

  // Wakes from outside the workers, and the shutdown drain. A wake that hands its reference
  // to the queue (wake_and_release: its CAS took the task from idle to scheduled) still reads
  // the task afterwards, to queue it, with no reference of its own left. The drain frees
  // tasks while plain threads, blocking jobs and dedicated threads may still wake them: such
  // a wake (not from one of this scheduler's workers, which are joined before the drain)
  // counts itself in external_wakes_ from before its CAS until it has queued the task (or
  // found the queue closed), and the drain waits for the count to be zero before it drops a
  // task's last references, and once more before shutdown returns (a wake whose push
  // succeeded may still be notifying after its task ran and was freed). The count and the
  // CAS on one side, complete_abandoned's CAS and the drain's load on the other, are seq_cst:
  // either the drain sees the count, or the wake's CAS sees the task complete and queues
  // nothing. A worker's own wakes pay one thread-local read; wake() keeps its caller's
  // reference throughout and needs no count.
  [[nodiscard]] bool on_own_worker() const noexcept { return own_worker() != nullptr; }
  // The worker the calling thread runs if it is one of ours (a worker thread, or the driver
  // of a deterministic runtime), else nullptr.
  [[nodiscard]] Worker* own_worker() const noexcept;
  void enter_external_wake() noexcept {
    external_wakes_.fetch_add(1, std::memory_order_seq_cst);  // seq_cst: see above
  }
  void leave_external_wake() noexcept {
    // release: the wake's last reads of the task happen-before the drain's acquire below.
    external_wakes_.fetch_sub(1, std::memory_order_release);
  }
  // Until no external wake is in flight. Shutdown only.
  void await_external_wakes() const noexcept;

  // Idle coordination (see the header comment).
  void notify_parked() noexcept;
  void wake_all_parked() noexcept;
  [[nodiscard]] bool has_work_anywhere(const Worker* except) const noexcept;

  // Access for workers.
  std::vector<std::unique_ptr<Worker>>& workers() noexcept { return workers_; }
  std::atomic<std::uint32_t> searching{0};
  std::atomic<std::uint32_t> sleeping{0};
  std::atomic<std::uint32_t> active_workers{0};
  std::atomic<bool> stopping{false};
  PlainMutex idle_mutex;
  std::vector<Worker*> sleepers ABSL_GUARDED_BY(idle_mutex);
  std::atomic<std::uint64_t> threads_added{0};
  std::atomic<std::uint64_t> threads_retired{0};

 private:
  void monitor_loop();
  void start_worker_if_possible();
  struct BlockingThread {
    std::thread thread;
    bool exited = false;  // guarded by blocking_mutex_
  };
  void blocking_loop(std::list<BlockingThread>::iterator self);
  void start_blocking_thread_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(blocking_mutex_);
  void start_dedicated_thread(RawTask* task);
  void interrupt_dedicated_threads();
  // Reads dedicated_ without its lock, on purpose: see the definition.
  void join_dedicated_threads() ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // Cancels every task left in the registry: the dedicated-thread ones, or all others.
  void drain_registry(ShutdownReport& report, bool dedicated);
  // Deterministic mode: queues a runnable task / takes a random one (nullptr: none) and draws
  // the coop budget of its poll.
  void push_ready(RawTask* task);
  RawTask* pop_ready(std::int32_t& budget);

  friend class Worker;
  friend class DedicatedThread;
  std::atomic<std::uint64_t> refs_{1};  // the Runtime's

  Runtime& owner_;  // valid while the Runtime lives: used only from its (joined) threads
  const RuntimeOptions options_;
  const bool deterministic_;
  std::vector<std::unique_ptr<Worker>> workers_;  // max_threads slots, fixed
  Registry registry_;
  TimerDriver timers_;

  mutable PlainMutex global_mutex_;
  RawTask* global_head_ ABSL_GUARDED_BY(global_mutex_) = nullptr;
  RawTask* global_tail_ ABSL_GUARDED_BY(global_mutex_) = nullptr;
  bool global_closed_ ABSL_GUARDED_BY(global_mutex_) = false;
  std::atomic<std::uint64_t> global_len_{0};

  std::atomic<std::uint64_t> external_wakes_{0};  // in flight (see enter_external_wake)
  std::atomic<std::uint64_t> external_spawns_{0};
  std::atomic<std::uint64_t> external_completions_{0};
  std::atomic<std::uint64_t> stalls_detected_{0};

  // Blocking pool.
  mutable PlainMutex blocking_mutex_;
  std::condition_variable blocking_cv_;
  std::deque<RawTask*> blocking_queue_ ABSL_GUARDED_BY(blocking_mutex_);
  std::list<BlockingThread> blocking_threads_ ABSL_GUARDED_BY(blocking_mutex_);
  std::size_t blocking_alive_ ABSL_GUARDED_BY(blocking_mutex_) = 0;
  std::size_t blocking_idle_ ABSL_GUARDED_BY(blocking_mutex_) = 0;
  bool blocking_stopping_ ABSL_GUARDED_BY(blocking_mutex_) = false;
  std::uint64_t blocking_jobs_ ABSL_GUARDED_BY(blocking_mutex_) = 0;

  // Dedicated threads (SpawnOptions::dedicated_thread).
  mutable PlainMutex dedicated_mutex_;
  std::list<DedicatedThread> dedicated_ ABSL_GUARDED_BY(dedicated_mutex_);
  bool dedicated_stopping_ ABSL_GUARDED_BY(dedicated_mutex_) = false;
  std::atomic<std::uint64_t> dedicated_started_{0};

  // Monitor.
  PlainMutex monitor_mutex_;
  std::condition_variable monitor_cv_;
  std::thread monitor_;

  // Deterministic mode. The runnable tasks (locked: a plain thread's wake may add one), and
  // the driver's state, touched only by the thread holding drive_mutex_.
  PlainMutex ready_mutex_;
  std::vector<RawTask*> ready_ ABSL_GUARDED_BY(ready_mutex_);
  bool ready_closed_ ABSL_GUARDED_BY(ready_mutex_) = false;
  PlainMutex drive_mutex_;
  std::uint64_t drive_rng_ ABSL_GUARDED_BY(ready_mutex_) = 0;

  PlainMutex shutdown_mutex_;  // one shutdown() at a time
  std::atomic<bool> shut_down_{false};
  mutable PlainMutex report_mutex_;
  ShutdownReport report_ ABSL_GUARDED_BY(report_mutex_);  // written once by shutdown()
};

// The worker the calling thread runs (a worker thread, or a deterministic runtime's driver),
// or nullptr. Owner thread only.
inline thread_local Worker* tls_worker = nullptr;

inline Worker* Scheduler::own_worker() const noexcept {
  Worker* const worker = tls_worker;
  return worker != nullptr && &worker->scheduler() == this ? worker : nullptr;
}

inline void Scheduler::schedule_on_own(Worker& worker, RawTask* task) noexcept {
  if (deterministic_) {
    push_ready(task);
  } else if (task->home != nullptr) {
    task->home->notify();
  } else if (worker.in_task || worker.finishing) {
    worker.schedule_from_task(task);
  } else {
    worker.push_local(task, true);
  }
}

// The worker the calling thread runs, or nullptr.
Worker* current_worker() noexcept;
// The task the calling worker is polling, or nullptr.
RawTask* current_task() noexcept;
// The scheduler whose blocking pool runs the calling thread, or nullptr.
Scheduler* current_blocking_scheduler() noexcept;

}  // namespace troupe::detail
