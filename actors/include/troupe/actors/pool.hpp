// troupe/actors/pool.hpp — a worker pool (Piscina's job): submit callables, get futures.
//
//   troupe::PoolOptions po;
//   po.max_workers = 4;
//   po.max_queue = 1000;                        // bounded: submit waits (or rejects) when full
//   troupe::Pool pool(po);
//   auto sum = pool.submit([] { return crunch(); });      // Result<PoolFuture<long>, ...>
//   long n = sum.value().get();                            // blocks a thread; rethrows
//   long m = co_await pool.submit([] { return 2; }).value();   // or awaits, in a task
//   pool.close();                               // finishes what was queued, joins the workers
//
// Where the work runs. The pool's workers are threads of its own, not the runtime's workers:
// CPU-bound work there never starves the actors and tasks on the shared scheduler, and a task
// may block. It starts min_workers threads and adds one (up to max_workers) whenever more
// tasks are queued than workers are idle; a worker idle for idle_timeout exits while more than
// min_workers run.
//
// The queue. Unbounded by default. With max_queue, a full queue either makes the submitter
// wait for room (QueueFull::wait: submit() blocks a thread, `co_await submit_async()` suspends
// a task) or refuses at once (QueueFull::reject); try_submit never waits. A refused callable is
// handed back inside the error.
//
// Priorities. Every submit takes a priority (TaskOptions, or an int; default 0, within
// ±kMaxPriority): higher runs
// first, equal ones in submission order. Waiting tasks age, so a stream of higher-priority
// tasks never starves a lower one: counting submissions, a task b submitted k submissions
// after a task a runs before it only while its priority exceeds a's by more than
// k / kAgingTasks.
//
// Futures. Every PoolFuture resolves: with the callable's value, with what it threw, or with
// Error(cancelled) if the task was dropped before it ran (PoolFuture::cancel, close(force), or
// the pool destroyed). get() blocks a thread (not a runtime worker: that throws
// Error(invalid_argument)); `co_await future` suspends a task. A future is taken once.
//
// Cancellation. PoolFuture::cancel() on a queued task means it never runs (its future fails
// with Error(cancelled) at once; stats count it as queued until a worker discards it, which
// also frees its place in a bounded queue). On a running task it is cooperative: a callable
// taking a std::stop_token (`pool.submit([](std::stop_token st) { ... })`) sees the request
// and may return early; one that ignores it runs to its end. Either way the worker is never
// interrupted and the other tasks are not touched.
//
// Closing. close() stops the intake (a later submit fails at once with Closed, the callable
// handed back), lets the workers finish every queued and running task, and joins them.
// close(force = true) drops the queued tasks instead (their futures fail with
// Error(cancelled)) and waits only for the running ones — a running task is never
// interrupted. The destructor closes with force. Submitters waiting for room are released
// with Closed. The books always balance: once nothing runs, submitted = completed + failed +
// cancelled + timed_out + deadline_exceeded, and rejected counts the refusals (submitted does
// not include them).
//
// Time limits (TaskOptions). queue_timeout bounds the wait in the queue; deadline bounds the
// run, counted from the moment the task starts (not from its submission). Both resolve the
// future with Error(timeout) when they pass; a running task is asked to stop through its stop
// token and never interrupted. The pool's timer thread starts with the first task that has a
// limit.
//
// Metrics. Every live pool appears in the "pools" section of Runtime::metrics() (JSON: an
// array of its counters and the wait_ns / run_ns histograms; Prometheus: pool_<counter> gauges
// and pool_wait_ns / pool_run_ns histograms, labelled pool="<id>",name="<name>").
//
// Thread-safety: every member function of Pool may be called from any thread (close and the
// destructor not from one of the pool's own workers: that throws Error(invalid_argument), as it
// would join itself). As for any object, every call must have returned before the pool is
// destroyed — a submitter still waiting for room included (close first; it releases them).
// Futures may outlive the pool. PoolFuture is move-only, for one thread at a time. Memory ordering:
// everything a submitter did before submit happens-before the task runs; everything the task
// did happens-before its future's get or co_await returns.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <vector>
#include <exception>
#include <list>
#include <memory>
#include <mutex>
#include <stop_token>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "troupe/actors/actor.hpp"

