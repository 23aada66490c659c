// troupe/runtime/time.hpp — timers for tasks: sleeps, timeouts on any operation, intervals.
//
//   co_await troupe::sleep_for(10ms);
//   auto r = co_await troupe::timeout(100ms, rx.recv());   // Result<optional<T>, Elapsed>
//   if (!r) { /* nothing came within 100 ms (the receive was withdrawn) */ }
//   troupe::Interval tick(1s);
//   for (;;) { co_await tick.tick(); heartbeat(); }
//
// Resolution and accuracy. Timers live in the runtime's hierarchical timing wheel (1 ms ticks;
// insert and cancel O(1), so a million pending timers cost their nodes and nothing per
// operation). A timer never fires early; it fires at the first tick at or after its deadline
// that a worker processes: parked workers sleep exactly until the next deadline, busy ones
// look every 61 task polls, so a timer is late by about a millisecond plus whatever task is
// running when it comes due (a task that blocks its worker delays the timers that worker
// would fire; the monitor wakes a parked worker for overdue timers).
//
// These operations are for tasks, on the runtime's workers or on a dedicated thread
// (SpawnOptions::dedicated_thread: the workers fire its timers): polling one elsewhere throws
// Error(invalid_argument). A plain thread sleeps with std::this_thread::sleep_for.
//
// Cancellation: a task dropped while sleeping, or a timeout that completes first, cancels its
// timer (O(1)); nothing fires later.
//
// Thread-safety: the awaitables belong to the awaiting task. Interval is a single-owner value.
#pragma once

#include <chrono>
#include <string>
#include <type_traits>
#include <utility>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/detail/duration.hpp"
#include "troupe/channels/error.hpp"
#include "troupe/channels/result.hpp"
#include "troupe/runtime/detail/timer.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe {

using Clock = std::chrono::steady_clock;

// The runtime's clock: steady_clock::now(), except in the tasks of a deterministic runtime
// (RuntimeOptions::deterministic_seed), where it is that runtime's virtual time. Timers,
// sleeps, timeouts and intervals all read it.
[[nodiscard]] inline Clock::time_point now() noexcept { return detail::clock_now(); }

// The operation behind sleep_until / sleep_for.
class SleepOp {
 public:
  explicit SleepOp(Clock::time_point deadline) noexcept : deadline_(deadline) {}
  SleepOp(const SleepOp&) = delete;
  SleepOp& operator=(const SleepOp&) = delete;
  ~SleepOp() { detail::disarm_timer(node_); }

  bool ready_now() const { return now() >= deadline_; }
  bool poll(Waker& waker) {
    if (!armed_) {
      detail::arm_timer(node_, deadline_, waker);  // may throw (not on a worker): stays unarmed
      armed_ = true;
      return false;
    }
    return detail::poll_timer(node_, waker);
  }
  void cancel(Waker&) noexcept { detail::disarm_timer(node_); }
  void take() const noexcept {}

  [[nodiscard]] Clock::time_point deadline() const noexcept { return deadline_; }

 private:
  Clock::time_point deadline_;
  detail::TimerNode node_;
  bool armed_ = false;
};

inline Awaitable<SleepOp> sleep_until(Clock::time_point deadline) {
  return Awaitable<SleepOp>(std::in_place, deadline);
}

template <class Rep, class Period>
Awaitable<SleepOp> sleep_for(std::chrono::duration<Rep, Period> duration) {
  const auto after = detail::saturating_duration(duration, true);  // too long: forever
  if (after < Clock::duration::zero()) {
    throw Error(ErrorCode::invalid_argument,
                "sleep_for: duration " + std::to_string(after.count()) + " ns is negative");
  }
  return sleep_until(detail::saturating_deadline(now(), after));
}

// The error of a timeout that expired.
struct Elapsed {
  Clock::duration after{};
};

template <class R>
using TimeoutResult = Result<R, Elapsed>;

// The operation behind timeout(): completes with the inner operation's result, or with Elapsed
// at the deadline (the inner operation is then cancelled, as when a task is dropped). If both
// are ready at one poll, the inner result wins.
template <PollOp Op>
class TimeoutOp {
 public:
  using Inner = decltype(std::declval<Op&>().take());

  TimeoutOp(Op&& op, Clock::time_point deadline, Clock::duration after)
      : op_(std::move(op)), sleep_(deadline), after_(after) {}
  // The operation built in place (for one that cannot move, as an awaited send).
  template <class... Args>
  TimeoutOp(Clock::time_point deadline, Clock::duration after, std::in_place_t, Args&&... args)
      : op_(std::forward<Args>(args)...), sleep_(deadline), after_(after) {}
  TimeoutOp(const TimeoutOp&) = delete;
  TimeoutOp& operator=(const TimeoutOp&) = delete;

