#include "troupe/runtime/runtime.hpp"

#include <algorithm>
#include <string>
#include <thread>

#include "scheduler.hpp"

namespace troupe {
namespace detail {

// ---- RawTask ----------------------------------------------------------------------------------

void RawTask::wake() noexcept {
  // The caller keeps its own reference throughout, so the task (and through it the scheduler)
  // outlives this call whatever the shutdown drain does: no count (wake_and_release needs one).
  std::uint64_t word = word_.load(std::memory_order_relaxed);
  for (;;) {
    if ((word & kComplete) != 0) return;
    const bool scheduled = (word & kScheduled) != 0;
    // From idle: scheduled, with a reference for the queue.
    const std::uint64_t next = scheduled ? (word | kNotified) : ((word | kScheduled) + kRefOne);
    // acq_rel: releases the waker's writes to the next poll (via the runner's closing CAS, or
    // via the queue when we schedule); see raw_task.hpp.
    if (word_.compare_exchange_weak(word, next, std::memory_order_acq_rel,
                                    std::memory_order_relaxed)) {
      if (!scheduled) scheduler->schedule(this);
      return;
    }
  }
}

void RawTask::wake_and_release() noexcept {
  Scheduler* const owner = scheduler;  // read while our reference keeps the task alive
  // A wake from one of the owner's workers (usually a task's send) queues the task on that
  // worker, inline (Scheduler::schedule_on_own).
  Worker* const worker = owner->own_worker();
  const bool own = worker != nullptr;
  // An external wake in flight (Scheduler::enter_external_wake): our reference becomes the
  // queue's, which the shutdown drain may drop while we still read the task.
  bool counted = false;
  bool last = false;
  std::uint64_t word = word_.load(std::memory_order_relaxed);
  for (;;) {
    const bool complete = (word & kComplete) != 0;
    const bool scheduled = (word & kScheduled) != 0;
    if (!complete && !scheduled && !counted && !own) {
      owner->enter_external_wake();
      counted = true;
    }
    // From idle, our reference becomes the queue's; otherwise it is dropped.
    std::uint64_t next;
    if (complete) {
      next = word - kRefOne;
    } else if (scheduled) {
      next = (word | kNotified) - kRefOne;  // not the last: the registry's is still held
    } else {
      next = word | kScheduled;
    }
    // acq_rel: as wake(), and as release() for the reference dropped. seq_cst: an external
    // wake's CAS is ordered with the shutdown drain's (Scheduler::enter_external_wake); x86
    // pays nothing more.
    if (word_.compare_exchange_weak(word, next, std::memory_order_seq_cst,
                                    std::memory_order_relaxed)) {
      if (!complete && !scheduled) {
        if (own) {
          owner->schedule_on_own(*worker, this);
        } else {
          queue_woken_externally(owner);
        }
      } else {
        last = (next >> kRefShift) == 0;
      }
      break;
    }
  }
  if (counted) owner->leave_external_wake();
  if (last) destroy();
}

void RawTask::queue_woken_externally(Scheduler* owner) noexcept {
  if (const auto hook = test_hooks::external_wake_queuing.load(std::memory_order_relaxed)) {
    hook(this);
  }
  owner->schedule(this);
}

bool RawTask::end_poll(bool yield) noexcept {
  std::uint64_t word = word_.load(std::memory_order_relaxed);
  for (;;) {
    if ((word & kLowBits) == kScheduled && !yield) {
      // Idle again, dropping the queue's reference (never the last: the registry's is held).
      // acq_rel: publishes this poll's writes to the next waker; fails if a wake came in.
      if (word_.compare_exchange_weak(word, (word & ~kScheduled) - kRefOne,
                                      std::memory_order_acq_rel, std::memory_order_relaxed)) {
        return false;
      }
      continue;
    }
    // Woken during the poll, cancelled, or yielding: poll again, after the others; the queue
    // keeps its reference. acq_rel: acquires the wakers' writes for the next poll.
    if (word_.compare_exchange_weak(word, word & ~kNotified, std::memory_order_acq_rel,
                                    std::memory_order_relaxed)) {
      return true;
    }
  }
}

void RawTask::request_cancel() noexcept {
  // release: the flag and whatever the canceller did before are visible to the runner.
  word_.fetch_or(kCancel, std::memory_order_release);
  wake();
}

void RawTask::complete(Ending how) noexcept {
  ending = how;
  // Sets kComplete (not set before: adding it sets it) and drops the registry's reference and
  // the unspent reserve; the queue's reference keeps us alive until the joiner is woken.
  // seq_cst: the join protocol (raw_task.hpp) — pairs with register_joiner.
  word_.fetch_add(kComplete - (1 + std::exchange(bank_, 0)) * kRefOne, std::memory_order_seq_cst);
  wake_joiner();
  release();  // the queue's
}

void RawTask::complete_abandoned() noexcept {
  ending = Ending::cancelled;
  std::uint64_t word = word_.load(std::memory_order_relaxed);
  std::uint64_t next;
  do {
    // The registry's reference and the reserve go now; the queue's too if the task is queued
    // (its queue was abandoned when the workers stopped). One reference stays until the
    // joiner is woken.
    const std::uint64_t dropped = (word & kScheduled) != 0 ? 2 : 1;
    next = (word | kComplete) - (dropped - 1 + bank_) * kRefOne;
    // seq_cst: the join protocol, as complete(); and the drain's side of the external wakes'
    // handshake (Scheduler::enter_external_wake).
  } while (!word_.compare_exchange_weak(word, next, std::memory_order_seq_cst,
                                        std::memory_order_relaxed));
  bank_ = 0;
  wake_joiner();
}

void RawTask::wake_joiner() noexcept {
  // seq_cst: the join protocol (raw_task.hpp).
  if (Waker* joiner = joiner_.exchange(nullptr, std::memory_order_seq_cst)) {
    joiner->wake_and_release();
  }
}

void RawTask::destroy() noexcept {
  if (byte_account != nullptr) byte_account->release();
  Scheduler* owner = scheduler;
  delete this;
  if (owner != nullptr) release_scheduler_ref(owner);
}

bool RawTask::register_joiner(Waker& waker) noexcept {
  waker.retain();
  // seq_cst: the join protocol (raw_task.hpp) — pairs with complete().
  if (Waker* previous = joiner_.exchange(&waker, std::memory_order_seq_cst)) previous->release();
  if ((word_.load(std::memory_order_seq_cst) & kComplete) != 0) {
    deregister_joiner();
    return true;
  }
  return false;
}

void RawTask::deregister_joiner() noexcept {
  // acquire: the registration we take back was published by an exchange of ours.
  if (Waker* mine = joiner_.exchange(nullptr, std::memory_order_acquire)) mine->release();
}

void throw_task_failure(const RawTask& task) {
  if (task.ending == Ending::exception && task.error) std::rethrow_exception(task.error);
  throw Error(ErrorCode::cancelled, "JoinHandle: task " + std::to_string(task.id) +
                                        (task.name.empty() ? "" : " '" + task.name + "'") +
                                        " was cancelled before it finished");
}

bool drive_for_join(RawTask& task) {
  Scheduler* scheduler = task.scheduler;
  if (scheduler == nullptr || !scheduler->deterministic()) return false;
  const bool drove = scheduler->try_drive([&task] { return task.is_complete(); }).has_value();
  // A shutdown stopped the drive: not a deadlock. The caller waits, and the shutdown's drain
  // completes the task (cancelled). acquire: as the drive loop's read of `stopping`.
  return drove && !scheduler->stopping.load(std::memory_order_acquire);
}

void throw_join_deadlock(const RawTask& task, const char* who) {
  task.scheduler->owner().throw_deadlock(who, "task " + std::to_string(task.id));
}

void refuse_blocking_on_worker(const char* what) {
  if (current_worker() != nullptr) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) +
                    ": called on a runtime worker thread, where blocking would stall every "
                    "task queued on it; co_await the handle inside tasks instead");
  }
}

}  // namespace detail

