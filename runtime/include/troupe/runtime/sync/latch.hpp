// troupe/runtime/sync/latch.hpp — Latch: a single-use countdown that tasks and threads wait on
// (std::latch, awaitable).
//
//   troupe::Latch ready(3);
//   ready.count_down();                 // from each of three workers
//   co_await ready.wait();              // in a task: suspends until the count is zero
//   ready.blocking_wait();              // on a thread
//   co_await ready.arrive_and_wait();   // count_down(1), then wait
//
// The count starts at `count` (>= 0) and only goes down; once it reaches zero every waiter is
// released and every later wait completes at once. It cannot be reset (use a Barrier for
// phases). Counting below zero is misuse: count_down(n) with n greater than the remaining count
// (or negative) throws Error(invalid_argument) naming both and leaves the count unchanged.
//
// Cancellation. A wait that is cancelled is unlinked; nothing else changes (a wait consumes
// nothing). arrive_and_wait counts down when it is *called*; a cancellation of its wait does not
// undo the arrival.
//
// Memory ordering. Everything a thread did before its count_down happens-before the return of
// every wait (wait, blocking_wait, a true try_wait) that sees the count at zero.
//
// Lifetime: the Latch must outlive its pending waits. A waiter may destroy it as soon as its
// wait (or a true try_wait) has returned, even while the count_down that opened it is still
// returning: that count_down no longer touches the latch once a waiter can see it open (see
// sync_latch.cpp).
//
// Thread-safety: every member function is thread-safe. Cost: count_down is one CAS; the one that
// reaches zero takes the internal mutex to release the waiters, and only if a wait queued; a wait
// on a latch not yet open takes it to queue. Never allocates. Not padded to cache lines: a latch is
// counted down and waited on a few times in its life, and it is embedded by the thousand (every
// actor has one for its exit).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/waker.hpp"
#include "troupe/runtime/sync/wait_list.hpp"

namespace troupe {

class Latch;

// The poll operation behind Latch::wait (see channels/awaitable.hpp). Owned by the one task or
// thread that waits; not movable. Destroying it withdraws a pending wait; once it has
// completed it no longer touches the latch (which may be gone by then).
class LatchWaitOp {
 public:
  explicit LatchWaitOp(Latch& latch) noexcept : latch_(&latch) {}
  LatchWaitOp(const LatchWaitOp&) = delete;
  LatchWaitOp& operator=(const LatchWaitOp&) = delete;
  ~LatchWaitOp() { withdraw(); }

  inline bool ready_now() noexcept;
  inline bool poll(Waker& waker);
  void cancel(Waker& /*waker*/) noexcept { withdraw(); }
  void take() noexcept {}

 private:
  inline void withdraw() noexcept;
  bool finished(bool open) noexcept { return finished_ = open; }
  Latch* latch_;
  detail::SyncWaiter waiter_;
  bool finished_ = false;  // ready_now or poll returned true: the latch was seen open
};

class Latch {
 public:
  using WaitOp = LatchWaitOp;

  // 0 <= `count` <= kMaxCount; outside, throws Error(invalid_argument) naming it.
  explicit Latch(std::int64_t count);
  static constexpr std::int64_t kMaxCount = (std::int64_t{1} << 62) - 1;
  Latch(const Latch&) = delete;
  Latch& operator=(const Latch&) = delete;
  ~Latch() = default;

  // Lowers the count by `n` (>= 0, at most the remaining count; else Error(invalid_argument)).
  // Releases the waiters when it reaches zero. Thread-safe.
  void count_down(std::int64_t n = 1);

  // True once the count is zero (and the count_down that got it there is done with the
  // latch); never waits. Thread-safe.
  [[nodiscard]] bool try_wait() const noexcept {
    // acquire: pairs with count_down's release, see "Memory ordering".
    return state_.load(std::memory_order_acquire) == 0;
  }
  // Awaits a zero count (in a task). Thread-safe.
  [[nodiscard]] Awaitable<WaitOp> wait() noexcept {
    return Awaitable<WaitOp>(std::in_place, *this);
  }
  // Waits for a zero count on the calling thread. Thread-safe.
  void blocking_wait();
  // As blocking_wait, giving up after `timeout` (>= 0; negative throws invalid_argument).
  // Returns whether the count reached zero. Thread-safe.
  template <class Rep, class Period>
  bool blocking_wait_for(std::chrono::duration<Rep, Period> timeout) {
    return blocking_wait_until(detail::sync_deadline(timeout, "Latch::blocking_wait_for"));
  }
  bool blocking_wait_until(std::chrono::steady_clock::time_point deadline);

  // count_down(n) now (throwing as count_down), then awaits a zero count. Thread-safe.
  [[nodiscard]] Awaitable<WaitOp> arrive_and_wait(std::int64_t n = 1) {
    count_down(n);
    return wait();
  }
  // count_down(n), then blocking_wait(). Thread-safe.
  void blocking_arrive_and_wait(std::int64_t n = 1) {
    count_down(n);
    blocking_wait();
  }

  // The remaining count: a snapshot. Thread-safe.
  [[nodiscard]] std::int64_t count() const noexcept {
    return static_cast<std::int64_t>(state_.load(std::memory_order_relaxed) & kCountMask);
  }
  // How many waits are queued right now: a snapshot, for tests and diagnostics. Thread-safe.
  [[nodiscard]] std::size_t waiter_count() const;

 private:
  friend class LatchWaitOp;
  bool poll_wait(detail::SyncWaiter& waiter, Waker& waker);
  void cancel_wait(detail::SyncWaiter& waiter) noexcept;

  // The state word (sync_latch.cpp): the count in the low 62 bits, kQueued (a wait queued: the
  // count_down that reaches zero must release the queue) and kReleasing (that count_down is
  // still at work: the latch is not open yet). Open is exactly 0.
  static constexpr std::uint64_t kCountMask = (std::uint64_t{1} << 62) - 1;
  static constexpr std::uint64_t kQueued = std::uint64_t{1} << 62;
  static constexpr std::uint64_t kReleasing = std::uint64_t{1} << 63;
  // Waits until a release in progress is done with the latch. Any waiter about to leave.
  void await_release() const noexcept;

  std::atomic<std::uint64_t> state_;
  mutable detail::PlainMutex mutex_;
  detail::WaiterList waiters_ ABSL_GUARDED_BY(mutex_);
};

inline bool LatchWaitOp::ready_now() noexcept {
  // A queued entry must wait for its completion (the releasing thread still uses it), and
  // then for the open latch (the releasing thread still uses the latch until then).
  return finished((waiter_.idle() || waiter_.done()) && latch_->try_wait());
}
inline bool LatchWaitOp::poll(Waker& waker) {
  return finished(latch_->poll_wait(waiter_, waker));
}
inline void LatchWaitOp::withdraw() noexcept {
  if (!finished_) latch_->cancel_wait(waiter_);  // still pending: the latch is alive
}

}  // namespace troupe
