// troupe/runtime/runtime.hpp — the Runtime: a work-stealing M:N scheduler for Tasks.
//
//   troupe::Runtime rt;                                   // min_threads = cores
//   auto [tx, rx] = troupe::channel<int>(64);
//   auto consumer = rt.spawn([](troupe::Receiver<int> rx) -> troupe::Task<long> {
//     long sum = 0;
//     while (auto m = co_await rx.recv()) sum += *m;
//     co_return sum;
//   }(std::move(rx)));
//   for (int i = 0; i < 1000; ++i) (void)tx.blocking_send(i);   // a plain thread feeds a task
//   tx.close();
//   long total = consumer.get();                           // blocks this (non-runtime) thread
//
// Scheduling. Each worker thread has a bounded local run queue (256 tasks) and a one-task
// "next" (LIFO) slot; a global queue takes tasks from outside the runtime and overflow. A task
// woken by a worker's running task goes to that worker's next slot, so a receiver runs right
// after the send that woke it, its message still in cache; the slot is used at most
// kMaxLifoStreak times in a row, then the woken task queues behind the others, so two tasks
// bouncing messages cannot starve a third. A task that keeps finding its operations ready is
// made to yield after a budget of operations (awaitable.hpp). Idle workers steal half of a
// busy worker's queue; every 61st pick looks at the global queue first.
//
// Idle policy. A worker that runs out of work searches (steals) briefly, then parks on a
// futex. New work wakes a parked worker only if no worker is already searching, and at most
// half of the workers search at once: on a virtual machine a cross-core wake costs tens of
// microseconds, so waking is kept rare. An idle runtime has all workers parked and uses no
// CPU apart from the monitor's tick (a few microseconds every stall_threshold / 4).
//
// Dynamic threads. The runtime starts min_threads workers. A monitor thread samples them; when
// runnable work waits while every worker is busy and at least one has been inside a single
// poll for longer than stall_threshold (a task blocking its thread, or hogging the CPU), it
// starts another worker, up to max_threads. A worker parked for idle_timeout retires while
// more than min_threads run.
//
// Dedicated threads. A task spawned with SpawnOptions::dedicated_thread runs alone on a thread
// of its own (Node's Worker): it may block there without stalling the workers. Waking it
// costs a cross-thread wake-up (the thread spins for ~2 us, then parks), so it suits tasks
// that block or run long, not chatty ones.
//
// Shutdown. shutdown() (or the destructor) stops the workers and dedicated threads after their
// current poll, joins them, then cancels every task still alive: each is dropped as at an await point (its
// frames destroyed, its JoinHandle resolving with ErrorCode::cancelled). Nothing leaks and
// nothing waits for a task that is merely suspended; a task blocked inside a blocking call
// (not an await) delays shutdown until that call returns — C++ code cannot be preempted.
// shutdown_report() then lists what was still alive. Queued spawn_blocking jobs are cancelled;
// running ones are waited for.
//
// Wakes from outside during and after destruction are safe: a channel send, a stop token or
// JoinHandle::cancel from another thread may race with the Runtime's destructor. Every task
// holds a reference on the scheduler (tokio's Arc<Handle>), so the scheduler's memory lives
// until the last task is gone, and a wake that arrives after shutdown finds its queues closed
// and does nothing. A JoinHandle, channel or timer may thus keep a few bytes alive after the
// Runtime; the threads are always gone when the destructor returns.
//
// shutdown() from one of the runtime's own workers throws Error(invalid_argument) (it would
// join itself); destroying the Runtime there therefore ends in std::terminate. Destroy it
// from the thread that owns it.
//
// Deterministic mode (RuntimeOptions::deterministic_seed), for tests. The runtime starts no
// thread at all: the thread that calls run_until_idle(), run_until() or block_on() (or a
// blocking wait of the library that drives in this mode: Pipeline::finish) runs every task, one
// poll at a time, picking the next one at random among the runnable ones with a generator
// seeded by the seed (and, at random, cutting a task's coop budget short, so that a task
// whose operations are ready still yields at some of them). The same program with the same
// seed runs the same interleaving, so a failure found under one seed replays under it; a loop
// over seeds explores interleavings. Time is virtual: troupe::now() (time.hpp) inside the
// runtime's tasks reads a clock that stands still while tasks run and, when no task is
// runnable, jumps to the next timer's deadline and fires it — sleeps and timeouts of any
// length pass at once, in deadline order. In this mode:
//   - spawn_blocking jobs and dedicated-thread tasks run on the driving thread too, when
//     picked (so a job that blocks waiting for another task deadlocks the run: don't);
//   - block_on(task) drives until the task ends; if the runtime goes idle first (nothing
//     runnable, no timer pending: a deadlock), it throws Error(timeout) listing what is alive;
//   - a wake from another thread (a plain thread's send) queues the task for the next drive;
//     determinism holds only for programs whose threads are all the runtime's;
//   - JoinHandle::get() drives too, unless another thread is driving (see JoinHandle);
//   - shutdown() from another thread lets the driving thread finish its current poll (it
//     then returns from driving) before it cancels what is alive. A block_on so stopped
//     throws Error(shut_down), or Error(cancelled) when the drain already cancelled its task
//     (as JoinHandle::get does); a pool's deterministic wait throws Error(shut_down) unless
//     what it waits for holds by then. Never the deadlock's timeout.
// min_threads, max_threads and the thread timeouts are ignored.
//
// Thread-safety: every member function of Runtime is thread-safe. JoinHandle is a move-only
// single-owner handle (like the Task it joins); its operations may run on any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <absl/functional/function_ref.h>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/detail/duration.hpp"
#include "troupe/channels/error.hpp"
#include "troupe/runtime/detail/raw_task.hpp"
#include "troupe/runtime/detail/task_cells.hpp"
#include "troupe/runtime/metrics.hpp"
#include "troupe/runtime/task.hpp"

