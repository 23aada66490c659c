// troupe/runtime/sync/wait_async.hpp — Atomics.waitAsync for tasks: wait for a notify on a
// SharedBuffer word by suspending the task, never the worker thread.
//
//   troupe::SharedBuffer shared(64);
//   // in a task                                          // any thread or task
//   while (shared.i32(0).load() == 0) {                   shared.i32(0).store(1);
//     co_await troupe::wait_async_i32(shared, 0, 0);      shared.notify_i32(0);
//   }
//   auto r = co_await troupe::timeout(10ms, troupe::wait_async_i32(shared, 0, 0));
//   if (!r) { /* Elapsed: nobody notified within 10 ms, and the wait was withdrawn */ }
//
// Semantics: SharedBuffer::wait_i32 / wait_i64 (shared_buffer.hpp) with the task in the place of
// the thread. `co_await wait_async_i32(buffer, index, expected)` yields a WaitResult:
//   WaitResult::ok         woken by a notify on that word;
//   WaitResult::not_equal  the word differed from `expected` when the wait started (nothing
//                          waited; seen without a lock or a suspension when it can be).
// It never yields timed_out: bound it with troupe::timeout (runtime/time.hpp), which reports
// Elapsed. An asynchronous waiter is a waiter like a blocked thread: it queues in the same
// per-word FIFO, so notify_i32(index, n) wakes threads and tasks together, oldest first, counts
// both in its return value, and waiter_count_i32 counts both. Spurious wakes of the task are
// absorbed: the wait completes with ok only when a notify took it.
//
// No lost wake-ups: the comparison with `expected` and the enqueueing happen under the
// parking-lot lock that notify takes for the same word (channels/detail/word_waiter.hpp), as
// for wait_i32. A thread that changes the word and then notifies either wakes this wait or
// changed the word before the comparison, which then returns not_equal.
//
// Errors: the call checks its arguments as wait_i32 does and throws the same codes, naming
// wait_async_i32 / wait_async_i64 and the index: Error(out_of_range) for an index past the last
// whole word (words are indexed in units of the word, so a word is always naturally aligned
// and an index either names a whole word or is out of range), Error(invalid_handle) for an
// empty SharedBuffer.
//
// Lifetime: the operation holds its own SharedBuffer handle, so the bytes (and the address its
// record is keyed by) live as long as the wait, whatever happens to the caller's handle.
//
// Cancellation. When the waiting task is cancelled (JoinHandle::cancel, a stop token, runtime
// shutdown) or a troupe::timeout around the wait expires, the operation withdraws its record
// under the bucket lock; a later notify neither counts nor wakes it. One race is inherent: a
// notify may take the record in the instant before the withdrawal reaches the lock. That
// notify has then counted the wait in its return value — as Atomics.notify counts every waiter
// it removes — although the task will never see ok (it is being dropped, or reports Elapsed).
// So that the wake is not lost with it (a notify_i32(index, 1) meant to hand a lock word to one
// waiter must reach one), the withdrawing operation hands it on: it notifies one more waiter on
// the same word, the oldest, if there is one. That waiter may have started waiting after the
// original notify; it completes with ok as if it had been notified directly — to code that
// re-checks the word in a loop (as all Atomics code must) it is a spurious wake-up. Either way
// the record is never touched by a notify after the withdrawal returns: every notify access
// happens under the bucket lock the withdrawal takes.
//
// Memory ordering. The comparison is a seq_cst load, in the total order of the seq_cst
// operations made through SharedBuffer's views. Everything a thread did before the notify that
// completes the wait with ok happens-before the task's resumption after the co_await (an
// acquire load pairing with notify's release store, or the bucket's mutex).
//
// Thread-safety: the awaitable and its operation belong to the awaiting task. The operation may
// be moved until it is first polled (as troupe::timeout does); moving it while it waits throws
// Error(invalid_argument) — its record is linked into the parking lot by address.
// Cost: a word that already differs costs one seq_cst load (no lock); waiting takes the
// bucket's mutex once, each spurious wake once more, a withdrawal once. Never allocates.
//
// What this does not guarantee: that the word changed — ok only says a notify came (notify
// without a change wakes too; a change without a notify wakes nobody, as with futexes). No
// fairness between words, as for wait_i32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/detail/word_waiter.hpp"
#include "troupe/channels/shared_buffer.hpp"
#include "troupe/channels/waker.hpp"

