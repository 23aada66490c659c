// troupe/runtime/sync/barrier.hpp — Barrier: a reusable meeting point for a fixed number of
// tasks or threads (tokio::sync::Barrier, std::barrier without a completion function).
//
//   troupe::Barrier step(4);
//   for (;;) {
//     compute_my_part();
//     bool leader = co_await step.arrive_and_wait();   // in a task; blocking_arrive_and_wait on
//     if (leader) publish_round();                     // a thread. One leader per phase.
//   }
//
// Phases. Each phase completes when `parties` arrivals have been made; the arrival that
// completes it is the phase's *leader* (arrive_and_wait returns true to it, false to the
// others), and the barrier then starts the next phase with a zero count. An arrival belongs to
// the phase that is open when arrive_and_wait is *called*; a party that arrives again right
// away counts toward the next phase, never the one it just left.
//
// Cancellation. Cancelling a wait (its task cancelled) withdraws the wait, not the arrival: the
// arrival was counted when arrive_and_wait was called, and the phase still completes once the
// other parties arrive. (A party that leaves for good must still arrive in every later phase,
// or the others wait forever — as with std::barrier without arrive_and_drop.)
//
// Errors. parties <= 0 throws Error(invalid_argument) naming it.
//
// Memory ordering. Everything every party did before arriving in a phase happens-before the
// return of every party's arrive_and_wait of that phase.
//
// Thread-safety: every member function is thread-safe. The Barrier must outlive its pending waits;
// a party may destroy it as soon as its own arrive_and_wait returned, if every other party has
// returned from its arrival too (the leader touches nothing after that). Cost: an arrival takes the
// internal mutex once; a leader wakes every waiter of its phase. Never allocates.
//
// What this does not guarantee: which arrival leads (the last to take the lock), or any order
// in which the waiters of a phase resume.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/waker.hpp"
#include "troupe/runtime/sync/wait_list.hpp"

namespace troupe {

class Barrier;

// The poll operation behind Barrier::arrive_and_wait (see channels/awaitable.hpp); the arrival
// itself was made when it was created. Owned by the one task or thread that waits; not
// movable. Destroying it withdraws a pending wait.
class BarrierWaitOp {
 public:
  BarrierWaitOp(Barrier& barrier, std::uint64_t phase, bool leader) noexcept
      : barrier_(&barrier), phase_(phase), leader_(leader) {}
  BarrierWaitOp(const BarrierWaitOp&) = delete;
  BarrierWaitOp& operator=(const BarrierWaitOp&) = delete;
  ~BarrierWaitOp() { withdraw(); }

  inline bool ready_now() noexcept;
  inline bool poll(Waker& waker);
  void cancel(Waker& /*waker*/) noexcept { withdraw(); }
  // Whether this arrival was the phase's leader.
  bool take() noexcept { return leader_; }

 private:
  inline void withdraw() noexcept;
  Barrier* barrier_;
  std::uint64_t phase_;  // the phase this arrival belongs to
  bool leader_;
  detail::SyncWaiter waiter_;
};

class Barrier {
 public:
  using WaitOp = BarrierWaitOp;

  // `parties` >= 1; otherwise throws Error(invalid_argument) naming it.
  explicit Barrier(std::int64_t parties);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;
  ~Barrier() = default;

  // Arrives now, then awaits the end of the phase (in a task). The result: whether this
  // arrival completed the phase (the leader, which does not suspend). Thread-safe.
  [[nodiscard]] Awaitable<WaitOp> arrive_and_wait();
  // Arrives, then waits on the calling thread. Returns whether this arrival was the leader.
  // Thread-safe.
  bool blocking_arrive_and_wait();

  [[nodiscard]] std::int64_t parties() const noexcept { return parties_; }
  // How many phases have completed: a snapshot. Thread-safe.
  [[nodiscard]] std::uint64_t phase() const noexcept {
    return phase_.load(std::memory_order_relaxed);
  }
  // How many parties wait in the open phase right now: a snapshot, for tests and diagnostics.
  // Thread-safe.
  [[nodiscard]] std::size_t waiter_count() const;

 private:
  friend class BarrierWaitOp;
  // Counts an arrival; returns the phase it belongs to and whether it completed it.
  std::pair<std::uint64_t, bool> arrive();
  bool poll_wait(detail::SyncWaiter& waiter, std::uint64_t phase, Waker& waker);
  void cancel_wait(detail::SyncWaiter& waiter) noexcept;

  const std::int64_t parties_;
  mutable detail::PlainMutex mutex_;
  std::int64_t arrived_ ABSL_GUARDED_BY(mutex_) = 0;  // in the open phase
  std::atomic<std::uint64_t> phase_{0};               // completed phases; written under mutex_
  detail::WaiterList waiters_ ABSL_GUARDED_BY(mutex_);  // the open phase's waiters
};

inline bool BarrierWaitOp::ready_now() noexcept {
  if (leader_) return true;
  // A queued entry is complete once done: the leader has then left the barrier. An idle one
  // asks poll, under the mutex: the leader stores the new phase while it still holds the
  // mutex, so a lock-free look at the phase could return (and let the caller destroy the
  // barrier) before the leader is done with it.
  return !waiter_.idle() && waiter_.done();
}
inline bool BarrierWaitOp::poll(Waker& waker) {
  return leader_ || barrier_->poll_wait(waiter_, phase_, waker);
}
inline void BarrierWaitOp::withdraw() noexcept {
  barrier_->cancel_wait(waiter_);
}

}  // namespace troupe
