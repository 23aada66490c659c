// Semaphore: one atomic state word for the lock-free paths, a mutex-guarded FIFO for waiters.
//
// state_ = available permits << kShift | kQueued. The invariant that makes the fast paths
// safe: kQueued is set exactly while the queue is non-empty, and then the available count is
// zero — every permit released while someone waits is handed to the queue's head (reserved for
// it in its entry's `value`, the permits it still misses) instead of becoming available. So:
//  * try_take (a lock-free CAS) fails whenever anyone waits: no barging past the queue;
//  * a lock-free add (CAS) happens only while nobody waits; once kQueued is set, releases go
//    through the mutex;
//  * while kQueued is set, no lock-free path can change state_, so code under the mutex may
//    store it plainly; while it is clear, code under the mutex must CAS (lock-free paths race).
// This is tokio's batch_semaphore, with the "no waiters" case made lock-free on both sides.
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/error.hpp"
#include "troupe/runtime/sync/semaphore.hpp"

namespace troupe {

Semaphore::Semaphore(std::int64_t permits) : state_(0) {
  check_count(permits, "Semaphore");
  state_.store(static_cast<std::uint64_t>(permits) << kShift, std::memory_order_relaxed);
}

void Semaphore::check_count(std::int64_t n, const char* what) {
  if (n < 0) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) + ": permit count " + std::to_string(n) + " is negative");
  }
  if (n > kMaxPermits) {
    throw Error(ErrorCode::invalid_argument, std::string(what) + ": permit count " +
                                                 std::to_string(n) + " exceeds the maximum of " +
                                                 std::to_string(kMaxPermits));
  }
}