namespace troupe {

// The poll operation (channels/awaitable.hpp) behind wait_async_i32 / wait_async_i64. Owned by
// the one task that awaits it. Move-constructible until first polled (see above); destroying it
// withdraws a pending wait (as cancel does).
class WaitAsyncOp {
 public:
  // Checks `index` as SharedBuffer::wait_i32 does (`what` names the operation in the error).
  WaitAsyncOp(const SharedBuffer& buffer, std::size_t index, detail::WordWidth width,
              std::int64_t expected, const char* what);
  // Takes over an operation that is not waiting (never polled, or completed). Throws
  // Error(invalid_argument) if `other` is parked: its record is linked by address.
  WaitAsyncOp(WaitAsyncOp&& other);  // NOLINT(performance-noexcept-move-constructor)
  WaitAsyncOp(const WaitAsyncOp&) = delete;
  WaitAsyncOp& operator=(const WaitAsyncOp&) = delete;
  WaitAsyncOp& operator=(WaitAsyncOp&&) = delete;
  ~WaitAsyncOp() { withdraw(); }

  // Completes without taking a lock if it can: a word that already differs before the first
  // poll (not_equal), a notify seen after it (ok).
  inline bool ready_now() noexcept;
  // First poll: compare and park (or not_equal); later polls: re-register `waker`, or complete
  // with ok if a notify took the wait.
  bool poll(Waker& waker) noexcept;
  // Withdraws a pending wait (handing on a notify that took it in the same instant).
  void cancel(Waker& /*waker*/) noexcept { withdraw(); }
  // The result, once ready_now or poll returned true.
  [[nodiscard]] WaitResult take() const noexcept { return result_; }

 private:
  enum class State : std::uint8_t {
    idle,    // not enqueued: never polled, or withdrawn
    parked,  // enqueued by park_word; a notify may take it at any time
    done,    // result_ holds the outcome
  };
  void complete(WaitResult result) noexcept {
    result_ = result;
    state_ = State::done;
  }
  void withdraw() noexcept;

  SharedBuffer buffer_;     // keeps the bytes (and so the record's key) alive
  const std::byte* address_;
  std::int64_t expected_;
  detail::WordWidth width_;
  State state_ = State::idle;
  WaitResult result_ = WaitResult::not_equal;
  detail::WordWaiter waiter_;  // this wait's record in the parking lot
};

inline bool WaitAsyncOp::ready_now() noexcept {
  switch (state_) {
    case State::done:
      return true;
    case State::parked:
      // acquire: pairs with notify's release store, its last access to the record: once it is
      // seen the record is ours again, and the notifier's writes before notify are visible.
      if (!waiter_.notified.load(std::memory_order_acquire)) return false;
      complete(WaitResult::ok);
      return true;
    case State::idle:
      break;
  }
  // A word that differs needs no lock: nothing is enqueued, so no notify can be missed. An equal
  // one is compared again under the lock by poll.
  if (detail::load_word(address_, width_) == expected_) return false;
  complete(WaitResult::not_equal);
  return true;
}

// Atomics.waitAsync on 32-bit word `index` of `buffer`: co_await it in a task for ok or
// not_equal (see the file comment). Throws Error(out_of_range) / Error(invalid_handle) at the
// call, as SharedBuffer::wait_i32. Thread-safe. Never allocates.
[[nodiscard]] inline Awaitable<WaitAsyncOp> wait_async_i32(const SharedBuffer& buffer,
                                                           std::size_t index,
                                                           std::int32_t expected) {
  return Awaitable<WaitAsyncOp>(std::in_place, buffer, index, detail::WordWidth::i32, expected,
                                "wait_async_i32");
}

// Atomics.waitAsync on 64-bit word `index` of `buffer`. As wait_async_i32. Thread-safe.
[[nodiscard]] inline Awaitable<WaitAsyncOp> wait_async_i64(const SharedBuffer& buffer,
                                                           std::size_t index,
                                                           std::int64_t expected) {
  return Awaitable<WaitAsyncOp>(std::in_place, buffer, index, detail::WordWidth::i64, expected,
                                "wait_async_i64");
}

}  // namespace troupe
