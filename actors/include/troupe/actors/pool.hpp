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
// Drain. needs_drain() is true while drain_threshold tasks or more are queued (by default
// max_queue: the queue is full, and a submit would wait or be refused); a producer that sees
// it can pause until wait_drain() (or `co_await drained()`) returns, once a worker has taken
// tasks below the threshold — Piscina's needsDrain and 'drain', as a wait instead of an event.
// Both read the queue under the pool's lock: exact at the moment of the call, and a wait that
// starts while the pool needs draining never misses the moment it stops. wait_idle() (or
// `co_await idle()`) returns once no task is queued or running. stats().queued is the depth.
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
// interrupted and the other tasks are not touched. The stats report such requests:
// stop_requests, stops_unseen (callables that take no token), and max_stop_latency_ns (a task
// that ignores its token shows as a long latency).
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
// Batches. submit_batch(std::vector<F>) queues many tasks at once and returns one PoolBatch:
// get() (or co_await) gives their values in submission order, settle() (or co_await
// batch.settled()) every task's outcome, and cancel() stops the ones not yet started. The
// batch is one entry of the queue, with one priority; workers take its tasks a chunk at a time
// (a share of what is left, at most kMaxChunk), several workers at once, and go back to the
// queue between chunks, so a higher-priority submission waits at most one chunk. A batch pays
// for its submission, its future and the pool's lock once, and its chunks once each: that is
// what makes small tasks cheap (samples/bench/BENCHMARKS.md). Stats count each task; its wait
// and run times are its chunk's (the chunk's wait, and its run time over its tasks). The
// callables are destroyed together once every task of the batch has settled.
//
// Workers. PoolOptions::worker_init runs on each new worker thread before it takes a task —
// the place for warm state (thread_locals, a connection, a loaded model). wait_ready() (or
// `co_await ready()`) returns once min_workers workers have finished it. A worker is replaced
// by a fresh one (a new thread that runs worker_init again), while the queue is untouched:
//   - when its worker_init throws (init_failures): it never takes a task. After
//     max_init_failures failures in a row the pool gives up: it closes, and every queued task
//     fails with Error(cancelled) naming the init's error (counted as cancelled), as do
//     wait_ready and replace_workers; later submissions are refused as Closed;
//   - when one of its tasks throws WorkerFault (workers_faulted): the task fails with it, and
//     the worker leaves after that task (after the rest of its chunk, in a batch);
//   - when it has run max_tasks_per_worker tasks or lived max_worker_age (workers_recycled),
//     checked as it finishes a task or wakes;
//   - on replace_workers(init): a rolling update. New workers run the new init; each old one
//     leaves as it finishes its current task (at once if idle), starting its replacement as
//     it goes, so the pool keeps its size and submissions go on. Every queued task runs once,
//     on an old worker or a new one; replace_workers returns when every worker alive runs the
//     new init and has finished it, so a task submitted after it returns runs new code.
// No replacement starts while the pool closes.
//
// Deterministic tests. PoolOptions::runtime, set to a deterministic Runtime
// (RuntimeOptions::deterministic_seed), makes the workers tasks of that runtime instead of
// threads: they run when the runtime's seeded scheduler picks them, on the thread that drives
// it, so a test of code that uses a pool replays under its seed. The pool's blocking waits
// (close, the destructor, wait_idle, wait_drain, wait_ready, replace_workers) drive the runtime
// meanwhile, from a plain thread; the runtime must outlive the pool. A worker waits for work
// without a timeout there (idle_timeout does not retire it), and queue timeouts and deadlines
// still use the pool's timer thread, on real time. A threaded runtime is refused: a pool's
// workers are threads of their own by design (see "Where the work runs").
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
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <stop_token>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "troupe/actors/actor.hpp"
#include "troupe/channels/detail/mutex.hpp"

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
  // needs_drain() holds while at least this many tasks are queued (see Drain). 0: max_queue
  // (so never, when the queue is unbounded).
  std::size_t drain_threshold = 0;
  // Runs on every new worker thread before it takes a task (see Workers). Empty: nothing.
  std::function<void()> worker_init;
  // Init failures in a row after which the pool gives up (see Workers). >= 1.
  std::size_t max_init_failures = 5;
  // Recycling: a worker is replaced after running this many tasks (0: never), or once this
  // old (0: never).
  std::uint64_t max_tasks_per_worker = 0;
  std::chrono::milliseconds max_worker_age{0};
  // A deterministic Runtime whose tasks the workers become (see "Deterministic tests"); it
  // must outlive the pool. Null (the default): the workers are threads of the pool's own.
  Runtime* runtime = nullptr;
};