namespace troupe {

enum class QueueFull : std::uint8_t { wait, reject };

struct PoolOptions {
  std::string name;  // for errors
  // Threads kept even when idle (0: none until work comes). Default: the number of cores.
  std::size_t min_workers = RuntimeOptions::default_threads();
  // The most threads at once (>= 1, >= min_workers). Default: max(min_workers, cores).
  std::optional<std::size_t> max_workers;
  // A worker idle this long exits while more than min_workers run. Positive.
  std::chrono::milliseconds idle_timeout{10'000};
  std::size_t max_queue = 0;  // tasks waiting to run; 0: unbounded
  QueueFull on_full = QueueFull::wait;
};

// A snapshot of a pool's counters (Pool::stats).
struct PoolStats {
  std::uint64_t submitted = 0;  // accepted into the queue
  std::uint64_t completed = 0;  // ran and returned
  std::uint64_t failed = 0;     // ran and threw
  std::uint64_t cancelled = 0;  // dropped before running (cancel(), close(force), destruction)
  std::uint64_t timed_out = 0;  // never ran: TaskOptions::queue_timeout passed
  std::uint64_t deadline_exceeded = 0;  // ran past TaskOptions::deadline (future failed then)
  std::uint64_t rejected = 0;   // refused: queue full (reject, try_submit) or pool closed
  std::size_t queued = 0;       // waiting to run now
  std::size_t running = 0;      // running now
  std::size_t workers = 0;      // threads alive now
  std::size_t idle_workers = 0;
  std::uint64_t workers_started = 0;
  std::uint64_t workers_retired = 0;  // exited after idle_timeout
  // Times of the tasks that ran: wait (queued to started) and run (started to returned).
  // quantile_ns(0.5), (0.9), (0.99) give p50/p90/p99 within a factor of two; the maxima are
  // exact.
  TimeHistogram wait_time;
  TimeHistogram run_time;
  std::uint64_t max_wait_ns = 0;
  std::uint64_t max_run_ns = 0;
  // The share of the pool's capacity spent running tasks since it was made: the sum of run
  // times over (time since construction x max_workers), in [0, 1] (Piscina's utilization).
  double utilization = 0;
};

// How one task is to be run (every submit form takes one; an int converts to a priority).
struct TaskOptions {
  TaskOptions() = default;
  TaskOptions(int priority_) : priority(priority_) {}  // NOLINT: submit(fn, 5) is a priority
  int priority = 0;  // within ±Pool::kMaxPriority; see Priorities
  // Still queued after this long: the task never runs and its future fails with
  // Error(timeout). Zero: no limit.
  std::chrono::milliseconds queue_timeout{0};
  // Still running this long after it started: its future fails with Error(timeout) at once,
  // its stop token is triggered, and the worker finishes the call and discards the result
  // (counted in deadline_exceeded). Zero: no limit.
  std::chrono::milliseconds deadline{0};
};

// Why a submit was refused, with the callable handed back.
template <class F>
class SubmitError {
 public:
  enum class Kind : std::uint8_t { full, closed };
  SubmitError(Kind kind, F task, std::string message)
      : kind_(kind), task_(std::move(task)), message_(std::move(message)) {}
  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] bool is_full() const noexcept { return kind_ == Kind::full; }
  [[nodiscard]] bool is_closed() const noexcept { return kind_ == Kind::closed; }
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  // The refused callable, moved out.
  F into_task() && { return std::move(task_); }