// ---- options ----------------------------------------------------------------------------------

std::size_t RuntimeOptions::default_threads() noexcept {
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

namespace {

template <class Duration>
void require_positive(Duration value, const char* field) {
  if (value.count() <= 0) {
    throw Error(ErrorCode::invalid_argument, std::string("RuntimeOptions::") + field + ": " +
                                                 std::to_string(value.count()) +
                                                 "ms is not positive");
  }
}

RuntimeOptions validated(RuntimeOptions options) {
  constexpr std::size_t kMax = RuntimeOptions::kMaxWorkers;
  if (options.min_threads == 0) {
    throw Error(ErrorCode::invalid_argument,
                "RuntimeOptions::min_threads: 0 (a runtime needs at least one worker)");
  }
  if (options.min_threads > kMax) {
    throw Error(ErrorCode::invalid_argument,
                "RuntimeOptions::min_threads: " + std::to_string(options.min_threads) +
                    " is above the limit of " + std::to_string(kMax));
  }
  if (!options.max_threads) {
    options.max_threads =
        std::min(kMax, std::max(options.min_threads, 4 * RuntimeOptions::default_threads()));
  }
  if (*options.max_threads == 0) {
    throw Error(ErrorCode::invalid_argument,
                "RuntimeOptions::max_threads: 0 (a runtime needs at least one worker)");
  }
  if (*options.max_threads > kMax) {
    throw Error(ErrorCode::invalid_argument,
                "RuntimeOptions::max_threads: " + std::to_string(*options.max_threads) +
                    " is above the limit of " + std::to_string(kMax));
  }
  if (options.min_threads > *options.max_threads) {
    throw Error(ErrorCode::invalid_argument,
                "RuntimeOptions: min_threads " + std::to_string(options.min_threads) +
                    " is greater than max_threads " + std::to_string(*options.max_threads));
  }
  require_positive(options.idle_timeout, "idle_timeout");
  require_positive(options.stall_threshold, "stall_threshold");
  require_positive(options.blocking_idle_timeout, "blocking_idle_timeout");
  if (options.max_blocking_threads == 0) {
    throw Error(ErrorCode::invalid_argument,
                "RuntimeOptions::max_blocking_threads: 0 (spawn_blocking needs a thread)");
  }
  return options;
}

}  // namespace

// ---- Runtime ----------------------------------------------------------------------------------

Runtime::Runtime(RuntimeOptions options)
    : scheduler_(new detail::Scheduler(*this, validated(std::move(options)))) {}

Runtime::~Runtime() { shutdown(); }

void Runtime::submit(detail::RawTask* cell, detail::Placement placement) {
  try {
    scheduler_->spawn(cell, placement);
  } catch (...) {
    cell->discard_unspawned();  // the task never started
    throw;
  }
}

void Runtime::ReleaseScheduler::operator()(detail::Scheduler* scheduler) const noexcept {
  scheduler->release_ref();
}

void Runtime::shutdown() { scheduler_->shutdown(); }
bool Runtime::is_shut_down() const noexcept { return scheduler_->is_shut_down(); }
ShutdownReport Runtime::shutdown_report() const { return scheduler_->report(); }
RuntimeMetrics Runtime::metrics() const { return scheduler_->metrics(); }
const RuntimeOptions& Runtime::options() const noexcept { return scheduler_->options(); }

bool Runtime::is_deterministic() const noexcept { return scheduler_->deterministic(); }

std::size_t Runtime::run_until_idle() {
  return scheduler_->drive([] { return false; });
}

bool Runtime::run_until(absl::FunctionRef<bool()> done) {
  scheduler_->drive(done);
  return done();
}

void Runtime::throw_deadlock(const std::string& who, const std::string& what) const {
  if (scheduler_->stopping.load(std::memory_order_acquire)) {
    // The drive stopped because the runtime is shutting down, not because it went idle.
    throw Error(ErrorCode::shut_down, who + ": the runtime shut down before " + what +
                                          " finished");
  }
  throw Error(ErrorCode::timeout,
              who + ": the deterministic runtime went idle (no task runnable, no timer pending) "
                    "before " + what + " finished: a deadlock (" +
                  std::to_string(scheduler_->live_tasks()) + " tasks alive, all waiting)");
}

Runtime* Runtime::current() noexcept {
  if (detail::Worker* worker = detail::current_worker()) return &worker->scheduler().owner();
  if (detail::Scheduler* pool = detail::current_blocking_scheduler()) return &pool->owner();
  return nullptr;
}

namespace this_task {
bool cancelled() noexcept {
  const detail::RawTask* task = detail::current_task();
  return task != nullptr && task->cancel_requested();
}
std::uint64_t id() noexcept {
  const detail::RawTask* task = detail::current_task();
  return task == nullptr ? 0 : task->id;
}
}  // namespace this_task

}  // namespace troupe