// Thrown by a task whose worker's own state is broken (a lost connection, a corrupt cache
// built by worker_init): the task fails with it like with any exception, and its worker is
// replaced by a fresh one (see Workers).
class WorkerFault : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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
  std::size_t queued = 0;       // tasks waiting to run now (a dropped one until a worker
                                // retires it from the queue)
  std::size_t running = 0;      // tasks taken by workers and not yet finished (a batch's chunk
                                // counts whole)
  std::size_t workers = 0;      // threads alive now
  std::size_t idle_workers = 0;
  std::size_t parked_workers = 0;  // idle ones done spinning, asleep until a task or their
                                   // idle_timeout (worker threads; 0 in deterministic mode)
  std::uint64_t workers_started = 0;
  std::uint64_t workers_retired = 0;   // exited after idle_timeout
  std::uint64_t init_failures = 0;     // workers whose worker_init threw
  std::uint64_t workers_faulted = 0;   // workers replaced after a task threw WorkerFault
  std::uint64_t workers_recycled = 0;  // replaced: max_tasks_per_worker, max_worker_age, or
                                       // replace_workers
  std::uint64_t generation = 0;        // replace_workers calls so far
  // Times of the tasks that ran: wait (queued to started) and run (started to returned).
  // quantile_ns(0.5), (0.9), (0.99) give p50/p90/p99 within a factor of two; the maxima are
  // exact.
  TimeHistogram wait_time;
  TimeHistogram run_time;
  std::uint64_t max_wait_ns = 0;
  std::uint64_t max_run_ns = 0;
  // Running single tasks asked to stop (PoolFuture::cancel, or a deadline), those among them
  // whose callable takes no std::stop_token (it cannot see the request and runs to its end),
  // and the longest a task asked to stop took to return: a task that ignores its token shows
  // here as a long stop latency. Its worker is never interrupted.
  std::uint64_t stop_requests = 0;
  std::uint64_t stops_unseen = 0;
  std::uint64_t max_stop_latency_ns = 0;
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

// Whether a task's exception is a WorkerFault (its worker is then replaced).
bool is_worker_fault(const std::exception_ptr& error) noexcept;

// What a worker's run of a task, or of a batch's chunk, came to.
struct RunOutcome {
  std::size_t failed = 0;  // tasks that threw
  bool faulted = false;    // one of them threw WorkerFault
  bool overdue = false;    // a single task's deadline failed it first (the timer counted it)
};

// A range of task indices [begin, end) of one queue entry (a single task is index 0).
struct TaskRange {
  std::size_t begin = 0, end = 0;
  [[nodiscard]] std::size_t size() const noexcept { return end - begin; }
  [[nodiscard]] bool empty() const noexcept { return begin == end; }
};