 private:
  Kind kind_;
  F task_;
  std::string message_;
};

namespace detail {

// The result type of a pool task: what fn(stop_token) or fn() returns.
template <class F>
struct PoolCall {
  static constexpr bool kTakesToken = std::is_invocable_v<F&, std::stop_token>;
  using Result = typename std::conditional_t<kTakesToken, std::invoke_result<F&, std::stop_token>,
                                             std::invoke_result<F&>>::type;
};

// A task, its callable's type erased; shared by the queue, the task's future and the pool's
// timer. Its phase decides who owns it, and every move is one compare-and-swap, so exactly one
// party acts at each step:
//   queued -> running    a worker takes it (and runs it);
//   queued -> cancelled  its future's cancel(), or a forced close (abandon: never runs);
//   queued -> expired    the timer, its queue_timeout passed (fail: never runs);
//   running -> done      the worker, when it returns (it sends the reply);
//   running -> overdue   the timer, its deadline passed (fail: the future resolves now; the
//                        worker finishes the call and discards the result).
class PoolJob {
 public:
  enum Phase : std::uint8_t { kQueued, kRunning, kDone, kCancelled, kExpired, kOverdue };
  enum class Outcome : std::uint8_t { completed, failed, overdue };
  virtual ~PoolJob() = default;
  // The worker that moved it to running: calls it, then replies unless it became overdue.
  virtual Outcome run() noexcept = 0;
  // The owner of a job that never ran: its future resolves with Error(cancelled), its
  // callable is destroyed.
  virtual void abandon() noexcept = 0;
  // The owner of an expired or overdue job: its future resolves with `error` (the callable of
  // an overdue job still runs: it is left to the worker).
  virtual void fail(std::exception_ptr error) noexcept = 0;
  bool advance(Phase from, Phase to) noexcept {
    std::uint8_t expected = from;
    // acq_rel: the winner sees everything done before the previous move (the submitter's
    // writes, the worker's start), and its own later writes come after the claim.
    return phase.compare_exchange_strong(expected, to, std::memory_order_acq_rel);
  }
  bool claim(Phase to) noexcept { return advance(kQueued, to); }
  std::atomic<std::uint8_t> phase{kQueued};
  std::stop_source stop{std::nostopstate};  // a real one when the callable takes a token
  std::chrono::milliseconds deadline{0};    // TaskOptions::deadline (written before queued)
  std::chrono::steady_clock::time_point queued_at;  // set by push, under the pool's lock
};

template <class F, class R>
class PoolJobOf final : public PoolJob {
 public:
  PoolJobOf(F&& fn, Sender<Reply<R>> reply) : fn_(std::move(fn)), reply_(std::move(reply)) {
    if constexpr (PoolCall<F>::kTakesToken) stop = std::stop_source();
  }
  F take_fn() && { return std::move(*fn_); }  // a refused job's callable, handed back
  Outcome run() noexcept override {
    std::optional<Reply<R>> reply;
    Outcome outcome = Outcome::completed;
    try {
      if constexpr (std::is_void_v<R>) {
        call();
        reply.emplace(Reply<R>{std::monostate{}, nullptr});
      } else {
        reply.emplace(Reply<R>{call(), nullptr});
      }
    } catch (...) {
      outcome = Outcome::failed;
      try {
        reply.emplace(Reply<R>{std::nullopt, std::current_exception()});
      } catch (...) {  // no memory for the error: the future resolves as cancelled instead
      }
    }
    fn_.reset();  // the callable's destructor runs here, on the worker
    if (!advance(kRunning, kDone)) return Outcome::overdue;  // the timer answered already
    try {
      if (reply) (void)reply_.try_send(std::move(*reply));
    } catch (...) {  // R's move threw: the future resolves as cancelled instead
    }
    reply_ = Sender<Reply<R>>();
    return outcome;
  }
  void abandon() noexcept override {
    fn_.reset();
    reply_ = Sender<Reply<R>>();  // unsent: the future sees Closed, that is Error(cancelled)
  }
  void fail(std::exception_ptr error) noexcept override {
    try {
      // Null (no memory for the error): nothing is sent, the future resolves as cancelled.
      if (error) (void)reply_.try_send(Reply<R>{std::nullopt, std::move(error)});
    } catch (...) {  // no memory: the future resolves as cancelled instead
    }
    reply_ = Sender<Reply<R>>();
    if (phase.load(std::memory_order_relaxed) == kExpired) fn_.reset();  // never runs
  }

 private:
  decltype(auto) call() {
    if constexpr (PoolCall<F>::kTakesToken) {
      return (*fn_)(stop.get_token());
    } else {
      return (*fn_)();
    }
  }

  std::optional<F> fn_;
  Sender<Reply<R>> reply_;  // capacity 1, one send: never full
};

// A future's outcome: the value, the task's exception rethrown, or Error(cancelled).
template <class R>
R pool_outcome(std::optional<Reply<R>>&& got) {
  if (!got) {
    throw Error(ErrorCode::cancelled,
                "pool task: cancelled before it ran (PoolFuture::cancel, or the pool closed with "
                "force or destroyed)");
  }
  if (got->error) std::rethrow_exception(got->error);
  if constexpr (!std::is_void_v<R>) return std::move(*got->value);
}

template <class R>
class PoolFutureOp : public RecvOp<Reply<R>> {
 public:
  using RecvOp<Reply<R>>::RecvOp;
  R take() { return pool_outcome<R>(RecvOp<Reply<R>>::take()); }
};

}  // namespace detail

template <class R>
class [[nodiscard]] PoolFuture {
 public:
  PoolFuture() noexcept = default;
  PoolFuture(PoolFuture&&) noexcept = default;
  PoolFuture& operator=(PoolFuture&&) noexcept = default;

  [[nodiscard]] bool valid() const noexcept { return rx_.valid() && !awaited_; }