bool Semaphore::try_take(std::int64_t n) noexcept {
  if (n == 0) return true;
  const std::uint64_t need = static_cast<std::uint64_t>(n) << kShift;
  std::uint64_t state = state_.load(std::memory_order_relaxed);
  while ((state & kQueued) == 0 && state >= need) {
    // acquire: pairs with the release of whoever gave these permits back, so everything
    // before that release happens-before this acquire returns.
    if (state_.compare_exchange_weak(state, state - need, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

bool Semaphore::add_permits(std::int64_t n, bool checked) noexcept {
  if (n == 0) return true;
  const std::uint64_t add = static_cast<std::uint64_t>(n) << kShift;
  // Adds to the available count while nobody waits. false: somebody waits (go to the queue).
  bool refused = false;
  auto add_lock_free = [&]() noexcept {
    std::uint64_t state = state_.load(std::memory_order_relaxed);
    while ((state & kQueued) == 0) {
      if (checked && static_cast<std::int64_t>(state >> kShift) > kMaxPermits - n) {
        refused = true;
        return true;
      }
      // release: publishes this thread's writes to the acquire CAS that takes the permits.
      if (state_.compare_exchange_weak(state, state + add, std::memory_order_release,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  };
  for (;;) {
    if (add_lock_free()) return !refused;  // no touch after its CAS
    detail::WakeBatch wakes;  // completed after the lock below is released
    detail::MutexLock lock(mutex_);
    if (!waiters_.empty()) {
      give_locked(static_cast<std::uint64_t>(n), wakes);  // nobody waits with permits
      return true;                                        // available: no overflow here
    }
    // The queue emptied meanwhile: add lock-free (above), after the unlock. Under the lock, a
    // try_acquire that took these permits could return and destroy the semaphore before it.
  }
}

void Semaphore::give_locked(std::uint64_t n, detail::WakeBatch& wakes) noexcept {
  while (n > 0 && !waiters_.empty()) {
    detail::SyncWaiter& head = *waiters_.front();
    const auto missing = static_cast<std::uint64_t>(head.value);
    if (n < missing) {
      head.value -= static_cast<std::int64_t>(n);  // reserved for the head; it keeps waiting
      return;
    }
    n -= missing;
    head.value = 0;
    waiters_.complete(head, wakes);
  }
  if (waiters_.empty()) {
    // release: the leftover becomes available to try_take's acquire CAS. A plain store: with
    // kQueued set, state_ was frozen at exactly kQueued.
    state_.store(n << kShift, std::memory_order_release);
  }
}

bool Semaphore::poll_acquire(AcquireOp& op, Waker& waker) {
  detail::SyncWaiter& waiter = op.waiter_;
  detail::MutexLock lock(mutex_);
  if (const std::optional<bool> known = detail::repoll(waiter, &waker)) return *known;
  const std::uint64_t need = static_cast<std::uint64_t>(op.count_) << kShift;
  std::uint64_t state = state_.load(std::memory_order_relaxed);
  for (;;) {
    if ((state & kQueued) != 0) {  // others wait (state_ is frozen): queue behind them
      waiter.value = op.count_;
      waiters_.push_back(waiter, &waker);
      return false;
    }
    if (state >= need) {
      // acquire: as try_take.
      if (state_.compare_exchange_weak(state, state - need, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        waiter.set_done_by_owner();
        return true;
      }
      continue;
    }
    // Reserve what is available, mark the queue non-empty (which freezes state_), and queue.
    // acquire: the permits reserved here were released by others, as in try_take.
    if (state_.compare_exchange_weak(state, kQueued, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      waiter.value = op.count_ - static_cast<std::int64_t>(state >> kShift);
      waiters_.push_back(waiter, &waker);
      return false;
    }
  }
}

void Semaphore::cancel_acquire(AcquireOp& op) noexcept {
  detail::SyncWaiter& waiter = op.waiter_;
  if (!waiter.done()) {
    detail::WakeBatch wakes;  // woken after the lock below is released
    detail::MutexLock lock(mutex_);
    if (waiter.queued()) {
      // Withdrawn before being served: what was reserved for it goes to the next waiters (or
      // becomes available, which also clears kQueued if the queue is now empty).
      const std::int64_t reserved = op.count_ - waiter.value;
      waiters_.unlink(waiter);
      give_locked(static_cast<std::uint64_t>(reserved), wakes);
      return;
    }
    // Served while we took the lock: falls through to giving the grant back.
  }
  // Granted but never taken (take() was not called): the permits go back, to the next waiter.
  waiter.reset();
  (void)add_permits(op.count_, /*checked=*/false);
}

Awaitable<Semaphore::AcquireOp> Semaphore::acquire(std::int64_t n) {
  check_count(n, "Semaphore::acquire");
  return Awaitable<AcquireOp>(std::in_place, *this, n);
}

SemaphorePermit Semaphore::blocking_acquire(std::int64_t n) {
  check_count(n, "Semaphore::blocking_acquire");
  AcquireOp op(*this, n);
  return block_on_op(op);
}

std::optional<SemaphorePermit> Semaphore::blocking_acquire_until(
    std::int64_t n, std::chrono::steady_clock::time_point deadline) {
  check_count(n, "Semaphore::blocking_acquire_until");
  AcquireOp op(*this, n);
  if (!block_on_op_until(op, deadline)) return std::nullopt;
  return op.take();
}

std::optional<SemaphorePermit> Semaphore::try_acquire(std::int64_t n) {
  check_count(n, "Semaphore::try_acquire");
  if (!try_take(n)) return std::nullopt;
  return SemaphorePermit(this, n);
}

void Semaphore::release(std::int64_t n) {
  if (n < 0) {
    throw Error(ErrorCode::invalid_argument,
                "Semaphore::release: permit count " + std::to_string(n) + " is negative");
  }
  if (n > kMaxPermits || !add_permits(n, /*checked=*/true)) {
    throw Error(ErrorCode::invalid_argument, "Semaphore::release: " + std::to_string(n) +
                                                 " more permits would exceed the " + "maximum of " +
                                                 std::to_string(kMaxPermits) + " (" +
                                                 std::to_string(available()) + " available)");
  }
}

std::size_t Semaphore::waiter_count() const {
  detail::MutexLock lock(mutex_);
  return waiters_.size();
}

}  // namespace troupe