// What the pool's queue and timer hold: one task (PoolJob) or a batch of them (PoolBatchJob).
class PoolWork {
 public:
  explicit PoolWork(bool batch) noexcept : is_batch(batch) {}
  PoolWork(const PoolWork&) = delete;
  PoolWork& operator=(const PoolWork&) = delete;
  virtual ~PoolWork() = default;
  // Claims every task of this entry that has not started, as expired (its queue_timeout
  // passed) or else cancelled: empty if none is left. The pool calls it under its lock, then
  // settles the claim with drop() outside it (a callable's destructor is user code).
  virtual TaskRange claim_waiting(bool expired) noexcept = 0;
  // Settles claimed tasks that will never run: their futures fail with `error`, or with
  // Error(cancelled) if it is null.
  virtual void drop(TaskRange range, std::exception_ptr error) noexcept = 0;
  // True while some task of this entry has not started.
  [[nodiscard]] virtual bool waiting() const noexcept = 0;
  const bool is_batch;
  // Set by push under the pool's lock, or by the submitter before the intake publishes it.
  std::chrono::steady_clock::time_point queued_at;
  // While the entry waits in the pool's intake (Pool::push_intake): the entry below it, its
  // priority, and the intake's own reference to it. Written by the submitter before the push
  // that publishes them; read and cleared by whoever absorbs the intake, under the pool's lock.
  PoolWork* intake_next = nullptr;
  int intake_priority = 0;
  std::shared_ptr<PoolWork> intake_hold;
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
class PoolJob : public PoolWork {
 public:
  enum Phase : std::uint8_t { kQueued, kRunning, kDone, kCancelled, kExpired, kOverdue };
  PoolJob() noexcept : PoolWork(false) {}
  TaskRange claim_waiting(bool expired) noexcept override {
    return claim(expired ? kExpired : kCancelled) ? TaskRange{0, 1} : TaskRange{};
  }
  void drop(TaskRange range, std::exception_ptr error) noexcept override {
    if (range.empty()) return;
    if (error) {
      fail(std::move(error));
    } else {
      abandon();
    }
  }
  [[nodiscard]] bool waiting() const noexcept override {
    return phase.load(std::memory_order_relaxed) == kQueued;
  }
  // The worker that moved it to running: calls it, then replies unless it became overdue.
  virtual RunOutcome run() noexcept = 0;
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
  // Asks the running task to stop (PoolFuture::cancel, or its deadline): triggers its stop
  // token, if its callable takes one, and notes when it was first asked, for the stats.
  void request_stop() noexcept {
    std::int64_t none = 0;
    // relaxed: a statistic; the stop token itself carries the request to the task.
    (void)stop_requested_ns.compare_exchange_strong(none, detail::steady_ns(),
                                                    std::memory_order_relaxed);
    (void)stop.request_stop();
  }
  // Whether the callable can see a stop request (it takes a std::stop_token).
  [[nodiscard]] bool sees_stop() const noexcept { return stop.stop_possible(); }
  std::atomic<std::uint8_t> phase{kQueued};
  std::atomic<std::int64_t> stop_requested_ns{0};  // steady clock; 0: never asked
  std::stop_source stop{std::nostopstate};  // a real one when the callable takes a token
  std::chrono::milliseconds deadline{0};    // TaskOptions::deadline (written before queued)
};

template <class F, class R>
class PoolJobOf final : public PoolJob {
 public:
  PoolJobOf(F&& fn, Sender<Reply<R>> reply) : fn_(std::move(fn)), reply_(std::move(reply)) {
    if constexpr (PoolCall<F>::kTakesToken) stop = std::stop_source();
  }
  F take_back() && { return std::move(*fn_); }  // a refused job's callable, handed back
  RunOutcome run() noexcept override {
    std::optional<Reply<R>> reply;
    RunOutcome outcome;
    try {
      if constexpr (std::is_void_v<R>) {
        call();
        reply.emplace(Reply<R>{std::monostate{}, nullptr});
      } else {
        reply.emplace(Reply<R>{call(), nullptr});
      }
    } catch (...) {
      outcome.failed = 1;
      outcome.faulted = is_worker_fault(std::current_exception());
      try {
        reply.emplace(Reply<R>{std::nullopt, std::current_exception()});
      } catch (...) {  // no memory for the error: the future resolves as cancelled instead
      }
    }
    fn_.reset();  // the callable's destructor runs here, on the worker
    if (!advance(kRunning, kDone)) {  // the timer answered already
      outcome.overdue = true;
      return outcome;
    }
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
    if (phase.load(std::memory_order_relaxed) != kOverdue) fn_.reset();  // never runs
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

// The error of a task dropped before it ran.
Error pool_cancelled_error();


// A future's outcome: the value, the task's exception rethrown, or Error(cancelled).
template <class R>
R pool_outcome(std::optional<Reply<R>>&& got) {
  if (!got) throw pool_cancelled_error();
  if (got->error) std::rethrow_exception(got->error);
  if constexpr (!std::is_void_v<R>) return std::move(*got->value);
}

// A batch of tasks submitted together (Pool::submit_batch): one queue entry whose tasks the
// workers claim a chunk at a time. Every index is claimed exactly once — by a worker (it runs
// it), by the pool's timer or close (expired or cancelled), or by the batch's future
// (cancelled) — and settled exactly once; the last one settled resolves the future.
class PoolBatchJob : public PoolWork {
 public:
  explicit PoolBatchJob(std::size_t size) noexcept : PoolWork(true), size_(size), left_(size) {}
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t unclaimed() const noexcept {
    return size_ - std::min(size_, next_.load(std::memory_order_relaxed));
  }
  // Claims the next tasks, at most `most` of them (empty when none is left).
  TaskRange claim(std::size_t most) noexcept {
    // relaxed: the CAS alone makes the ranges disjoint; what a claimer needs to see (the
    // callables) was published by the queue's lock or by the future's own hand-over.
    std::size_t begin = next_.load(std::memory_order_relaxed);
    std::size_t end = 0;
    do {
      if (begin >= size_) return {};
      end = begin + std::min(most, size_ - begin);
    } while (!next_.compare_exchange_weak(begin, end, std::memory_order_relaxed));
    return {begin, end};
  }
  TaskRange claim_waiting(bool /*expired*/) noexcept override { return claim(size_); }
  [[nodiscard]] bool waiting() const noexcept override { return unclaimed() != 0; }
  // Runs claimed tasks (a worker) and settles them.
  virtual RunOutcome run(TaskRange range) noexcept = 0;
  // Resolves the future when the batch is empty (it is never queued).
  void settle_empty() noexcept { finish(); }

  // The pool's books, guarded by its lock: tasks its workers claimed, and tasks its timer
  // expired. What else never ran was cancelled (by the future or a forced close).
  std::size_t ran = 0;
  std::size_t expired = 0;

 protected:
  void settled(std::size_t count) noexcept {
    // acq_rel: the last settler sees every result the others wrote, and its finish()
    // publishes them all to the future.
    if (left_.fetch_sub(count, std::memory_order_acq_rel) == count) finish();
  }
  virtual void finish() noexcept = 0;

 private:
  const std::size_t size_;
  std::atomic<std::size_t> next_{0};
  std::atomic<std::size_t> left_;  // tasks not yet settled
};

}  // namespace detail

// One task's outcome in a batch (PoolBatch::settle): its value, or what it threw —
// Error(cancelled) or Error(timeout) if it never ran.
template <class R>
struct Settled {
  std::optional<detail::Stored<R>> value;  // set when the task returned (std::monostate: void)
  std::exception_ptr error;                // set otherwise
  [[nodiscard]] bool ok() const noexcept { return error == nullptr; }
};

namespace detail {

// A batch's results, typed by what its tasks return.
template <class R>
class PoolBatchResults : public PoolBatchJob {
 public:
  PoolBatchResults(std::size_t size, Sender<std::monostate> done)
      : PoolBatchJob(size), results_(size), done_(std::move(done)) {}
  void drop(TaskRange range, std::exception_ptr error) noexcept override {
    if (range.empty()) return;
    if (!error) error = std::make_exception_ptr(pool_cancelled_error());
    for (std::size_t i = range.begin; i < range.end; ++i) results_[i].error = error;
    settled(range.size());
  }
  // After the future saw the batch settled (once).
  std::vector<Settled<R>> take_results() noexcept { return std::move(results_); }
  std::stop_source stop{std::nostopstate};  // a real one when the callables take a token

 protected:
  void finish() noexcept override {
    release_tasks();  // every task is settled: no callable is in use any more
    (void)done_.try_send(std::monostate{});  // capacity 1, one send: never full
    done_ = Sender<std::monostate>();
  }
  virtual void release_tasks() noexcept = 0;
  std::vector<Settled<R>> results_;  // index i written only by the one who claimed i