  // Cancels the task. Still queued: it will never run, and the future resolves with
  // Error(cancelled) at once — true. Running: its stop token is triggered (a callable that
  // takes a std::stop_token can see it and return early; one that does not runs to its end)
  // and the future resolves with whatever the task then returns or throws — false. Already
  // finished: nothing — false. Thread-safe with the pool; the future itself stays usable.
  bool cancel() {
    if (job_ == nullptr) return false;
    if (job_->claim(detail::PoolJob::kCancelled)) {
      job_->abandon();
      return true;
    }
    if (job_->phase.load(std::memory_order_acquire) == detail::PoolJob::kRunning) {
      (void)job_->stop.request_stop();
    }
    return false;
  }
  // Blocks the calling thread for the outcome (see the header comment).
  R get() {
    detail::refuse_blocking_on_worker("PoolFuture::get");
    Receiver<detail::Reply<R>> rx = take_rx("get");
    auto got = rx.blocking_recv();
    return detail::pool_outcome<R>(got ? std::optional<detail::Reply<R>>(std::move(*got))
                                       : std::nullopt);
  }
  // co_await future: suspends the task for the outcome. The future must outlive the await.
  auto operator co_await() {
    if (!valid()) throw_taken("co_await");
    awaited_ = true;  // taken: the operation reads the receiver, which stays here meanwhile
    return Awaitable<detail::PoolFutureOp<R>>(std::in_place, detail::ChannelAccess::chan(rx_));
  }

 private:
  friend class Pool;
  PoolFuture(Receiver<detail::Reply<R>> rx, std::shared_ptr<detail::PoolJob> job) noexcept
      : rx_(std::move(rx)), job_(std::move(job)) {}
  Receiver<detail::Reply<R>> take_rx(const char* what) {
    if (!valid()) throw_taken(what);
    return std::move(rx_);
  }
  [[noreturn]] static void throw_taken(const char* what) {
    throw Error(ErrorCode::invalid_handle,
                std::string("PoolFuture::") + what + ": the future is empty (taken or moved from)");
  }

  Receiver<detail::Reply<R>> rx_;
  bool awaited_ = false;                  // co_await took the outcome
  std::shared_ptr<detail::PoolJob> job_;  // for cancel()
};

template <class R>
inline constexpr bool enable_sendable<PoolFuture<R>> = true;

class Pool {
 public:
  // Throws Error(invalid_argument) for bad options, naming the field and the value.
  explicit Pool(PoolOptions options = {});
  ~Pool();  // close(true)
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // The callable: fn() or fn(std::stop_token) (to see PoolFuture::cancel while it runs).
  template <class F>
  using Submitted = Result<PoolFuture<typename detail::PoolCall<F>::Result>, SubmitError<F>>;

  // Never waits: Full if the bounded queue is full, Closed after close().
  static constexpr int kMaxPriority = 1'000'000;
  static constexpr std::int64_t kAgingTasks = 256;

  template <class F>
  Submitted<F> try_submit(F fn, TaskOptions task = {}) {
    check_callable<F>();
    check_task(task);
    if (!room_) return enqueue(std::move(fn), false, task);
    if (!take_room()) return refuse(SubmitError<F>::Kind::full, std::move(fn));
    return enqueue(std::move(fn), true, task);
  }
  // The thread form: under QueueFull::wait, blocks while the queue is full; under reject, as
  // try_submit. Not from a runtime worker when it may wait (Error(invalid_argument)).
  template <class F>
  Submitted<F> submit(F fn, TaskOptions task = {}) {
    check_callable<F>();
    check_task(task);
    if (!room_) return enqueue(std::move(fn), false, task);
    if (options_.on_full == QueueFull::reject) return try_submit(std::move(fn), task);
    if (!take_room()) {
      detail::refuse_blocking_on_worker("Pool::submit (waiting for room)");
      (void)room_->blocking_acquire().forget();  // the permit travels with the task (see push)
    }
    return enqueue(std::move(fn), true, task);
  }
  // The task form: `co_await pool.submit_async(fn)` suspends while the queue is full (under
  // QueueFull::wait).
  template <class F>
  Task<Submitted<F>> submit_async(F fn, TaskOptions task = {}) {
    check_callable<F>();
    check_task(task);
    if (!room_) co_return enqueue(std::move(fn), false, task);
    if (!take_room()) {
      if (options_.on_full == QueueFull::reject) {
        co_return refuse(SubmitError<F>::Kind::full, std::move(fn));
      }
      SemaphorePermit permit = co_await room_->acquire();
      (void)permit.forget();  // it travels with the task (see push)
    }
    co_return enqueue(std::move(fn), true, task);
  }

  // See the header comment. Thread-safe; idempotent (a later close(true) still cancels).
  void close(bool force = false);
  [[nodiscard]] bool is_closed() const;
  [[nodiscard]] PoolStats stats() const;
  [[nodiscard]] const PoolOptions& options() const noexcept { return options_; }
  // A process-wide unique id (the "pool" label of the metrics export).
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }

