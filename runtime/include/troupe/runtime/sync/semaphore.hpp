// troupe/runtime/sync/semaphore.hpp — Semaphore: a counting semaphore for tasks and threads,
// FIFO-fair, with RAII permits (tokio::sync::Semaphore).
//
//   troupe::Semaphore slots(4);
//   troupe::SemaphorePermit p = co_await slots.acquire();     // in a task: suspends, never blocks
//   troupe::SemaphorePermit q = slots.blocking_acquire(2);    // on a thread: parks
//   if (auto r = slots.try_acquire()) { ... }                 // never waits
//   // each permit goes back when its SemaphorePermit is destroyed (or release()d early)
//
// Fairness. Waiters are served strictly in arrival order: permits released while someone waits
// go to the oldest waiter first, and a large request at the head of the queue collects them
// one release at a time (they are reserved for it) instead of being overtaken by smaller
// requests behind it. try_acquire never overtakes a waiter either: it fails while anyone waits.
//
// Counts. Permit counts are in [0, kMaxPermits]. acquire(0) completes at once with an empty
// permit. A negative count, or one above kMaxPermits, throws Error(invalid_argument) naming it;
// so does a release() that would raise the available permits above kMaxPermits.
// release(n) adds n permits: it returns permits taken out with SemaphorePermit::forget(), or
// grows the semaphore.
//
// Cancellation. An acquire that is cancelled (its task cancelled, a timed blocking form timing
// out) leaves nothing behind: if it was queued it is unlinked, and the permits already reserved
// for it go to the next waiters (or back to the semaphore); if the permits were granted to it in
// the same instant but it never took them, they are released the same way. Under the
// semaphore's mutex the grant and the cancellation are ordered, so no permit is lost or doubled.
//
// Memory ordering. Everything a thread did before releasing permits (SemaphorePermit
// destruction or release(), Semaphore::release) happens-before the return of every acquire
// that obtains any of those permits (try_acquire is one acquire CAS of the state word,
// available() an acquire load of it).
//
// Thread-safety. Semaphore: every member function is thread-safe. SemaphorePermit: a move-only
// value owned by one thread at a time (it may move between threads). The Semaphore must
// outlive its permits and its pending acquires; the party that acquires last may destroy it
// at once, even while the release that gave it the permits is still returning (a release
// touches the semaphore no more once its permits can be taken).
// Cost. An uncontended acquire or release is one CAS on the semaphore's state word; waiting
// and releasing to waiters take the semaphore's mutex. Never allocates.
//
// What this does not guarantee. No priority: a thread and a task queue the same way. A
// blocking_acquire spins briefly before it queues (block_on_op), and a spin that succeeds
// happens in arrival order only relative to queued waiters, not to other spinners.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/detail/config.hpp"
#include "troupe/channels/waker.hpp"
#include "troupe/runtime/sync/wait_list.hpp"

namespace troupe {

class Semaphore;
class SemaphoreAcquireOp;
class Mutex;

// Permits acquired from a Semaphore; released when destroyed. A default-constructed or
// moved-from permit holds none. Owner thread only. Never allocates.
class [[nodiscard]] SemaphorePermit {
 public:
  SemaphorePermit() noexcept = default;
  SemaphorePermit(SemaphorePermit&& other) noexcept
      : semaphore_(std::exchange(other.semaphore_, nullptr)),
        count_(std::exchange(other.count_, 0)) {}
  // Releases what this permit held, then takes over `other`'s.
  SemaphorePermit& operator=(SemaphorePermit&& other) noexcept {
    if (this != &other) {
      release();
      semaphore_ = std::exchange(other.semaphore_, nullptr);
      count_ = std::exchange(other.count_, 0);
    }
    return *this;
  }
  ~SemaphorePermit() { release(); }

  // How many permits this holds.
  [[nodiscard]] std::int64_t count() const noexcept { return count_; }
  // The semaphore they came from (null if none).
  [[nodiscard]] Semaphore* semaphore() const noexcept { return semaphore_; }
  // Gives the permits back now; a no-op if it holds none. Wakes waiters they satisfy.
  void release() noexcept;
  // Drops the permits without giving them back (the semaphore shrinks until someone calls
  // Semaphore::release). Returns how many there were.
  std::int64_t forget() noexcept {
    semaphore_ = nullptr;
    return std::exchange(count_, 0);
  }

 private:
  friend class Semaphore;
  friend class SemaphoreAcquireOp;
  SemaphorePermit(Semaphore* semaphore, std::int64_t count) noexcept
      : semaphore_(semaphore), count_(count) {}
  Semaphore* semaphore_ = nullptr;
  std::int64_t count_ = 0;
};

// The poll operation behind Semaphore::acquire (see channels/awaitable.hpp). Owned by the one
// task or thread that waits; not movable. Destroying it withdraws a pending acquire and
// returns permits granted to it but never taken.
class SemaphoreAcquireOp {
 public:
  SemaphoreAcquireOp(Semaphore& semaphore, std::int64_t n) noexcept
      : semaphore_(&semaphore), count_(n) {}
  SemaphoreAcquireOp(const SemaphoreAcquireOp&) = delete;
  SemaphoreAcquireOp& operator=(const SemaphoreAcquireOp&) = delete;
  ~SemaphoreAcquireOp() { withdraw(); }

  inline bool ready_now() noexcept;
  inline bool poll(Waker& waker);
  void cancel(Waker& /*waker*/) noexcept { withdraw(); }
  inline SemaphorePermit take() noexcept;
  // cancel() without a waker: withdraws a pending acquire, gives back untaken permits.
  inline void withdraw() noexcept;