 private:
  Sender<std::monostate> done_;
};

template <class F, class R>
class PoolBatchOf final : public PoolBatchResults<R> {
 public:
  PoolBatchOf(std::vector<F>&& fns, Sender<std::monostate> done)
      : PoolBatchResults<R>(fns.size(), std::move(done)), fns_(std::move(fns)) {
    if constexpr (PoolCall<F>::kTakesToken) this->stop = std::stop_source();
  }
  std::vector<F> take_back() && { return std::move(fns_); }  // a refused batch's, handed back
  RunOutcome run(TaskRange range) noexcept override {
    RunOutcome outcome;
    for (std::size_t i = range.begin; i < range.end; ++i) {
      try {
        if constexpr (std::is_void_v<R>) {
          call(fns_[i]);
          this->results_[i].value.emplace();
        } else {
          this->results_[i].value.emplace(call(fns_[i]));
        }
      } catch (...) {
        ++outcome.failed;
        this->results_[i].error = std::current_exception();
        outcome.faulted = outcome.faulted || is_worker_fault(this->results_[i].error);
      }
    }
    this->settled(range.size());
    return outcome;
  }

 private:
  decltype(auto) call(F& fn) {
    if constexpr (PoolCall<F>::kTakesToken) {
      return fn(this->stop.get_token());
    } else {
      return fn();
    }
  }
  void release_tasks() noexcept override { std::vector<F>().swap(fns_); }

  std::vector<F> fns_;
};

// A settled batch as its future gives it: every outcome (kSettle), or the values in order —
// the first failure, by index, rethrown.
template <class R, bool kSettle>
auto batch_outcome(std::vector<Settled<R>>&& results) {
  if constexpr (kSettle) {
    return std::move(results);
  } else {
    for (const Settled<R>& one : results) {
      if (one.error) std::rethrow_exception(one.error);
    }
    if constexpr (!std::is_void_v<R>) {
      std::vector<R> values;
      values.reserve(results.size());
      for (Settled<R>& one : results) values.push_back(std::move(*one.value));
      return values;
    }
  }
}

// The operation behind `co_await batch` and `co_await batch.settled()`.
template <class R, bool kSettle>
class PoolBatchOp : public RecvOp<std::monostate> {
 public:
  PoolBatchOp(Chan<std::monostate>& chan, PoolBatchResults<R>* job) noexcept
      : RecvOp<std::monostate>(chan), job_(job) {}
  auto take() {
    (void)RecvOp<std::monostate>::take();
    return batch_outcome<R, kSettle>(job_->take_results());
  }

 private:
  PoolBatchResults<R>* job_;
};

template <class R>
class PoolFutureOp : public RecvOp<Reply<R>> {
 public:
  using RecvOp<Reply<R>>::RecvOp;
  R take() { return pool_outcome<R>(RecvOp<Reply<R>>::take()); }
};

// The receiving end of a pool future, taken once: by a blocking read or by an await.
template <class T>
class OnceReceiver {
 public:
  OnceReceiver() noexcept = default;
  OnceReceiver(Receiver<T> rx, const char* owner) noexcept : rx_(std::move(rx)), owner_(owner) {}
  [[nodiscard]] bool valid() const noexcept { return rx_.valid() && !awaited_; }
  // For a blocking read: the receiver itself. Throws Error(invalid_handle) if taken.
  Receiver<T> take(const char* what) {
    if (!valid()) throw_taken(what);
    return std::move(rx_);
  }
  // For an await: the channel, read in place (this must outlive the await).
  Chan<T>& await(const char* what) {
    if (!valid()) throw_taken(what);
    awaited_ = true;
    return ChannelAccess::chan(rx_);
  }

 private:
  [[noreturn]] void throw_taken(const char* what) const {
    throw Error(ErrorCode::invalid_handle, std::string(owner_) + "::" + what +
                                               ": the future is empty (taken or moved from)");
  }
  Receiver<T> rx_;
  const char* owner_ = "";
  bool awaited_ = false;  // co_await took the outcome
};

}  // namespace detail

template <class R>
class [[nodiscard]] PoolFuture {
 public:
  PoolFuture() noexcept = default;
  PoolFuture(PoolFuture&&) noexcept = default;
  PoolFuture& operator=(PoolFuture&&) noexcept = default;

  [[nodiscard]] bool valid() const noexcept { return rx_.valid(); }

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
      job_->request_stop();
    }
    return false;
  }
  // Blocks the calling thread for the outcome (see the header comment).
  R get() {
    detail::refuse_blocking_on_worker("PoolFuture::get");
    Receiver<detail::Reply<R>> rx = rx_.take("get");
    auto got = rx.blocking_recv();
    return detail::pool_outcome<R>(got ? std::optional<detail::Reply<R>>(std::move(*got))
                                       : std::nullopt);
  }
  // co_await future: suspends the task for the outcome. The future must outlive the await.
  auto operator co_await() {
    return Awaitable<detail::PoolFutureOp<R>>(std::in_place, rx_.await("co_await"));
  }

 private:
  friend class Pool;
  PoolFuture(Receiver<detail::Reply<R>> rx, std::shared_ptr<detail::PoolJob> job) noexcept
      : rx_(std::move(rx), "PoolFuture"), job_(std::move(job)) {}

  detail::OnceReceiver<detail::Reply<R>> rx_;
  std::shared_ptr<detail::PoolJob> job_;  // for cancel()
};

template <class R>
inline constexpr bool enable_sendable<PoolFuture<R>> = true;

// The future of a batch (Pool::submit_batch): resolves once every task of the batch has
// settled — ran, threw, or was dropped unrun. Move-only, one thread at a time.
template <class R>
class [[nodiscard]] PoolBatch {
 public:
  PoolBatch() noexcept = default;
  PoolBatch(PoolBatch&&) noexcept = default;
  PoolBatch& operator=(PoolBatch&&) noexcept = default;

