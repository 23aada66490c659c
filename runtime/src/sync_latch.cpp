// Latch: an atomic count for count_down and try_wait; the mutex-guarded queue only for waits
// that must suspend.
//
// No lost wake-up: a wait checks the count and queues under mutex_, and the count_down that
// reaches zero takes mutex_ after its decrement to release the queue. If the wait's critical
// section comes first, the releasing count_down finds it queued; if the release comes first,
// the decrement happened before it and the wait's check sees zero.
//
// The count_down that reaches zero skips mutex_ when no wait has ever queued (an exit latch
// nobody waits for, the common case): a seq_cst Dekker pair on waited_ and count_. A wait sets
// waited_ and then reads count_; the last count_down decrements count_ and then reads waited_.
// In the single total order of those four seq_cst operations, either the wait reads zero (and
// does not queue) or the count_down reads waited_ set (and takes mutex_, behind the wait).
#include <mutex>
#include <string>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/error.hpp"
#include "troupe/runtime/sync/latch.hpp"

namespace troupe {

Latch::Latch(std::int64_t count) : count_(count) {
  if (count < 0) {
    throw Error(ErrorCode::invalid_argument,
                "Latch: count " + std::to_string(count) + " is negative");
  }
}

void Latch::count_down(std::int64_t n) {
  if (n < 0) {
    throw Error(ErrorCode::invalid_argument,
                "Latch::count_down: n " + std::to_string(n) + " is negative");
  }
  std::int64_t count = count_.load(std::memory_order_relaxed);
  do {
    if (n > count) {
      throw Error(ErrorCode::invalid_argument,
                  "Latch::count_down: n " + std::to_string(n) + " exceeds the remaining count " +
                      std::to_string(count) + " (a latch cannot count below zero)");
    }
    if (n == 0) return;
    // seq_cst: the Dekker pair with a wait (above), which needs at least acq_rel anyway.
    // release: everything before this count_down happens-before a wait that acquire-loads the
    // zero (each count_down is a read-modify-write, so all of them are in the release sequence
    // the zero ends). acquire: the count_down that reaches zero releases the queued waiters
    // itself (through their entries, not through count_), so it must carry the earlier
    // count_downs' writes to them.
  } while (!count_.compare_exchange_weak(count, count - n, std::memory_order_seq_cst,
                                         std::memory_order_relaxed));
  if (count != n) return;
  // seq_cst: the Dekker pair. No wait has queued, nor will: a later one reads the zero.
  if (!waited_.load(std::memory_order_seq_cst)) return;
  detail::WakeBatch wakes;  // woken after the lock below is released
  detail::MutexLock lock(mutex_);
  waiters_.complete_all(wakes, [](detail::SyncWaiter&) noexcept {});
}

bool Latch::poll_wait(detail::SyncWaiter& waiter, Waker& waker) {
  detail::MutexLock lock(mutex_);
  return detail::poll_waiter(waiters_, waiter, &waker, [this] {
    // seq_cst, both: the Dekker pair with the last count_down (above); the load also acquires
    // what the count_downs released. Setting the flag again is harmless: it is never cleared.
    waited_.store(true, std::memory_order_seq_cst);
    return count_.load(std::memory_order_seq_cst) == 0;
  });
}

void Latch::cancel_wait(detail::SyncWaiter& waiter) noexcept {
  detail::withdraw_waiter(mutex_, waiters_, waiter);
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
