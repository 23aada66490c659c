// troupe/runtime/sync/mutex.hpp — Mutex: an asynchronous mutual-exclusion lock with FIFO
// handoff, for tasks and threads alike (tokio::sync::Mutex, without the data).
//
//   troupe::Mutex mutex;
//   {
//     troupe::MutexGuard guard = co_await mutex.lock();   // in a task: suspends, never blocks
//     ...                                                  // may co_await while holding it
//   }                                                      // unlocked here
//   troupe::MutexGuard g = mutex.blocking_lock();          // on a thread: parks
//   if (auto g = mutex.try_lock()) { ... }                 // never waits
//
// Why not std::mutex in a task: a task that blocks a worker thread on a std::mutex stalls every
// other task of that worker, and one that suspends while holding it may resume on another
// thread, which must not unlock it. This mutex suspends the task instead, and its guard may be
// dropped on any thread.
//
// Fairness. Unlocking while someone waits hands the lock directly to the oldest waiter: the
// mutex never becomes free in between, so neither a try_lock nor a newly arriving lock can
// overtake a queued waiter (no barging, no starvation). The price: a thread that unlocks and
// at once wants the lock again queues behind the others (a handoff per contended unlock).
//
// Cancellation. A lock that is cancelled while queued (its task cancelled, or a timed blocking
// form timing out) is unlinked. If the lock was handed to it in the same instant — the holder
// unlocked and chose this waiter just before it was cancelled — the cancellation unlocks again,
// which hands the lock to the next waiter or frees it: the lock is never lost. Both happen
// under the mutex's internal lock, so exactly one of them sees the waiter queued.
//
// Memory ordering. Everything a holder did before unlocking (destroying or unlock()ing its
// MutexGuard) happens-before the return of the next lock (lock, blocking_lock, try_lock) that
// obtains the mutex.
//
// Thread-safety. Mutex: thread-safe. MutexGuard: a move-only value owned by one thread or task
// at a time; it may be moved to, and unlocked on, another thread. The Mutex must outlive its
// guards and its pending locks. Not recursive: locking a mutex that the same task or thread
// holds waits forever.
// Cost. It is Semaphore(1): an uncontended lock is one CAS, an uncontended unlock one CAS;
// contention takes the internal std::mutex. Never allocates.
//
// What this does not guarantee: order among lockers that have not queued yet. blocking_lock
// spins briefly (block_on_op) before it queues, and a spinner may take a free mutex before
// another spinner that started earlier; once queued, order is strict FIFO.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <utility>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/waker.hpp"
#include "troupe/runtime/sync/semaphore.hpp"

namespace troupe {

class Mutex;
class MutexLockOp;
class CondVar;

namespace detail {
struct GuardAccess;
}

// Ownership of a locked Mutex; unlocks it when destroyed. A default-constructed or moved-from
// guard owns nothing. Owner thread only (it may move between threads). Never allocates.
class [[nodiscard]] MutexGuard {
 public:
  MutexGuard() noexcept = default;
  MutexGuard(MutexGuard&& other) noexcept : mutex_(std::exchange(other.mutex_, nullptr)) {}
  // Unlocks what this guard held, then takes over `other`'s lock.
  MutexGuard& operator=(MutexGuard&& other) noexcept {
    if (this != &other) {
      unlock();
      mutex_ = std::exchange(other.mutex_, nullptr);
    }
    return *this;
  }
  ~MutexGuard() { unlock(); }

  [[nodiscard]] bool owns_lock() const noexcept { return mutex_ != nullptr; }
  explicit operator bool() const noexcept { return owns_lock(); }
  // The mutex this guard holds (null if none).
  [[nodiscard]] Mutex* mutex() const noexcept { return mutex_; }
  // Unlocks now (handing the mutex to the oldest waiter, if any); a no-op if it owns nothing.
  inline void unlock() noexcept;

