// troupe/runtime/sync/condvar.hpp — CondVar: a condition variable for the asynchronous Mutex,
// for tasks and threads alike.
//
//   troupe::Mutex mutex;  troupe::CondVar ready;  std::deque<Job> jobs;   // jobs: under mutex
//   // consumer (a task)                              // producer (a task or a thread)
//   troupe::MutexGuard guard = co_await mutex.lock(); {
//   co_await ready.wait(guard, [&] { return !jobs.empty(); });   auto g = mutex.blocking_lock();
//   Job job = pop(jobs);                                          jobs.push_back(job);
//                                                                  }
//                                                                  ready.notify_one();
//
// wait(guard) releases the guard's mutex, waits for a notification, and locks the mutex again
// before it returns. The guard is taken *by reference*, as std::condition_variable takes its
// unique_lock: while the wait is suspended the guard owns nothing, and when the wait returns it
// owns the mutex again. wait(guard, pred) loops until pred() — always called with the mutex
// held — is true, and does not wait at all if it already is. A guard that does not own its
// mutex throws Error(invalid_argument) at the call.
//
// No lost wake-ups: a wait is registered with the CondVar *before* it releases the mutex. So a
// notifier that changed the condition while holding the mutex (and notifies then or after
// unlocking) sees every waiter that saw the old condition. Changing the condition without the
// mutex and then notifying can lose a wake-up, as with std::condition_variable.
//
// notify_one() wakes the oldest waiter, notify_all() every current waiter; if nobody waits
// they do nothing (no permit is stored: use Notify for that). Waits may also return without a
// notification when a notify_one is passed on (below), so a waiter re-checks its condition —
// the predicate forms do.
//
// Cancellation. A wait that is cancelled after it released the mutex leaves the guard owning
// nothing (no dead task holds the mutex): while it waits for a notification it is unlinked;
// while it re-locks it withdraws from the mutex's queue, or unlocks a lock handed to it in the
// same instant. If notify_one chose it and it is cancelled before its wait returned, the
// notification is passed on to the next waiter, so it is not lost. An exception thrown by pred
// propagates from the wait with the mutex held.
//
// Memory ordering. Each wait returns holding the mutex, so everything the mutex orders applies
// (everything before an unlock happens-before the next lock's return). Besides, everything a
// thread did before notify_one / notify_all happens-before the return of each wait it woke.
//
// Thread-safety: every member function of CondVar is thread-safe; a guard belongs to the one
// task or thread that waits with it. The CondVar must outlive its pending waits. All waits on
// one CondVar at a time should use the same Mutex (not checked).
// Cost: notify_one/notify_all and each wait take the CondVar's internal std::mutex once;
// re-locking costs what a Mutex lock costs. Never allocates.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <type_traits>
#include <utility>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/waker.hpp"
#include "troupe/runtime/sync/mutex.hpp"
#include "troupe/runtime/sync/wait_list.hpp"

namespace troupe {

namespace detail {
// The "predicate" of a plain wait: satisfied once the wait was notified and re-locked.
struct NoPredicate {};
}  // namespace detail

class CondVar;

// The poll operation behind CondVar::wait (see channels/awaitable.hpp), a small state machine:
// check pred → register and unlock → notified → re-lock → check pred again. Owned by the one
// task or thread that waits; not movable. Destroying it withdraws whatever is pending (see
// "Cancellation").
template <class Pred>
class CondVarWaitOp {
 public:
  CondVarWaitOp(CondVar& condvar, MutexGuard& guard,
                Pred pred) noexcept(std::is_nothrow_move_constructible_v<Pred>)
      : condvar_(&condvar),
        guard_(&guard),
        mutex_(guard.mutex()),
        pred_(std::move(pred)),
        relock_(detail::GuardAccess::semaphore(*guard.mutex()), 1) {}
  CondVarWaitOp(const CondVarWaitOp&) = delete;
  CondVarWaitOp& operator=(const CondVarWaitOp&) = delete;
  ~CondVarWaitOp() { withdraw(); }

  bool ready_now() { return step(nullptr); }
  bool poll(Waker& waker) { return step(&waker); }
  void cancel(Waker& /*waker*/) noexcept { withdraw(); }
  // Rethrows what pred threw (the mutex is held).
  void take() {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  enum class Phase : std::uint8_t { check, waiting, relocking, done, cancelled };

  // Advances as far as it can without waiting. `waker` null: only looks (ready_now).
  bool step(Waker* waker);
  // Called with the mutex held. An exception from pred ends the wait (take rethrows it).
  bool satisfied() noexcept;
  // The guard is left owning nothing: the mutex was released when the wait began.
  void withdraw() noexcept;

  CondVar* condvar_;
  MutexGuard* guard_;
  Mutex* mutex_;
  [[no_unique_address]] Pred pred_;
  SemaphoreAcquireOp relock_;  // the mutex's one permit
  detail::SyncWaiter waiter_;  // this wait's entry in the CondVar's queue
  std::exception_ptr error_;
  Phase phase_ = Phase::check;
  bool notified_ = false;
};

class CondVar {
 public:
  template <class Pred>
  using WaitOp = CondVarWaitOp<Pred>;

  CondVar() noexcept = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;
  ~CondVar() = default;

  // Wakes the oldest waiter, if any. Thread-safe.
  void notify_one() noexcept;
  // Wakes every current waiter. Thread-safe.
  void notify_all() noexcept;