  [[nodiscard]] bool valid() const noexcept { return rx_.valid(); }
  // The number of tasks in the batch.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  // Cancels every task of the batch that has not started: they never run, and settle with
  // Error(cancelled). Running ones see their stop token triggered (a callable that takes a
  // std::stop_token may return early); finished ones keep their outcome. Returns how many
  // tasks it stopped from running. Thread-safe with the pool; the future stays usable.
  std::size_t cancel() {
    if (job_ == nullptr) return 0;
    const detail::TaskRange range = job_->claim_waiting(false);
    job_->drop(range, nullptr);
    (void)job_->stop.request_stop();
    return range.size();
  }
  // Blocks the calling thread until every task settled, then gives the values in submission
  // order (nothing for void); if any task failed, rethrows the error of the first, by index.
  auto get() { return wait<false>(); }
  // As get(), but every task's outcome, value or error; never throws a task's error.
  std::vector<Settled<R>> settle() { return wait<true>(); }
  // `co_await batch`: get() in a task. `co_await batch.settled()`: settle() in a task. The
  // future must outlive the await.
  auto operator co_await() {
    return Awaitable<detail::PoolBatchOp<R, false>>(std::in_place, rx_.await("co_await"),
                                                    job_.get());
  }
  auto settled() {
    return Awaitable<detail::PoolBatchOp<R, true>>(std::in_place, rx_.await("settled"),
                                                   job_.get());
  }

 private:
  friend class Pool;
  PoolBatch(Receiver<std::monostate> rx, std::shared_ptr<detail::PoolBatchResults<R>> job)
      : rx_(std::move(rx), "PoolBatch"), job_(std::move(job)), size_(job_->size()) {}
  template <bool kSettle>
  auto wait() {
    detail::refuse_blocking_on_worker(kSettle ? "PoolBatch::settle" : "PoolBatch::get");
    Receiver<std::monostate> rx = rx_.take(kSettle ? "settle" : "get");
    (void)rx.blocking_recv();  // the batch sends once every task settled
    return detail::batch_outcome<R, kSettle>(job_->take_results());
  }

  detail::OnceReceiver<std::monostate> rx_;
  std::shared_ptr<detail::PoolBatchResults<R>> job_;
  std::size_t size_ = 0;
};