 private:
  friend class Mutex;
  friend class MutexLockOp;
  friend struct detail::GuardAccess;
  explicit MutexGuard(Mutex& mutex) noexcept : mutex_(&mutex) {}
  Mutex* mutex_ = nullptr;
};

// The poll operation behind Mutex::lock (see channels/awaitable.hpp): one permit of the
// mutex's semaphore. Owned by the one task or thread that waits; not movable. Destroying it
// withdraws a pending lock and unlocks a lock handed to it but never taken.
class MutexLockOp {
 public:
  inline explicit MutexLockOp(Mutex& mutex) noexcept;

  bool ready_now() noexcept { return acquire_.ready_now(); }
  bool poll(Waker& waker) { return acquire_.poll(waker); }
  void cancel(Waker& waker) noexcept { acquire_.cancel(waker); }
  MutexGuard take() noexcept {
    (void)acquire_.take().forget();  // the guard owns the permit from here on
    return MutexGuard(*mutex_);
  }

 private:
  Mutex* mutex_;
  SemaphoreAcquireOp acquire_;
};

class Mutex {
 public:
  using LockOp = MutexLockOp;

  Mutex() noexcept : semaphore_(1, Semaphore::Unchecked{}) {}
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  ~Mutex() = default;

  // Awaits the lock (in a task). Thread-safe.
  [[nodiscard]] Awaitable<LockOp> lock() noexcept {
    return Awaitable<LockOp>(std::in_place, *this);
  }
  // Waits for the lock on the calling thread (spins briefly, then parks). Thread-safe.
  [[nodiscard]] MutexGuard blocking_lock();
  // As blocking_lock, giving up after `timeout` (>= 0; negative throws invalid_argument):
  // nullopt then. Thread-safe.
  template <class Rep, class Period>
  [[nodiscard]] std::optional<MutexGuard> blocking_lock_for(
      std::chrono::duration<Rep, Period> timeout) {
    return blocking_lock_until(detail::sync_deadline(timeout, "Mutex::blocking_lock_for"));
  }
  [[nodiscard]] std::optional<MutexGuard> blocking_lock_until(
      std::chrono::steady_clock::time_point deadline);
  // The lock if it is free and nobody waits; never waits. Thread-safe.
  [[nodiscard]] std::optional<MutexGuard> try_lock() noexcept {
    if (!semaphore_.try_take(1)) return std::nullopt;
    return MutexGuard(*this);
  }

  // Whether someone holds the lock right now: a snapshot. Thread-safe.
  [[nodiscard]] bool is_locked() const noexcept { return semaphore_.available() == 0; }
  // How many locks are queued right now: a snapshot, for tests and diagnostics. Thread-safe.
  [[nodiscard]] std::size_t waiter_count() const { return semaphore_.waiter_count(); }

 private:
  friend class MutexGuard;
  friend class MutexLockOp;
  friend struct detail::GuardAccess;
  void unlock() noexcept { (void)semaphore_.add_permits(1, /*checked=*/false); }

  Semaphore semaphore_;
};

inline MutexLockOp::MutexLockOp(Mutex& mutex) noexcept
    : mutex_(&mutex), acquire_(mutex.semaphore_, 1) {}

inline void MutexGuard::unlock() noexcept {
  if (Mutex* mutex = std::exchange(mutex_, nullptr)) mutex->unlock();
}

namespace detail {
// Lets CondVar release a guard's mutex for the duration of a wait and give it back after.
// troupe::Mutex spelled out: namespace detail also has PlainMutex, the std::mutex wrapper of
// troupe/channels/detail/mutex.hpp.
struct GuardAccess {
  static troupe::Mutex* release(MutexGuard& guard) noexcept {
    return std::exchange(guard.mutex_, nullptr);
  }
  static void adopt(MutexGuard& guard, troupe::Mutex& mutex) noexcept { guard.mutex_ = &mutex; }
  static Semaphore& semaphore(troupe::Mutex& mutex) noexcept { return mutex.semaphore_; }
  static void unlock(troupe::Mutex& mutex) noexcept { mutex.unlock(); }
};
}  // namespace detail

}  // namespace troupe