  // Releases `guard`'s mutex, awaits a notification, re-locks (in a task). `guard` must own its
  // mutex (else Error(invalid_argument), at the call) and outlive the wait.
  [[nodiscard]] Awaitable<WaitOp<detail::NoPredicate>> wait(MutexGuard& guard) {
    check_guard(guard, "CondVar::wait");
    return Awaitable<WaitOp<detail::NoPredicate>>(std::in_place, *this, guard,
                                                  detail::NoPredicate{});
  }
  // Awaits pred() (called with the mutex held), waiting for notifications while it is false.
  template <class Pred>
  requires std::predicate < std::decay_t<Pred>
  & > [[nodiscard]] Awaitable<WaitOp<std::decay_t<Pred>>> wait(MutexGuard& guard, Pred&& pred) {
    check_guard(guard, "CondVar::wait");
    return Awaitable<WaitOp<std::decay_t<Pred>>>(std::in_place, *this, guard,
                                                 std::forward<Pred>(pred));
  }

  // The blocking forms, on the calling thread. As wait. Thread-safe.
  void blocking_wait(MutexGuard& guard);
  template <class Pred>
  requires std::predicate<Pred&>
  void blocking_wait(MutexGuard& guard, Pred pred) {
    check_guard(guard, "CondVar::blocking_wait");
    WaitOp<Pred> op(*this, guard, std::move(pred));
    block_on_op(op);
  }
  // Waits for a notification until `deadline` / for `timeout` (>= 0; negative throws
  // invalid_argument); re-locks in either case, as std::condition_variable. Returns whether it
  // was notified (false: timed out). Thread-safe.
  bool blocking_wait_until(MutexGuard& guard, std::chrono::steady_clock::time_point deadline);
  template <class Rep, class Period>
  bool blocking_wait_for(MutexGuard& guard, std::chrono::duration<Rep, Period> timeout) {
    return blocking_wait_until(guard, detail::sync_deadline(timeout, "CondVar::blocking_wait_for"));
  }
  // With a predicate: returns pred() as it stands when the wait ends (at once if it holds; false
  // only if the deadline passed with pred() still false). Thread-safe.
  template <class Pred>
  requires std::predicate<Pred&>
  bool blocking_wait_until(MutexGuard& guard, std::chrono::steady_clock::time_point deadline,
                           Pred pred) {
    check_guard(guard, "CondVar::blocking_wait_until");
    while (!pred()) {
      if (!blocking_wait_until(guard, deadline)) return pred();
    }
    return true;
  }
  template <class Rep, class Period, class Pred>
  requires std::predicate<Pred&>
  bool blocking_wait_for(MutexGuard& guard, std::chrono::duration<Rep, Period> timeout, Pred pred) {
    return blocking_wait_until(guard, detail::sync_deadline(timeout, "CondVar::blocking_wait_for"),
                               std::move(pred));
  }

  // How many waits wait for a notification right now: a snapshot, for tests and diagnostics.
  // Thread-safe.
  [[nodiscard]] std::size_t waiter_count() const;

 private:
  template <class>
  friend class CondVarWaitOp;
  // How a waiter was completed (its SyncWaiter::value).
  static constexpr std::int64_t kByOne = 1;
  static constexpr std::int64_t kByAll = 2;

  static void check_guard(const MutexGuard& guard, const char* what);
  // Registers the idle `waiter` (with `waker`, possibly null), then releases `guard`'s mutex,
  // which it returns.
  Mutex& begin_wait(detail::SyncWaiter& waiter, MutexGuard& guard, Waker* waker);
  // Whether `waiter` was notified (and so is no longer queued). Otherwise keeps `waker`
  // registered; a null waker only looks, without the lock.
  bool poll_notified(detail::SyncWaiter& waiter, Waker* waker);
  // Withdraws `waiter` (queued: unlinked; notified by notify_one: passed on); it becomes idle.
  void cancel_wait(detail::SyncWaiter& waiter) noexcept;
  void notify_one_locked(detail::WakeBatch& wakes) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  mutable detail::PlainMutex mutex_;
  detail::WaiterList waiters_ ABSL_GUARDED_BY(mutex_);
};

template <class Pred>
bool CondVarWaitOp<Pred>::step(Waker* waker) {
  for (;;) {
    switch (phase_) {
      case Phase::check:
        if (satisfied()) {
          phase_ = Phase::done;
          return true;
        }
        condvar_->begin_wait(waiter_, *guard_, waker);
        phase_ = Phase::waiting;
        [[fallthrough]];
      case Phase::waiting:
        if (!condvar_->poll_notified(waiter_, waker)) return false;
        phase_ = Phase::relocking;
        [[fallthrough]];
      case Phase::relocking:
        if (!(waker != nullptr ? relock_.poll(*waker) : relock_.ready_now())) return false;
        (void)relock_.take().forget();  // the guard owns the mutex again
        detail::GuardAccess::adopt(*guard_, *mutex_);
        waiter_.reset();  // the notification reached the waiter: nothing to pass on now
        notified_ = true;
        phase_ = Phase::check;
        break;
      case Phase::done:
        return true;
      case Phase::cancelled:
        return false;
    }
  }
}

template <class Pred>
bool CondVarWaitOp<Pred>::satisfied() noexcept {
  if constexpr (std::is_same_v<Pred, detail::NoPredicate>) {
    return notified_;
  } else {
    try {
      return static_cast<bool>(pred_());
    } catch (...) {
      error_ = std::current_exception();
      return true;
    }
  }
}

template <class Pred>
void CondVarWaitOp<Pred>::withdraw() noexcept {
  if (phase_ == Phase::waiting || phase_ == Phase::relocking) {
    relock_.withdraw();              // a lock handed to it is unlocked again
    condvar_->cancel_wait(waiter_);  // unlinked, or a notify_one passed on
    phase_ = Phase::cancelled;
  }
}

}  // namespace troupe