 private:
  template <class F>
  static constexpr void check_callable() {
    static_assert(std::is_invocable_v<F&> || std::is_invocable_v<F&, std::stop_token>,
                  "Pool: the task must be callable as fn() or fn(std::stop_token)");
    static_assert(Sendable<F>,
                  "Pool: the task is moved to a worker thread and must be Sendable; "
                  "troupe::why_not_sendable<F>() says why");
    using R = typename detail::PoolCall<F>::Result;
    static_assert(std::is_void_v<R> || Sendable<detail::Stored<R>>,
                  "Pool: the task's result must be Sendable");
  }

  // A permit of room_ if one is free now (kept: it travels with the task until a worker
  // takes the task, see push).
  bool take_room() {
    std::optional<SemaphorePermit> permit = room_->try_acquire();
    if (!permit) return false;
    (void)permit->forget();
    return true;
  }

  // Queues the task (holding a permit of room_ when `permit`). Closed if the pool is closed.
  template <class F>
  Submitted<F> enqueue(F&& fn, bool permit, const TaskOptions& task) {
    using R = typename detail::PoolCall<F>::Result;
    std::shared_ptr<detail::PoolJob> job;
    Receiver<detail::Reply<R>> rx;
    bool queued = false;
    try {
      auto [tx, reply_rx] = channel<detail::Reply<R>>(1);
      rx = std::move(reply_rx);
      job = std::make_shared<detail::PoolJobOf<F, R>>(std::move(fn), std::move(tx));
      job->deadline = task.deadline;
      queued = push(job, permit, task);
    } catch (...) {
      if (permit) room_->release(1);  // not queued: its place goes back
      throw;
    }
    if (!queued) {
      // Closed: the job came back; so does its callable.
      return refuse(SubmitError<F>::Kind::closed,
                    std::move(static_cast<detail::PoolJobOf<F, R>&>(*job)).take_fn());
    }
    return PoolFuture<R>(std::move(rx), std::move(job));
  }
  template <class F>
  Submitted<F> refuse(typename SubmitError<F>::Kind kind, F&& fn) {
    count_rejected();
    const bool full = kind == SubmitError<F>::Kind::full;
    return Submitted<F>(failure, kind, std::move(fn),
                        describe() + (full ? ": the queue is full (max_queue " +
                                                 std::to_string(options_.max_queue) + ")"
                                           : ": the pool is closed"));
  }

  // Queues the job; false once closed (its permit given back).
  bool push(const std::shared_ptr<detail::PoolJob>& job, bool permit, const TaskOptions& task);
  static void check_task(const TaskOptions& task);
  // The timer (queue timeouts and deadlines): a thread of the pool's, started on first use.
  struct TimerEntry {
    std::chrono::steady_clock::time_point at;
    std::weak_ptr<detail::PoolJob> job;
    bool queue_timeout;  // else the run deadline
  };
  void add_timer_locked(std::chrono::milliseconds after,
                        const std::shared_ptr<detail::PoolJob>& job, bool queue_timeout);
  void timer_loop();
  void count_rejected();
  [[nodiscard]] std::string describe() const;
  struct Thread;
  void start_worker_locked();
  void worker_loop(std::list<Thread>::iterator self);
  void reap_locked();

  const PoolOptions options_;
  const std::size_t max_workers_;
  const std::uint64_t id_;
  std::optional<Semaphore> room_;  // max_queue permits, when bounded

  mutable std::mutex mutex_;
  std::condition_variable work_cv_;  // workers wait for tasks (or the close)
  std::condition_variable done_cv_;  // close waits for the last worker
  // The queue: a max-heap by score = priority * kAgingTasks - seq (see Priorities).
  struct Queued {
    std::int64_t score;
    std::shared_ptr<detail::PoolJob> job;
  };
  std::vector<Queued> queue_;                                // guarded by mutex_
  std::int64_t next_seq_ = 0;                                // guarded by mutex_
  std::vector<TimerEntry> timers_;   // a min-heap by `at`; guarded by mutex_
  std::condition_variable timer_cv_;
  std::thread timer_thread_;         // started under mutex_; joined by close
  bool timer_stop_ = false;          // guarded by mutex_
  std::size_t sweep_at_ = 1024;      // timers_ size that triggers a sweep; guarded by mutex_
  std::list<Thread> threads_;                                // guarded by mutex_
  bool closing_ = false;                                     // guarded by mutex_
  PoolStats stats_;  // counters, guarded by mutex_ (queued/running/workers derived on read)
  std::size_t running_ = 0, idle_ = 0, alive_ = 0;          // guarded by mutex_
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace troupe