 private:
  friend class Semaphore;
  Semaphore* semaphore_;
  std::int64_t count_;
  detail::SyncWaiter waiter_;
};

class Semaphore {
 public:
  // The most permits a semaphore may hold or one acquire may ask for.
  static constexpr std::int64_t kMaxPermits = std::int64_t{1} << 60;

  using AcquireOp = SemaphoreAcquireOp;

  // `permits` in [0, kMaxPermits]; otherwise throws Error(invalid_argument) naming it.
  explicit Semaphore(std::int64_t permits);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  ~Semaphore() = default;

  // Awaits `n` permits (in a task). Throws Error(invalid_argument) for a bad n (at the call).
  // Thread-safe.
  [[nodiscard]] Awaitable<AcquireOp> acquire(std::int64_t n = 1);
  // Waits for `n` permits on the calling thread. Throws as acquire. Thread-safe.
  [[nodiscard]] SemaphorePermit blocking_acquire(std::int64_t n = 1);
  // As blocking_acquire, giving up after `timeout` (>= 0; negative throws invalid_argument):
  // nullopt then, and nothing stays reserved. Thread-safe.
  template <class Rep, class Period>
  [[nodiscard]] std::optional<SemaphorePermit> blocking_acquire_for(
      std::int64_t n, std::chrono::duration<Rep, Period> timeout) {
    return blocking_acquire_until(
        n, detail::sync_deadline(timeout, "Semaphore::blocking_acquire_for"));
  }
  [[nodiscard]] std::optional<SemaphorePermit> blocking_acquire_until(
      std::int64_t n, std::chrono::steady_clock::time_point deadline);
  // `n` permits if they are available now and nobody waits; never waits. Throws as acquire.
  // Thread-safe.
  [[nodiscard]] std::optional<SemaphorePermit> try_acquire(std::int64_t n = 1);

  // Adds `n` permits, serving waiters oldest first. Throws Error(invalid_argument) for a
  // negative n or if the available permits would exceed kMaxPermits. Thread-safe.
  void release(std::int64_t n = 1);

  // Permits available right now (0 while anyone waits): a snapshot. Thread-safe.
  [[nodiscard]] std::int64_t available() const noexcept {
    // acquire: as try_acquire, so a caller that sees permits also sees who released them.
    const std::uint64_t state = state_.load(std::memory_order_acquire);
    return (state & kQueued) != 0 ? 0 : static_cast<std::int64_t>(state >> kShift);
  }
  // How many acquires are queued right now: a snapshot, for tests and diagnostics. Thread-safe.
  [[nodiscard]] std::size_t waiter_count() const;

 private:
  friend class SemaphorePermit;
  friend class SemaphoreAcquireOp;
  friend class Mutex;

  // state_: available permits << kShift | kQueued. kQueued is set exactly while the queue is
  // non-empty, and then no permit is available (each release goes to the queue's head), so the
  // lock-free paths below fail or go to the mutex as soon as anyone waits: no barging.
  static constexpr std::uint64_t kQueued = 1;
  static constexpr int kShift = 1;

  struct Unchecked {};
  Semaphore(std::int64_t permits, Unchecked) noexcept
      : state_(static_cast<std::uint64_t>(permits) << kShift) {}

  static void check_count(std::int64_t n, const char* what);
  // Takes `n` permits if available and nobody waits (the lock-free fast path).
  bool try_take(std::int64_t n) noexcept;
  // Adds `n` permits, serving waiters first. With `checked`, refuses (returns false, changes
  // nothing) if the available permits would exceed kMaxPermits.
  bool add_permits(std::int64_t n, bool checked) noexcept;
  // Under mutex_ with kQueued set: gives `n` permits to the waiters, oldest first, completing
  // those that have all they asked for; what is left over goes to state_ once the queue is
  // empty.
  void give_locked(std::uint64_t n, detail::WakeBatch& wakes) noexcept
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  bool poll_acquire(SemaphoreAcquireOp& op, Waker& waker);
  void cancel_acquire(SemaphoreAcquireOp& op) noexcept;

  alignas(detail::kCacheLine) std::atomic<std::uint64_t> state_;
  alignas(detail::kCacheLine) mutable detail::PlainMutex mutex_;
  // Each entry's value: the permits it still misses.
  detail::WaiterList waiters_ ABSL_GUARDED_BY(mutex_);
};

inline bool SemaphoreAcquireOp::ready_now() noexcept {
  switch (waiter_.state()) {
    case detail::SyncWaiter::State::done:
      return true;
    case detail::SyncWaiter::State::queued:
      return false;  // the permits come through the queue, never around it
    case detail::SyncWaiter::State::idle:
      break;
  }
  if (!semaphore_->try_take(count_)) return false;
  waiter_.set_done_by_owner();
  return true;
}

inline bool SemaphoreAcquireOp::poll(Waker& waker) {
  return ready_now() || semaphore_->poll_acquire(*this, waker);
}

inline SemaphorePermit SemaphoreAcquireOp::take() noexcept {
  waiter_.reset();
  return SemaphorePermit(semaphore_, count_);
}

inline void SemaphoreAcquireOp::withdraw() noexcept {
  if (!waiter_.idle()) semaphore_->cancel_acquire(*this);
}

inline void SemaphorePermit::release() noexcept {
  if (semaphore_ == nullptr) return;
  Semaphore* semaphore = std::exchange(semaphore_, nullptr);
  const std::int64_t count = std::exchange(count_, 0);
  if (count > 0) (void)semaphore->add_permits(count, /*checked=*/false);
}

}  // namespace troupe