  bool ready_now() {
    if constexpr (detail::HasReadyNow<Op>) return op_.ready_now();
    return false;
  }
  bool poll(Waker& waker) {
    if (op_.poll(waker)) {
      sleep_.cancel(waker);
      return true;
    }
    if (sleep_.ready_now() || sleep_.poll(waker)) {
      op_.cancel(waker);
      timed_out_ = true;
      return true;
    }
    return false;
  }
  void cancel(Waker& waker) noexcept {
    op_.cancel(waker);
    sleep_.cancel(waker);
  }
  TimeoutResult<Inner> take() {
    if (timed_out_) return TimeoutResult<Inner>(failure, Elapsed{after_});
    if constexpr (std::is_void_v<Inner>) {
      op_.take();
      return {};
    } else {
      return TimeoutResult<Inner>(op_.take());
    }
  }

 private:
  Op op_;
  SleepOp sleep_;
  Clock::duration after_;
  bool timed_out_ = false;
};

// Bounds any awaitable operation (channel receive, join, lock, ...) by `duration`. An
// operation that owns a payload it would have to give back (a send) is refused at compile
// time: use Sender::send_for-style operations there, which hand the message back.
template <class Rep, class Period, PollOp Op>
Awaitable<TimeoutOp<Op>> timeout(std::chrono::duration<Rep, Period> duration,
                                 Awaitable<Op>&& operation) {
  static_assert(!detail::OwnsPayload<Op>,
                "troupe::timeout: this operation owns a message it must hand back on timeout "
                "(a send); bound it with its own timed form instead");
  const auto after = detail::saturating_duration(duration, true);  // too long: forever
  if (after < Clock::duration::zero()) {
    throw Error(ErrorCode::invalid_argument,
                "timeout: duration " + std::to_string(after.count()) + " ns is negative");
  }
  return Awaitable<TimeoutOp<Op>>(std::in_place, std::move(operation).into_op(),
                                  detail::saturating_deadline(now(), after), after);
}

namespace detail {
// timeout() to an absolute deadline (past: times out at the first poll unless the operation is
// ready), without timeout()'s refusal of operations that own a payload: for a caller that
// accepts losing the payload on timeout (an ask's request, which no one else holds and which
// the asker gives up along with its reply: AskErrc::timeout).
inline Clock::duration time_left(Clock::time_point deadline) {
  const Clock::time_point at = now();
  return deadline > at ? deadline - at : Clock::duration::zero();
}
template <PollOp Op>
Awaitable<TimeoutOp<Op>> timeout_at(Clock::time_point deadline, Awaitable<Op>&& operation) {
  return Awaitable<TimeoutOp<Op>>(std::in_place, std::move(operation).into_op(), deadline,
                                  time_left(deadline));
}
// The same, the operation built in place from `args`.
template <PollOp Op, class... Args>
Awaitable<TimeoutOp<Op>> timeout_at(Clock::time_point deadline, std::in_place_type_t<Op> /*op*/,
                                    Args&&... args) {
  return Awaitable<TimeoutOp<Op>>(std::in_place, deadline, time_left(deadline), std::in_place,
                                  std::forward<Args>(args)...);
}
}  // namespace detail

// Bounds a join. The handle is consumed; on timeout the task runs on, detached (cancel it
// first through a copy of its stop token, or JoinHandle::cancel before awaiting, if needed).
template <class Rep, class Period, class T>
auto timeout(std::chrono::duration<Rep, Period> duration, JoinHandle<T>& handle) {
  return timeout(duration, handle.operator co_await());
}

// Ticks every `period`, on a fixed schedule (start + k * period). If ticks were missed (the
// task was busy longer than a period), the next tick comes at once and the schedule skips
// ahead, rather than bursting through every missed tick.
class Interval {
 public:
  template <class Rep, class Period>
  explicit Interval(std::chrono::duration<Rep, Period> period)
      : period_(detail::saturating_duration(period, true)),  // too long: never ticks
        next_(detail::saturating_deadline(now(), period_)) {
    if (period_ <= Clock::duration::zero()) {
      throw Error(ErrorCode::invalid_argument,
                  "Interval: period " + std::to_string(period_.count()) + " ns is not positive");
    }
  }
  // Awaits the next tick.
  Awaitable<SleepOp> tick() {
    const Clock::time_point due = next_;
    next_ = detail::saturating_deadline(next_, period_);
    const Clock::time_point at = troupe::now();
    if (next_ <= at) {
      const auto behind = (at - next_) / period_ + 1;
      next_ += behind * period_;
    }
    return sleep_until(due);
  }
  [[nodiscard]] Clock::duration period() const noexcept { return period_; }

 private:
  Clock::duration period_;
  Clock::time_point next_;
};

}  // namespace troupe