namespace troupe {

// Construction parameters. Invalid values make the Runtime constructor throw
// Error(invalid_argument) naming the field and the value.
struct RuntimeOptions {
  // Workers kept running even when idle. At least 1. Default: the number of cores.
  std::size_t min_threads = default_threads();
  // Upper bound for the monitor's additions. Default (unset): max(min_threads, 4 x cores).
  // At most kMaxWorkers.
  std::optional<std::size_t> max_threads;
  // A worker above min_threads retires after parking this long. Positive.
  std::chrono::milliseconds idle_timeout{10'000};
  // A worker inside one poll this long counts as stalled (blocked or hogging). Positive.
  std::chrono::milliseconds stall_threshold{100};
  // Threads for spawn_blocking, started on demand. At least 1.
  std::size_t max_blocking_threads = 512;
  // A blocking-pool thread idle this long exits. Positive.
  std::chrono::milliseconds blocking_idle_timeout{10'000};
  // Set: the runtime runs deterministically on the thread that drives it, with this seed
  // choosing the interleaving, on virtual time (see "Deterministic mode" above). For tests.
  std::optional<std::uint64_t> deterministic_seed;

  static constexpr std::size_t kMaxWorkers = 256;
  static std::size_t default_threads() noexcept;
};

struct SpawnOptions {
  std::string_view name;      // shown in the shutdown report
  std::stop_token stop_token; // stopping it cancels the task (as JoinHandle::cancel)
  // Installed as the thread's current ByteAccount around each poll of the task, so the
  // Buffers the task allocates or takes in are charged to it (byte_account.hpp). The task
  // holds a reference. Null: none.
  ByteAccount* byte_account = nullptr;
  // Runs the task on a thread of its own instead of the workers (Node's Worker: one thread,
  // one event loop), for code that blocks: a blocking call there stalls nothing else. The
  // thread polls only this task (what it awaits wakes that thread, spinning briefly before it
  // parks) and exits when the task ends. Tasks it spawns go to the workers as usual. For
  // spawn(); spawn_blocking ignores it (its jobs have threads of their own already).
  bool dedicated_thread = false;
};

// One task still alive at shutdown.
struct LiveTask {
  std::uint64_t id = 0;
  std::string name;
  std::string_view state;  // "queued", "suspended" (at an await) or "blocking-job"
};
struct ShutdownReport {
  std::size_t cancelled = 0;        // tasks cancelled by the shutdown
  std::vector<LiveTask> tasks;      // the first kMaxListed of them
  static constexpr std::size_t kMaxListed = 1000;
};

namespace detail {
class Scheduler;

// Where a spawned task runs: on the workers, as a job of the blocking pool, or on a thread of
// its own (SpawnOptions::dedicated_thread).
enum class Placement : std::uint8_t { workers, blocking_pool, dedicated };

template <class T>
class JoinOp {
 public:
  explicit JoinOp(TypedTask<T>* task) noexcept : task_(task) {}
  bool ready_now() const noexcept { return task_->is_complete(); }
  bool poll(Waker& waker) noexcept { return task_->register_joiner(waker); }
  void cancel(Waker&) noexcept { task_->deregister_joiner(); }
  T take();

 private:
  TypedTask<T>* task_;
};

// Throws the error of a task that did not end with a value (exception or cancellation).
[[noreturn]] void throw_task_failure(const RawTask& task);
// For JoinHandle::get and wait_for: if `task`'s runtime is deterministic and no other thread
// drives it, drives it on the calling thread until `task` completes or the runtime goes idle,
// and returns true. False, having done nothing, on a threaded runtime or while another thread
// drives (the caller then blocks as usual; that driver completes the task).
bool drive_for_join(RawTask& task);
// Throws Error(timeout) naming the deadlock that left `task` unfinished (Runtime::block_on's).
[[noreturn]] void throw_join_deadlock(const RawTask& task, const char* who);
}  // namespace detail

// The handle of a spawned task: await it (`co_await handle`) in a task, or get() it from a
// plain thread, for the task's value; either rethrows the task's exception, or throws
// Error(cancelled) if it was cancelled. The result can be taken once; afterwards the handle is
// empty and taking again throws Error(invalid_handle). Dropping the handle detaches the task
// (it keeps running). Move-only; not for concurrent use of one handle.
template <class T>
class [[nodiscard]] JoinHandle {
 public:
  JoinHandle() noexcept = default;
  JoinHandle(JoinHandle&& other) noexcept : task_(std::exchange(other.task_, nullptr)) {}
  JoinHandle& operator=(JoinHandle&& other) noexcept {
    JoinHandle(std::move(other)).swap(*this);
    return *this;
  }
  ~JoinHandle() { reset(); }
  void swap(JoinHandle& other) noexcept { std::swap(task_, other.task_); }

  [[nodiscard]] bool valid() const noexcept { return task_ != nullptr; }
  [[nodiscard]] bool is_finished() const { return checked("is_finished").is_complete(); }
  [[nodiscard]] std::uint64_t id() const { return checked("id").id; }
  // Requests cancellation: the task is dropped at its next await point. Returns at once.
  void cancel() { checked("cancel").request_cancel(); }
  // Wakes the task as its Waker would: the operation it awaits is polled again, and its code
  // sees nothing unless that operation now completes (a spurious wake). For operations that
  // also watch state outside any channel (an actor's control lane). No effect once finished.
  void wake() { checked("wake").wake(); }
  // Lets the task run on with nobody to join it.
  void detach() noexcept { reset(); }

  // co_await handle: waits (suspending the task) for the result.
  auto operator co_await() {
    return Awaitable<Taker>(std::in_place, take_task("co_await"));
  }
  // Blocks the calling thread for the result. Not from a runtime worker (it would block the
  // worker): that throws Error(invalid_argument) — await the handle there instead. On a
  // deterministic runtime that no other thread is driving, the calling thread drives it until
  // the task ends, as block_on does; if the runtime goes idle first (a deadlock), get() throws
  // Error(timeout) and the handle keeps the task.
  T get() {
    refuse_on_worker("JoinHandle::get");
    detail::TypedTask<T>& task = checked("get");
    if (detail::drive_for_join(task) && !task.is_complete()) {
      detail::throw_join_deadlock(task, "JoinHandle::get");
    }
    Taker taker(take_task("get"));
    return block_on_op(taker);
  }
  // Blocks up to `timeout`; true once the task has finished (then get() returns at once). On
  // a deterministic runtime that no other thread is driving, it drives the runtime instead,
  // until the task ends or the runtime goes idle, and returns whether the task ended: virtual
  // time passes at once, and nothing else would drive the runtime while it waited.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) {
    refuse_on_worker("JoinHandle::wait_for");
    const auto after = detail::saturating_duration(timeout, true);  // too long: forever
    if (after < after.zero()) {
      throw Error(ErrorCode::invalid_argument, "JoinHandle::wait_for: timeout " +
                                                   std::to_string(after.count()) +
                                                   " ns is negative");
    }
    detail::TypedTask<T>& task = checked("wait_for");
    if (detail::drive_for_join(task)) return task.is_complete();
    detail::JoinOp<T> op(&task);
    return block_on_op_until(
        op, detail::saturating_deadline(std::chrono::steady_clock::now(), after));
  }

 private:
  friend class Runtime;
  explicit JoinHandle(detail::TypedTask<T>* task) noexcept : task_(task) {}

  // Owns the task reference while a take is in progress.
  class Taker {
   public:
    explicit Taker(detail::TypedTask<T>* task) noexcept : op_(task), task_(task) {}
    Taker(Taker&& other) noexcept : op_(other.op_), task_(std::exchange(other.task_, nullptr)) {}
    ~Taker() {
      if (task_ != nullptr) task_->release();
    }
    bool ready_now() const noexcept { return op_.ready_now(); }
    bool poll(Waker& waker) noexcept { return op_.poll(waker); }
    void cancel(Waker& waker) noexcept { op_.cancel(waker); }
    T take() { return op_.take(); }

   private:
    detail::JoinOp<T> op_;
    detail::TypedTask<T>* task_;
  };

  detail::TypedTask<T>& checked(const char* what) const {
    if (task_ == nullptr) {
      throw Error(ErrorCode::invalid_handle,
                  std::string("JoinHandle::") + what +
                      ": the handle is empty (its result was already taken, or it was detached "
                      "or moved from)");
    }
    return *task_;
  }
  detail::TypedTask<T>* take_task(const char* what) {
    checked(what);
    return std::exchange(task_, nullptr);
  }
  static void refuse_on_worker(const char* what);
  void reset() noexcept {
    if (task_ != nullptr) std::exchange(task_, nullptr)->release();
  }

  detail::TypedTask<T>* task_ = nullptr;
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = {});
  ~Runtime();  // shutdown()
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Starts `task` on the runtime. Throws Error(shut_down) after shutdown (the task is
  // destroyed unrun), Error(invalid_handle) for an empty Task.
  template <class T>
  JoinHandle<T> spawn(Task<T> task, SpawnOptions options = {}) {
    if (!task.valid()) throw Error(ErrorCode::invalid_handle, "Runtime::spawn: the Task is empty");
    auto* cell = new detail::CoroutineTask<T>(std::move(task));
    return launch(cell, options,
                  options.dedicated_thread ? detail::Placement::dedicated
                                           : detail::Placement::workers);
  }

  // Runs `function()` on a thread of the blocking pool, never on a worker, so it may block.
  template <class F>
  auto spawn_blocking(F function, SpawnOptions options = {})
      -> JoinHandle<std::invoke_result_t<F&&>> {
    using R = std::invoke_result_t<F&&>;
    auto* cell = new detail::BlockingTask<R, F>(std::move(function));
    return launch(cell, options, detail::Placement::blocking_pool);
  }

  // Runs `task` to completion from a plain thread and returns its value (rethrows). In
  // deterministic mode this thread drives the runtime meanwhile.
  template <class T>
  T block_on(Task<T> task) {
    JoinHandle<T> handle = spawn(std::move(task));
    if (is_deterministic() && !run_until([&] { return handle.is_finished(); })) {
      throw_deadlock("Runtime::block_on", "task " + std::to_string(handle.id()));
    }
    return handle.get();
  }

  // Deterministic mode only (throws Error(invalid_argument) otherwise, or from one of the
  // runtime's tasks, or while another thread drives). Runs tasks on the calling thread until
  // none is runnable and no timer is pending; returns how many polls it ran (0 once shutdown
  // has begun).
  std::size_t run_until_idle();
  // The same, stopping as soon as `done()` holds (checked before each poll); returns done().
  // For code that would otherwise block the driving thread on what the tasks do.
  bool run_until(absl::FunctionRef<bool()> done);
  // Throws Error(timeout): "<who>: the deterministic runtime went idle ... before <what>";
  // or Error(shut_down) if the drive stopped because the runtime is shutting down.
  [[noreturn]] void throw_deadlock(const std::string& who, const std::string& what) const;
  [[nodiscard]] bool is_deterministic() const noexcept;

  // Stops the runtime (see the header comment). Idempotent; thread-safe; not from a worker.
  void shutdown();
  [[nodiscard]] bool is_shut_down() const noexcept;
  // What was alive at shutdown (empty before).
  [[nodiscard]] ShutdownReport shutdown_report() const;

  [[nodiscard]] RuntimeMetrics metrics() const;
  [[nodiscard]] const RuntimeOptions& options() const noexcept;

  // The runtime whose worker (or blocking-pool thread) is calling, or nullptr.
  static Runtime* current() noexcept;

 private:
  template <class T>
  JoinHandle<T> launch(detail::TypedTask<T>* cell, const SpawnOptions& options,
                       detail::Placement placement) {
    try {
      cell->name = std::string(options.name);
    } catch (...) {
      cell->discard_unspawned();  // its only references: frees the cell and the coroutine frame
      throw;
    }
    if (options.byte_account != nullptr) {
      options.byte_account->retain();  // released with the task (RawTask::destroy)
      cell->byte_account = options.byte_account;
    }
    cell->retain();  // the handle's reference (the scheduler keeps the first)
    JoinHandle<T> handle(cell);
    submit(cell, placement);  // on failure, drops the scheduler's reference and throws
    cell->watch(options.stop_token);
    return handle;
  }
  void submit(detail::RawTask* cell, detail::Placement placement);

  // Drops the Runtime's reference on its scheduler, which lives on until its last task is gone.
  struct ReleaseScheduler {
    void operator()(detail::Scheduler* scheduler) const noexcept;
  };
  std::unique_ptr<detail::Scheduler, ReleaseScheduler> scheduler_;
};

// Spawns on the runtime of the calling worker; throws Error(invalid_argument) elsewhere.
template <class T>
JoinHandle<T> spawn(Task<T> task, SpawnOptions options = {}) {
  Runtime* runtime = Runtime::current();
  if (runtime == nullptr) {
    throw Error(ErrorCode::invalid_argument,
                "troupe::spawn: not called from a runtime thread (use Runtime::spawn)");
  }
  return runtime->spawn(std::move(task), options);
}

// The running task's view of itself. Call from inside a task.
namespace this_task {
// True once cancellation was requested (the task will be dropped at its next await); lets a
// long computation stop early.
[[nodiscard]] bool cancelled() noexcept;
// The running task's id (0 outside a task).
[[nodiscard]] std::uint64_t id() noexcept;

// co_await yield_now(): lets the other runnable tasks run first.
struct YieldOp {
  bool yielded = false;
  bool poll(Waker& waker) noexcept {
    if (yielded) return true;
    yielded = true;
    waker.wake();  // runnable again at once, but queued behind the others
    return false;
  }
  void cancel(Waker&) noexcept {}
  void take() noexcept {}
};
inline Awaitable<YieldOp> yield_now() { return Awaitable<YieldOp>(std::in_place); }
}  // namespace this_task

// ---- implementation --------------------------------------------------------------------------

namespace detail {
void refuse_blocking_on_worker(const char* what);

template <class T>
T JoinOp<T>::take() {
  if (task_->ending != Ending::value) throw_task_failure(*task_);
  if constexpr (std::is_void_v<T>) {
    return;
  } else {
    return std::move(*task_->result);
  }
}
}  // namespace detail

template <class T>
void JoinHandle<T>::refuse_on_worker(const char* what) {
  detail::refuse_blocking_on_worker(what);
}

}  // namespace troupe
