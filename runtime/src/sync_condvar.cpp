// CondVar: a FIFO of waits under the CondVar's own mutex. A wait is queued before the Mutex is
// released (begin_wait), which is what makes a notify by the next holder of the Mutex find it.
#include <mutex>
#include <string>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/error.hpp"
#include "troupe/runtime/sync/condvar.hpp"

namespace troupe {

void CondVar::check_guard(const MutexGuard& guard, const char* what) {
  if (!guard.owns_lock()) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) +
                    ": the guard owns no lock (default-constructed, moved from or unlocked)");
  }
}

Mutex& CondVar::begin_wait(detail::SyncWaiter& waiter, MutexGuard& guard, Waker* waker) {
  {
    detail::MutexLock lock(mutex_);
    waiters_.push_back(waiter, waker);
  }
  Mutex* mutex = detail::GuardAccess::release(guard);
  detail::GuardAccess::unlock(*mutex);  // after queueing: see the file comment
  return *mutex;
}

bool CondVar::poll_notified(detail::SyncWaiter& waiter, Waker* waker) {
  if (waker == nullptr || waiter.done()) return waiter.done();
  detail::MutexLock lock(mutex_);
  if (waiter.done()) return true;
  detail::WaiterList::rearm(waiter, waker);
  return false;
}

void CondVar::cancel_wait(detail::SyncWaiter& waiter) noexcept {
  if (waiter.idle()) return;
  detail::WakeBatch wakes;  // woken after the lock below is released
  detail::MutexLock lock(mutex_);
  if (waiter.queued()) {
    waiters_.unlink(waiter);
    return;
  }
  // Notified, but the wait never returned: a notify_one goes to the next waiter instead.
  if (waiter.value == kByOne) notify_one_locked(wakes);
  waiter.reset();
}

void CondVar::notify_one_locked(detail::WakeBatch& wakes) noexcept {
  if (waiters_.empty()) return;
  detail::SyncWaiter& oldest = *waiters_.front();
  oldest.value = kByOne;
  waiters_.complete(oldest, wakes);
}

void CondVar::notify_one() noexcept {
  detail::WakeBatch wakes;  // woken after the lock below is released
  detail::MutexLock lock(mutex_);
  notify_one_locked(wakes);
}

void CondVar::notify_all() noexcept {
  detail::WakeBatch wakes;  // woken after the lock below is released
  detail::MutexLock lock(mutex_);
  waiters_.complete_all(wakes, [](detail::SyncWaiter& waiter) noexcept { waiter.value = kByAll; });
}

void CondVar::blocking_wait(MutexGuard& guard) {
  check_guard(guard, "CondVar::blocking_wait");
  WaitOp<detail::NoPredicate> op(*this, guard, detail::NoPredicate{});
  block_on_op(op);
}

bool CondVar::blocking_wait_until(MutexGuard& guard,
                                  std::chrono::steady_clock::time_point deadline) {
  check_guard(guard, "CondVar::blocking_wait_until");
  // The notification part only, with a deadline; re-locking afterwards is not timed.
  struct NotifiedStep {
    CondVar* condvar;
    detail::SyncWaiter* waiter;
    bool ready_now() noexcept { return waiter->done(); }
    bool poll(Waker& waker) { return condvar->poll_notified(*waiter, &waker); }
    void cancel(Waker& /*waker*/) noexcept { condvar->cancel_wait(*waiter); }
    void take() noexcept {}
  };
  detail::SyncWaiter waiter;
  Mutex& mutex = begin_wait(waiter, guard, nullptr);
  NotifiedStep step{this, &waiter};
  const bool notified = block_on_op_until(step, deadline);
  waiter.reset();  // done (notified) or already idle (withdrawn)
  guard = mutex.blocking_lock();
  return notified;
}

std::size_t CondVar::waiter_count() const {
  detail::MutexLock lock(mutex_);
  return waiters_.size();
}

}  // namespace troupe
