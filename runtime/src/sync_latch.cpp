// Latch: one atomic word for count_down and try_wait; the mutex-guarded queue only for waits
// that must suspend.
//
// The word (latch.hpp): count | kQueued | kReleasing; open is exactly 0.
//
// No lost wake-up: a wait that must queue sets kQueued under mutex_, by a CAS on the word that
// still holds a non-zero count, and queues before unlocking. Every count_down is a CAS on the
// same word, so the one that reaches zero either precedes that CAS (the wait sees the zero and
// does not queue) or follows it and sees kQueued: it then takes mutex_ (after the wait's
// critical section) and releases the queue.
//
// No touch after open: a waiter may destroy the latch as soon as it sees it open. So the
// count_down that reaches zero with nobody queued makes the word 0 in its CAS and never looks
// at the latch again. With kQueued it writes kReleasing instead (count zero, not yet open),
// releases the queue under mutex_, unlocks, and only then stores 0, its last touch; the wakers
// it collected are woken after that. Until the 0, no waiter leaves: try_wait and a completed
// entry wait for the 0 (ready_now, poll_wait), and a wait withdrawn meanwhile waits for it in
// cancel_wait, since the releaser may still take the mutex and visit the list.
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/detail/config.hpp"
#include "troupe/channels/detail/wait_out.hpp"
#include "troupe/channels/error.hpp"
#include "troupe/runtime/sync/latch.hpp"

namespace troupe {

Latch::Latch(std::int64_t count) : state_(static_cast<std::uint64_t>(count)) {
  if (count < 0) {
    throw Error(ErrorCode::invalid_argument,
                "Latch: count " + std::to_string(count) + " is negative");
  }
  if (count > kMaxCount) {
    throw Error(ErrorCode::invalid_argument, "Latch: count " + std::to_string(count) +
                                                 " exceeds the maximum of " +
                                                 std::to_string(kMaxCount));
  }
}

void Latch::count_down(std::int64_t n) {
  if (n < 0) {
    throw Error(ErrorCode::invalid_argument,
                "Latch::count_down: n " + std::to_string(n) + " is negative");
  }
  std::uint64_t word = state_.load(std::memory_order_relaxed);
  std::uint64_t next = 0;
  do {
    const auto count = static_cast<std::int64_t>(word & kCountMask);
    if (n > count) {
      throw Error(ErrorCode::invalid_argument,
                  "Latch::count_down: n " + std::to_string(n) + " exceeds the remaining count " +
                      std::to_string(count) + " (a latch cannot count below zero)");
    }
    if (n == 0) return;
    next = word - static_cast<std::uint64_t>(n);
    // Reaching zero with a wait queued: not open yet, the queue is to be released first.
    if ((next & kCountMask) == 0 && (next & kQueued) != 0) next = kReleasing;
    // acq_rel. release: everything before this count_down happens-before a wait that
    // acquire-loads the zero (each count_down is a read-modify-write, so all of them are in
    // the release sequence the zero ends). acquire: the count_down that reaches zero releases
    // the queued waiters itself (through their entries and its final store), so it must carry
    // the earlier count_downs' writes to them.
  } while (!state_.compare_exchange_weak(word, next, std::memory_order_acq_rel,
                                         std::memory_order_relaxed));
  if (next != kReleasing) return;  // not the last, or nobody queued: no touch after the CAS
  detail::WakeBatch wakes;  // woken after the store below, the latch's last touch
  {
    detail::MutexLock lock(mutex_);
    waiters_.complete_all(wakes, [](detail::SyncWaiter&) noexcept {});
  }
  // release: open. The waiters' acquire of the 0 sees the releases above; after it, this
  // thread no longer touches the latch, so any of them may destroy it.
  state_.store(0, std::memory_order_release);
}

void Latch::await_release() const noexcept {
  // acquire: pairs with count_down's final store; the releaser is done with the latch (it may
  // have been descheduled between its CAS and that store).
  detail::wait_out([this] { return state_.load(std::memory_order_acquire) == kReleasing; });
}

bool Latch::poll_wait(detail::SyncWaiter& waiter, Waker& waker) {
  {
    detail::MutexLock lock(mutex_);
    if (const std::optional<bool> known = detail::repoll(waiter, &waker)) {
      if (!*known) return false;  // still queued
      // Completed by the releaser, whose critical section is over (we hold the mutex): the
      // latch is open, or about to be (below).
    } else {
      // acquire: as try_wait.
      std::uint64_t word = state_.load(std::memory_order_acquire);
      for (;;) {
        if (word == 0) {
          waiter.set_done_by_owner();
          return true;
        }
        if (word == kReleasing) break;  // opening: do not queue, the release may be past it
        if ((word & kQueued) != 0) break;
        // acq_rel: the CAS the releasing count_down's CAS is ordered against (above).
        if (state_.compare_exchange_weak(word, word | kQueued, std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
          word |= kQueued;
          break;
        }
      }
      if (word != kReleasing) {
        waiters_.push_back(waiter, &waker);
        return false;
      }
    }
  }
  // Opening now (the releaser is between its CAS and its store): a few instructions unless it
  // was descheduled. Ask to be polled again rather than queue behind a release already done.
  if (state_.load(std::memory_order_acquire) == 0) return true;
  waker.wake();
  return false;
}

void Latch::cancel_wait(detail::SyncWaiter& waiter) noexcept {
  detail::withdraw_waiter(mutex_, waiters_, waiter);
  // A release in progress may still take mutex_ and walk the queue: let it finish before the
  // waiter leaves (and perhaps destroys the latch).
  await_release();
}

void Latch::blocking_wait() {
  WaitOp op(*this);
  block_on_op(op);
}

bool Latch::blocking_wait_until(std::chrono::steady_clock::time_point deadline) {
  WaitOp op(*this);
  return block_on_op_until(op, deadline);
}

std::size_t Latch::waiter_count() const {
  detail::MutexLock lock(mutex_);
  return waiters_.size();
}

}  // namespace troupe