template <class R>
inline constexpr bool enable_sendable<PoolBatch<R>> = true;

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
  // A batch: a vector of such callables, handed back whole when refused.
  template <class F>
  using BatchSubmitted =
      Result<PoolBatch<typename detail::PoolCall<F>::Result>, SubmitError<std::vector<F>>>;

  static constexpr int kMaxPriority = 1'000'000;
  static constexpr std::int64_t kAgingTasks = 256;
  // The most tasks of a batch a worker takes at once (see Batches).
  static constexpr std::size_t kMaxChunk = 1024;

  // Never waits: Full if the bounded queue is full, Closed after close().
  template <class F>
  Submitted<F> try_submit(F fn, TaskOptions task = {}) {
    return admit_now(std::move(fn), task, false);
  }
  // The thread form: under QueueFull::wait, blocks while the queue is full; under reject, as
  // try_submit. Not from a runtime worker when it may wait (Error(invalid_argument)).
  template <class F>
  Submitted<F> submit(F fn, TaskOptions task = {}) {
    return admit_now(std::move(fn), task, true);
  }
  // The task form: `co_await pool.submit_async(fn)` suspends while the queue is full (under
  // QueueFull::wait).
  template <class F>
  Task<Submitted<F>> submit_async(F fn, TaskOptions task = {}) {
    return admit_async(std::move(fn), std::move(task));
  }
  // Batches (see the header comment): the same three forms for many tasks at once. The batch
  // takes as many places in a bounded queue as it has tasks; one larger than max_queue is
  // refused as Full at once. TaskOptions::deadline is for single tasks (Error(invalid_argument)).
  template <class F>
  BatchSubmitted<F> try_submit_batch(std::vector<F> fns, TaskOptions task = {}) {
    return admit_now(std::move(fns), task, false);
  }
  template <class F>
  BatchSubmitted<F> submit_batch(std::vector<F> fns, TaskOptions task = {}) {
    return admit_now(std::move(fns), task, true);
  }
  template <class F>
  Task<BatchSubmitted<F>> submit_batch_async(std::vector<F> fns, TaskOptions task = {}) {
    return admit_async(std::move(fns), std::move(task));
  }

  // Drain (see the header comment). needs_drain(): whether the queue holds drain_threshold
  // tasks or more, now. wait_drain() / `co_await drained()`: return once it does not (or the
  // pool is closed). wait_idle() / `co_await idle()`: return once no task is queued or
  // running. The blocking forms not from a runtime worker (Error(invalid_argument)).
  [[nodiscard]] bool needs_drain() const;
  void wait_drain();
  Task<void> drained();
  void wait_idle();
  Task<void> idle();

  // Blocks until min_workers workers have finished worker_init (at once when min_workers is
  // 0). Throws Error(cancelled), naming the init's error, if the pool gave up first (see
  // Workers). Not from a runtime worker (Error(invalid_argument)).
  void wait_ready();
  // The task form: `co_await pool.ready()`.
  Task<void> ready();
  // A rolling replacement of every worker (see Workers): from now on new workers run `init`;
  // each current one finishes its task, then a new one takes its place. Returns when no old
  // worker is left. Throws Error(closed) on a closed pool, Error(cancelled) if the new init
  // fails so often that the pool gives up, and Error(invalid_argument) from a pool worker.
  void replace_workers(std::function<void()> init);

  // See the header comment. Thread-safe; idempotent (a later close(true) still cancels).
  void close(bool force = false);
  [[nodiscard]] bool is_closed() const;
  [[nodiscard]] PoolStats stats() const;
  [[nodiscard]] const PoolOptions& options() const noexcept { return options_; }
  // A process-wide unique id (the "pool" label of the metrics export).
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }

 private:
  // What is submitted: one callable (a task) or a vector of them (a batch).
  template <class P>
  struct Payload {
    using Fn = P;
    using R = typename detail::PoolCall<P>::Result;
    using Done = detail::Reply<R>;  // what the job sends its future
    using Job = detail::PoolJobOf<P, R>;
    using Future = PoolFuture<R>;
    using Out = Submitted<P>;
    static std::size_t count(const P& /*fn*/) noexcept { return 1; }
  };
  template <class F>
  struct Payload<std::vector<F>> {
    using Fn = F;
    using R = typename detail::PoolCall<F>::Result;
    using Done = std::monostate;
    using Job = detail::PoolBatchOf<F, R>;
    using Future = PoolBatch<R>;
    using Out = BatchSubmitted<F>;
    static std::size_t count(const std::vector<F>& fns) noexcept { return fns.size(); }
  };
  template <class P>
  using Out = typename Payload<P>::Out;

  template <class P>
  void check_payload(const TaskOptions& task) {
    using F = typename Payload<P>::Fn;
    static_assert(std::is_invocable_v<F&> || std::is_invocable_v<F&, std::stop_token>,
                  "Pool: the task must be callable as fn() or fn(std::stop_token)");
    static_assert(Sendable<F>,
                  "Pool: the task is moved to a worker thread and must be Sendable; "
                  "troupe::why_not_sendable<F>() says why");
    using R = typename detail::PoolCall<F>::Result;
    static_assert(std::is_void_v<R> || Sendable<detail::Stored<R>>,
                  "Pool: the task's result must be Sendable");
    check_task(task, !std::is_same_v<P, F>);
  }

  // The room a submission of n tasks finds in the queue now.
  enum class Room : std::uint8_t { unbounded, taken, full, never };
  Room take_room(std::size_t n) {
    if (!room_) return Room::unbounded;
    if (n > options_.max_queue) return Room::never;
    if (n == 0) return Room::taken;
    std::optional<SemaphorePermit> permit = room_->try_acquire(static_cast<std::int64_t>(n));
    if (!permit) return Room::full;
    (void)permit->forget();  // the permits travel with the tasks until workers take them
    return Room::taken;
  }
  // Queues or refuses a submission now, unless it may wait for room and has to: nullopt then.
  template <class P>
  std::optional<Out<P>> admit_or_wait(P& payload, const TaskOptions& task, bool may_wait) {
    check_payload<P>(task);
    const std::size_t n = Payload<P>::count(payload);
    switch (take_room(n)) {
      case Room::unbounded:
        return enqueue(std::move(payload), 0, task);
      case Room::taken:
        return enqueue(std::move(payload), n, task);
      case Room::never:
        return refuse(SubmitError<P>::Kind::full, std::move(payload), n);
      case Room::full:
        break;
    }
    if (!may_wait || options_.on_full == QueueFull::reject) {
      return refuse(SubmitError<P>::Kind::full, std::move(payload), n);
    }
    return std::nullopt;
  }
  template <class P>
  Out<P> admit_now(P payload, const TaskOptions& task, bool may_wait) {
    if (auto done = admit_or_wait(payload, task, may_wait)) return std::move(*done);
    detail::refuse_blocking_on_worker("Pool::submit (waiting for room)");
    const std::size_t n = Payload<P>::count(payload);
    (void)room_->blocking_acquire(static_cast<std::int64_t>(n)).forget();  // travel with them
    return enqueue(std::move(payload), n, task);
  }
  template <class P>
  Task<Out<P>> admit_async(P payload, TaskOptions task) {
    if (auto done = admit_or_wait(payload, task, true)) co_return std::move(*done);
    const std::size_t n = Payload<P>::count(payload);
    SemaphorePermit permit = co_await room_->acquire(static_cast<std::int64_t>(n));
    (void)permit.forget();  // they travel with the tasks
    co_return enqueue(std::move(payload), n, task);
  }

  // Queues the submission (holding `permits` of room_). Closed if the pool is closed.
  template <class P>
  Out<P> enqueue(P&& payload, std::size_t permits, const TaskOptions& task) {
    using T = Payload<P>;
    const std::size_t n = T::count(payload);
    std::shared_ptr<typename T::Job> job;
    Receiver<typename T::Done> rx;
    bool queued = false;
    try {
      auto [tx, done_rx] = channel<typename T::Done>(1);
      rx = std::move(done_rx);
      job = std::make_shared<typename T::Job>(std::forward<P>(payload), std::move(tx));
      if constexpr (std::is_same_v<P, typename T::Fn>) job->deadline = task.deadline;
      queued = push(job, permits, n, task);
    } catch (...) {
      if (permits != 0) room_->release(static_cast<std::int64_t>(permits));  // not queued
      throw;
    }
    if (!queued) {
      // Closed: the job came back; so does its callable.
      return refuse(SubmitError<P>::Kind::closed, std::move(*job).take_back(), n);
    }
    return typename T::Future(std::move(rx), std::move(job));
  }
  template <class P>
  Out<P> refuse(typename SubmitError<P>::Kind kind, P&& payload, std::size_t n) {
    std::string why = count_refusal(kind == SubmitError<P>::Kind::closed, n);
    return Out<P>(failure, kind, std::forward<P>(payload), std::move(why));
  }
  // Counts a refused submission of n tasks and says why it was refused.
  std::string count_refusal(bool closed, std::size_t n);

  // Queues `tasks` tasks (a single job, or a batch: empty ones settle at once) holding
  // `permits` of room_; false once closed (the permits given back). A single task goes through
  // the intake when it can (push_intake), else under the lock.
  bool push(const std::shared_ptr<detail::PoolWork>& work, std::size_t permits, std::size_t tasks,
            const TaskOptions& task) ABSL_LOCKS_EXCLUDED(mutex_);
  // The intake: a single task is pushed onto a lock-free stack (one compare-and-swap, no
  // lock) when no worker needs waking or starting for it (intake_covered), and the task needs
  // nothing the lock would set up (no queue_timeout, no deadline, no drain threshold, not the
  // deterministic mode). The lock is what a submitter and the workers taking tasks would
  // otherwise meet on every task.
  // Whoever next holds the lock for the queue (a worker's turn, a waking worker, a locked
  // push, close) moves the intake into the heap in submission order (absorb_intake_locked).
  // False if the task must take the locked path (it is not in the intake then).
  bool push_intake(const std::shared_ptr<detail::PoolWork>& work, const TaskOptions& task)
      ABSL_LOCKS_EXCLUDED(mutex_);
  // Who asks grow_and_wake_locked: a submitter or close (none), a worker about to take a task
  // after its last one (busy_worker), or an idle worker that stopped spinning and is about to
  // take one or park (idle_worker, counted in idle_).
  enum class Taker : std::uint8_t { none, busy_worker, idle_worker };
  // Moves the intake's tasks into the heap (and seals the intake once closing_: a later
  // push_intake fails and takes the locked path, which refuses it). Then, unless closing,
  // starts or wakes workers for them as push does, counting `taker` as one who takes a task.
  void absorb_intake_locked(Taker taker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Tasks in the intake now (stats and idleness count them as queued).
  [[nodiscard]] std::size_t intake_size_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // After `tasks` tasks were queued: starts workers while more tasks are queued than workers
  // are idle (the taker counted), up to max_workers, and wakes parked workers for what the
  // spinning ones and the taker cannot take.
  void grow_and_wake_locked(std::size_t tasks, Taker taker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  static void check_task(const TaskOptions& task, bool batch);
  // The timer (queue timeouts and deadlines): a thread of the pool's, started on first use.
  struct TimerEntry {
    std::chrono::steady_clock::time_point at;
    std::weak_ptr<detail::PoolWork> work;
    bool queue_timeout;  // else the run deadline (single tasks only)
  };
  void add_timer_locked(std::chrono::milliseconds after,
                        const std::shared_ptr<detail::PoolWork>& work, bool queue_timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void timer_loop();
  [[nodiscard]] std::string describe() const;
  struct Thread;
  using ThreadRef = std::list<Thread>::iterator;
  void start_worker_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Starts a worker in place of one leaving (not while closing; no thread: none).
  void replace_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void worker_loop(ThreadRef self);
  // One turn of a worker (thread or task), under the lock: it leaves (recycled, faulted, or
  // the pool closed with nothing queued), finds nothing to do (idle: the caller waits), or ran
  // the queue's top entry (a task, or a batch's chunk).
  enum class Turn : std::uint8_t { leave, idle, ran };
  Turn worker_turn_locked(detail::UniqueLock& lock, Thread& self)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Runs worker_init (dropping the lock meanwhile); false if it threw.
  bool init_worker(detail::UniqueLock& lock, Thread& self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Whether the worker is due for recycling: max_tasks_per_worker, max_worker_age, or an
  // older generation than the current init's.
  [[nodiscard]] bool recycling_due_locked(const Thread& self) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // A worker's turn at the queue's top entry, under the lock (which it drops to run); true if
  // the worker is faulted and must be replaced.
  bool run_single_locked(detail::UniqueLock& lock, Thread& self)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  bool run_chunk_locked(detail::UniqueLock& lock, Thread& self)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // What is still queued, taken for dropping (a forced close, or the pool giving up): the
  // entries' unstarted tasks, and the permits of room_ they held.
  using Dropped = std::pair<
      std::vector<std::pair<std::shared_ptr<detail::PoolWork>, detail::TaskRange>>,
      std::size_t>;
  Dropped take_queue_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Outside the lock (a callable's destructor is user code): settles what take_queue_locked
  // took with `error` (null: Error(cancelled)) and gives the permits back.
  void drop_taken(Dropped&& taken, const std::exception_ptr& error);
  // Books an entry leaving the queue: its tasks that never ran stop counting as queued, and
  // those cancelled are counted. Returns the permits of room_ they held.
  std::size_t retire_locked(detail::PoolWork& work) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // After the queue or the running tasks shrank (or the close): mirrors the queue's size for
  // spinning workers and wakes drain and idle waiters whose condition now holds.
  void queue_changed_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  [[nodiscard]] bool draining_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return drain_at_ != 0 && queued_tasks_ >= drain_at_ && !closing_;
  }
  [[nodiscard]] bool drained_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return !draining_locked();
  }
  [[nodiscard]] bool idle_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return queued_tasks_ == 0 && running_ == 0 && intake_size_locked() == 0;
  }
  // Waits (blocking, or in a task) until `holds`, flagging `wanted` for queue_changed_locked.
  void wait_signal(const char* what, bool (Pool::*holds)() const, bool Pool::*wanted);
  // Wakes one idle worker, or all of them: threads on work_cv_, tasks on work_signal_.
  void notify_workers(bool all) noexcept;
  // Deterministic mode (PoolOptions::runtime): a worker is a task of the runtime, running
  // worker_loop's logic; `exit` books its end (alive_, exited) however the task ends —
  // returned, or dropped by the runtime's shutdown.
  class WorkerExit;
  Task<void> worker_task(ThreadRef self, WorkerExit exit);
  void worker_task_ended(Thread& self) ABSL_LOCKS_EXCLUDED(mutex_);
  // Deterministic mode: runs the runtime on this thread until `holds()` (called with the
  // pool's lock held); throws Error(timeout) naming `what` if it goes idle first.
  void drive_until(const char* what, absl::FunctionRef<bool()> holds) ABSL_LOCKS_EXCLUDED(mutex_);
  Task<void> await_signal(bool (Pool::*holds)() const, bool Pool::*wanted);
  void reap_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const PoolOptions options_;
  const std::size_t max_workers_;
  const std::uint64_t id_;
  std::optional<Semaphore> room_;  // max_queue permits, when bounded

  mutable detail::PlainMutex mutex_;
  std::condition_variable work_cv_;  // workers wait for tasks (or the close)
  std::condition_variable done_cv_;  // close waits for the last worker
  // The queue: a max-heap by score = priority * kAgingTasks - seq (see Priorities).
  struct Queued {
    std::int64_t score;
    std::shared_ptr<detail::PoolWork> work;
  };
  std::vector<Queued> queue_ ABSL_GUARDED_BY(mutex_);
  // Tasks of the queue's entries not taken.
  std::size_t queued_tasks_ ABSL_GUARDED_BY(mutex_) = 0;
  std::int64_t next_seq_ ABSL_GUARDED_BY(mutex_) = 0;
  std::vector<TimerEntry> timers_ ABSL_GUARDED_BY(mutex_);  // a min-heap by `at`
  std::condition_variable timer_cv_;
  std::thread timer_thread_ ABSL_GUARDED_BY(mutex_);  // joined by close
  bool timer_stop_ ABSL_GUARDED_BY(mutex_) = false;
  std::size_t sweep_at_ ABSL_GUARDED_BY(mutex_) = 1024;  // timers_ size that triggers a sweep
  std::list<Thread> threads_ ABSL_GUARDED_BY(mutex_);
  bool closing_ ABSL_GUARDED_BY(mutex_) = false;
  PoolStats stats_ ABSL_GUARDED_BY(mutex_);  // counters (queued/running/workers derived on read)
  std::size_t running_ ABSL_GUARDED_BY(mutex_) = 0;
  std::size_t idle_ ABSL_GUARDED_BY(mutex_) = 0;
  // Workers alive. Changed only under mutex_, as a seq_cst read-modify-write, because
  // push_intake reads it without the lock (intake_covered; see there for the ordering); read
  // under the lock like the fields around it.
  std::atomic<std::size_t> alive_{0};
  // Workers (see Workers). The init new workers run, and its generation.
  std::shared_ptr<const std::function<void()>> init_ ABSL_GUARDED_BY(mutex_);
  std::uint64_t generation_ ABSL_GUARDED_BY(mutex_) = 0;
  std::size_t init_failures_in_row_ ABSL_GUARDED_BY(mutex_) = 0;
  std::exception_ptr gave_up_ ABSL_GUARDED_BY(mutex_);  // why no worker could start
  std::int64_t ready_left_ ABSL_GUARDED_BY(mutex_);     // inits still owed to ready_
  Latch ready_;                           // released by min_workers inits (or giving up)
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  // Idle workers spin before they park (see worker_loop), watching this mirror of
  // queue_.size() and the intake; relaxed: they re-check under mutex_ before acting on it.
  std::atomic<std::size_t> pending_{0};
  // The intake (push_intake): the top of a stack of PoolWork linked by intake_next; null when
  // empty, kSealed once the pool closes.
  std::atomic<detail::PoolWork*> intake_{nullptr};
  // For push_intake, which reads them without the lock (see there for their ordering); each
  // is changed under mutex_. Idle workers still spinning, and parked (both counted in idle_
  // too).
  std::atomic<std::size_t> spinning_{0};
  std::atomic<std::size_t> parked_{0};
  // Whether a task pushed onto the intake now is sure to be taken without a wake: a worker
  // spins, or none is parked and none could be added (every one is running a task and comes
  // back to the queue when it ends). seq_cst loads (see push_intake).
  [[nodiscard]] bool intake_covered() const noexcept;
  // Drain: the threshold (0: never), and who waits (guarded by mutex_). Blocking waiters use
  // signal_cv_, tasks signal_; both are notified when a wanted condition starts to hold.
  const std::size_t drain_at_;
  bool drain_wanted_ ABSL_GUARDED_BY(mutex_) = false;
  bool idle_wanted_ ABSL_GUARDED_BY(mutex_) = false;
  std::condition_variable signal_cv_;
  Notify signal_;
  Notify work_signal_;  // deterministic mode: idle worker tasks wait here
};

}  // namespace troupe
