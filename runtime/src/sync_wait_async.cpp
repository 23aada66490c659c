// WaitAsyncOp: Atomics.waitAsync on the parking lot of SharedBuffer (channels/detail/
// word_waiter.hpp). The operation's record lives in the coroutine frame and is keyed by the
// word's address; the task is its waker. State machine (the op's own, touched only by the task):
//
//   idle  --poll: park_word equal-->       parked   (record enqueued)
//   idle  --ready_now/poll: differs-->     done     (not_equal)
//   parked --ready_now: notified seen-->   done     (ok)
//   parked --poll: repark_word-->          parked   (waker replaced) or done (ok)
//   parked --cancel/destroy: unpark_word-->idle     (handing on a notify that took it)
#include <string>
#include <utility>

#include "troupe/channels/error.hpp"
#include "troupe/runtime/sync/wait_async.hpp"

namespace troupe {

WaitAsyncOp::WaitAsyncOp(const SharedBuffer& buffer, std::size_t index, detail::WordWidth width,
                         std::int64_t expected, const char* what)
    : buffer_(buffer),
      address_(detail::shared_word(buffer_, index, static_cast<std::size_t>(width), what)),
      expected_(expected),
      width_(width) {}

// Not noexcept: it refuses a parked operation. It copies the buffer handle (a reference count)
// rather than moving it: the moved-from operation stays whole.
WaitAsyncOp::WaitAsyncOp(WaitAsyncOp&& other)  // NOLINT(performance-noexcept-move-constructor)
    : buffer_(other.buffer_),                   // NOLINT(performance-move-constructor-init)
      address_(other.address_),
      expected_(other.expected_),
      width_(other.width_),
      state_(other.state_),
      result_(other.result_) {
  if (state_ == State::parked) {
    throw Error(ErrorCode::invalid_argument,
                "WaitAsyncOp: cannot move a wait that is parked on a word (at offset " +
                    std::to_string(address_ - buffer_.data()) +
                    "); move it only before its first poll");
  }
  // The moved-from operation keeps its (idle or done) state; it has nothing to withdraw.
}

bool WaitAsyncOp::poll(Waker& waker) noexcept {
  switch (state_) {
    case State::done:
      return true;
    case State::parked:
      if (!detail::repark_word(waiter_, waker)) return false;  // still waiting, `waker` registered
      complete(WaitResult::ok);  // a notify took it (the bucket's mutex orders its writes)
      return true;
    case State::idle:
      break;
  }
  if (detail::park_word(address_, width_, expected_, waiter_, waker) ==
      detail::WordPark::not_equal) {
    complete(WaitResult::not_equal);
    return true;
  }
  state_ = State::parked;
  return false;
}

void WaitAsyncOp::withdraw() noexcept {
  if (state_ != State::parked) return;  // idle or done: no notify refers to the record
  state_ = State::idle;
  if (detail::unpark_word(waiter_)) {
    // A notify took the record (and counted it) in the same instant, but this wait will never
    // return ok: hand the wake to the word's oldest remaining waiter, so that it is not lost.
    // One waiter never allocates, so this cannot throw.
    (void)detail::notify_word(address_, 1);
  }
}

}  // namespace troupe
