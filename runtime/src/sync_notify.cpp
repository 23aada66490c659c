// Notify: tokio's Notify. One atomic word holds the stored permit, whether anyone waits, and
// the number of notify_all calls so far (the generation); the queue is under mutex_.
//
// state_ = generation << kShift | mode, mode one of kEmpty, kWaiting, kNotified. kWaiting is
// set exactly while the queue is non-empty, and only under mutex_; while it is set no
// lock-free path changes state_ (notify_one goes to the mutex, try_consume finds no permit),
// so code under mutex_ may store it plainly. Otherwise lock-free paths race and it must CAS.
//
// A NotifiedOp remembers the generation when it was created; a later notify_all completes it
// even if it was never queued, which is what lets a caller create the wait, check its
// condition, and only then await it.
#include <mutex>
#include <optional>

#include "troupe/channels/awaitable.hpp"
#include "troupe/runtime/sync/notify.hpp"

namespace troupe {

std::int64_t Notify::try_consume(std::uint64_t generation) noexcept {
  // acquire: pairs with notify_all's release of a new generation.
  std::uint64_t state = state_.load(std::memory_order_acquire);
  for (;;) {
    if ((state >> kShift) != generation) return kByAll;
    if ((state & kMode) != kNotified) return 0;
    // acquire: pairs with the release CAS of the notify_one that stored the permit.
    if (state_.compare_exchange_weak(state, (state & ~kMode) | kEmpty, std::memory_order_acquire,
                                     std::memory_order_acquire)) {
      return kByOne;
    }
  }
}

void Notify::notify_one() noexcept {
  for (;;) {
    std::uint64_t state = state_.load(std::memory_order_relaxed);
    while ((state & kMode) != kWaiting) {
      // release: publishes this thread's writes to the wait that consumes the permit. Also
      // when the permit is already stored: this read-modify-write continues the release
      // sequence.
      if (state_.compare_exchange_weak(state, (state & ~kMode) | kNotified,
                                       std::memory_order_release, std::memory_order_relaxed)) {
        return;  // no touch after this CAS: a wait may consume the permit and destroy us
      }
    }
    detail::WakeBatch wakes;  // completed after the lock below is released
    detail::MutexLock lock(mutex_);
    if (wake_oldest_locked(wakes)) return;
    // The queue emptied meanwhile: store the permit above, after the unlock, not under the
    // lock (a wait that consumed it could return and destroy the Notify before that unlock).
  }
}

bool Notify::wake_oldest_locked(detail::WakeBatch& wakes) noexcept {
  const std::uint64_t state = state_.load(std::memory_order_relaxed);
  if ((state & kMode) != kWaiting) return false;
  detail::SyncWaiter& oldest = *waiters_.front();
  oldest.value = kByOne;
  waiters_.complete(oldest, wakes);  // publishes this thread's writes to that waiter
  if (waiters_.empty()) {
    // relaxed: publishes nothing (a plain store: state_ is frozen while kWaiting is set).
    state_.store((state & ~kMode) | kEmpty, std::memory_order_relaxed);
  }
  return true;
}

void Notify::notify_one_locked(detail::WakeBatch& wakes) noexcept {
  if (wake_oldest_locked(wakes)) return;
  // Nobody waits: store the permit. release: as in notify_one.
  std::uint64_t state = state_.load(std::memory_order_relaxed);
  while (!state_.compare_exchange_weak(state, (state & ~kMode) | kNotified,
                                       std::memory_order_release, std::memory_order_relaxed)) {
  }
}

void Notify::settle() const noexcept {
  detail::MutexLock lock(mutex_);
}

void Notify::notify_all() noexcept {
  detail::WakeBatch wakes;  // woken after the lock below is released
  detail::MutexLock lock(mutex_);
  std::uint64_t state = state_.load(std::memory_order_relaxed);
  const std::uint64_t next = ((state >> kShift) + 1) << kShift;
  if ((state & kMode) == kWaiting) {
    waiters_.complete_all(wakes,
                          [](detail::SyncWaiter& waiter) noexcept { waiter.value = kByAll; });
    // release: publishes this thread's writes to not-yet-queued waits that see the new
    // generation (try_consume's acquire). A plain store: state_ is frozen while kWaiting.
    state_.store(next | kEmpty, std::memory_order_release);
    return;
  }
  // Nobody is queued; a stored permit stays stored. release: as above.
  while (!state_.compare_exchange_weak(state, (((state >> kShift) + 1) << kShift) | (state & kMode),
                                       std::memory_order_release, std::memory_order_relaxed)) {
  }
}

bool Notify::poll_notified(detail::SyncWaiter& waiter, std::uint64_t generation, Waker& waker) {
  detail::MutexLock lock(mutex_);
  if (const std::optional<bool> known = detail::repoll(waiter, &waker)) return *known;
  if (const std::int64_t how = try_consume(generation); how != 0) {
    waiter.value = how;
    waiter.set_done_by_owner();
    return true;
  }
  std::uint64_t state = state_.load(std::memory_order_relaxed);
  // Mark the queue non-empty; a notify_one may store the permit meanwhile (then consume it).
  while ((state & kMode) == kEmpty &&
         !state_.compare_exchange_weak(state, (state & ~kMode) | kWaiting,
                                       std::memory_order_relaxed, std::memory_order_relaxed)) {
  }
  if ((state & kMode) == kNotified) {
    if (const std::int64_t how = try_consume(generation); how != 0) {
      waiter.value = how;
      waiter.set_done_by_owner();
      return true;
    }
  }
  waiters_.push_back(waiter, &waker);
  return false;
}

void Notify::cancel_notified(detail::SyncWaiter& waiter) noexcept {
  detail::WakeBatch wakes;  // woken after the lock below is released
  detail::MutexLock lock(mutex_);
  if (waiter.queued()) {
    waiters_.unlink(waiter);
    if (waiters_.empty()) {
      // relaxed, plain store: as in notify_one_locked.
      const std::uint64_t state = state_.load(std::memory_order_relaxed);
      state_.store((state & ~kMode) | kEmpty, std::memory_order_relaxed);
    }
    return;
  }
  // Done but never returned: a notify_one (or a consumed permit) must not be lost with it.
  if (waiter.value == kByOne) notify_one_locked(wakes);
  waiter.reset();
}

void Notify::blocking_wait() {
  NotifiedOp op(*this);
  block_on_op(op);
}

bool Notify::blocking_wait_until(std::chrono::steady_clock::time_point deadline) {
  NotifiedOp op(*this);
  if (!block_on_op_until(op, deadline)) return false;
  op.take();  // consumed: the destructor must not pass it on
  return true;
}

std::size_t Notify::waiter_count() const {
  detail::MutexLock lock(mutex_);
  return waiters_.size();
}

}  // namespace troupe
