// troupe/channels/awaitable.hpp — how troupe operations are awaited by coroutines.
//
// Every operation that can wait (receive, send on a full channel, lock, sleep, join, ...) is a
// *poll operation*, the model of Rust's Future::poll:
//
//   struct SomeOp {
//     bool ready_now();          // optional fast path: complete without registering anything
//     bool poll(Waker& waker);   // complete now (true), or register `waker` and return false;
//                                // the waker is woken when polling again is worth it
//     void cancel(Waker& waker) noexcept;  // withdraw the registration of a pending poll
//     R take();                  // the result, once ready_now or poll returned true
//   };
//
// poll may be called again after it returned false (a wake came, perhaps a spurious one): it
// must then replace its registration, never leave two behind. After poll or ready_now returned
// true, only take() is called, once.
//
// `Awaitable<Op>` turns one into something a troupe coroutine (runtime::Task) can `co_await`,
// and `block_on_op(op)` waits for it on a plain thread (spin briefly, then park) — so every
// operation has one implementation serving both tasks and threads.
//
// How a suspended coroutine is resumed: the coroutine's promise exposes an AwaitContext (the
// task's Waker, and the slot below). On suspension the Awaitable records itself as the task's
// pending operation; when the task is woken, its scheduler calls `pending->poll()` again and
// resumes the coroutine only once that returns true. Spurious wakes therefore never reach user
// code, and a task cancelled while suspended is cancelled by `pending->cancel()` and destroying
// its frames (the Rust model of dropping a future).
//
// Cooperative budget: a task that keeps finding its operations ready would never suspend and
// could hold its worker forever. Each ready-at-once completion consumes one unit of the running
// thread's `coop_budget`; at zero the Awaitable suspends the task once (it is re-queued behind
// the others) even though the operation could complete. Threads outside the runtime have an
// unlimited budget.
//
// Thread-safety: an Awaitable belongs to the one coroutine that awaits it.
#pragma once

#include <chrono>
#include <concepts>
#include <coroutine>
#include <cstdint>
#include <utility>

#include "troupe/channels/waker.hpp"

namespace troupe {
namespace detail {

// A suspended operation, type-erased for the scheduler.
class PendingPoll {
 public:
  // As the operation's poll: true once complete; false after registering `waker`.
  virtual bool poll(Waker& waker) = 0;
  virtual void cancel(Waker& waker) noexcept = 0;

 protected:
  ~PendingPoll() = default;
};

// Where a coroutine that awaits troupe operations keeps its suspension. Owned by whoever runs
// the coroutine (the runtime's task); touched only by the thread running it.
struct AwaitContext {
  Waker* waker = nullptr;           // wakes whoever runs the coroutine
  PendingPoll* pending = nullptr;   // what the coroutine is suspended on (null: runnable)
  std::coroutine_handle<> leaf;     // the innermost suspended coroutine, resumed when ready
  bool yield_requested = false;     // the coroutine suspended only to give up its turn
};

// Units of work a task may complete without suspending before it must yield. Set by the
// runtime before it resumes a task; "unlimited" elsewhere.
inline constexpr std::int32_t kUnlimitedBudget = INT32_MAX;
inline thread_local std::int32_t coop_budget = kUnlimitedBudget;

// Consumes one unit; false once the budget is spent.
inline bool coop_consume() noexcept {
  if (coop_budget == kUnlimitedBudget) return true;
  return --coop_budget > 0;
}

// Giving up a turn instead of waiting. An operation that finds nothing to do yet (a receive
// on an empty channel) may ask, instead of registering its waker, to be polled again once the
// tasks queued on its thread have had their turn — typically the task it has just woken, which
// is about to send it a reply. For two tasks trading messages on one worker this saves every
// hop the park and the wake (three locked instructions: the receiver's park, the sender's wake,
// the runner's closing transition); the yielding task stays scheduled and goes into the
// worker's next slot behind its partner, with plain stores. The runtime installs a TurnYielder on each worker thread; yield_turn(waker)
// returns true only there, only for the task being polled (`waker` is its own), and only if
// another task is runnable on that worker, so an idle task still parks. After a true return
// the operation registers nothing and returns false from poll: the scheduler polls it again.
// An operation yields at most once per wait (polled again, it registers), so a wait costs at
// most one extra poll. Thread-safety: the yielder is the calling thread's own.
class TurnYielder {
 public:
  virtual bool yield_turn(const Waker& waker) noexcept = 0;
  // The polled task (`waker` its own) will be woken in this poll only to retry: queue it again
  // without waking a parked worker for it (see wake_to_retry).
  virtual void retry_quietly(const Waker& waker) noexcept = 0;
  // Whether the polled task (`waker` its own) has company here: another task runnable on this
  // worker (its next slot or queue). A send retrying on a full channel without company spins
  // against a consumer on another core (or a thread) and soon registers instead (SendOp).
  virtual bool has_company(const Waker& waker) noexcept = 0;

 protected:
  ~TurnYielder() = default;
};
inline thread_local TurnYielder* tls_turn_yielder = nullptr;

inline bool yield_turn(const Waker& waker) noexcept {
  return tls_turn_yielder != nullptr && tls_turn_yielder->yield_turn(waker);
}

// TurnYielder::has_company for the calling thread's worker; true off a runtime worker (a
// thread spins as it likes).
inline bool has_company(const Waker& waker) noexcept {
  return tls_turn_yielder == nullptr || tls_turn_yielder->has_company(waker);
}

// Wakes `waker` to be polled again, for an operation that retries instead of registering (a
// send on a full channel). On a runtime worker, polling its own task, the task is queued
// again without waking a parked worker: the retry waits on another task's progress, which a
// second worker would not speed up, and taking the retrying task there would put the
// channel's two ends on different cores. Elsewhere it is a plain wake.
inline void wake_to_retry(Waker& waker) noexcept {
  if (tls_turn_yielder != nullptr) tls_turn_yielder->retry_quietly(waker);
  waker.wake();
}

template <class P>
concept AwaitingPromise = requires(P& promise) {
  { promise.await_context() } -> std::same_as<AwaitContext&>;
};

template <class Op>
concept HasReadyNow = requires(Op& op) {
  { op.ready_now() } -> std::convertible_to<bool>;
};

// An operation that holds a payload it must hand back if abandoned (a send): it declares
// `static constexpr bool kOwnsPayload = true`, and combinators that may abandon an operation
// (a timeout) refuse it at compile time rather than lose the payload.
template <class Op>
concept OwnsPayload = requires { requires Op::kOwnsPayload; };

}  // namespace detail

template <class Op>
concept PollOp = requires(Op& op, Waker& waker) {
  { op.poll(waker) } -> std::convertible_to<bool>;
  { op.cancel(waker) } noexcept;
  op.take();
};

// Awaits a poll operation inside a troupe coroutine.
template <PollOp Op>
class [[nodiscard]] Awaitable final : private detail::PendingPoll {
 public:
  template <class... Args>
  explicit Awaitable(std::in_place_t, Args&&... args) : op_(std::forward<Args>(args)...) {}
  Awaitable(const Awaitable&) = delete;
  Awaitable& operator=(const Awaitable&) = delete;

  bool await_ready() {
    if constexpr (detail::HasReadyNow<Op>) {
      if (detail::coop_consume()) return op_.ready_now();
      budget_spent_ = true;
      return false;
    } else {
      return false;
    }
  }

  template <detail::AwaitingPromise P>
  bool await_suspend(std::coroutine_handle<P> handle) {
    detail::AwaitContext& context = handle.promise().await_context();
    context.leaf = handle;
    context.pending = this;
    if (budget_spent_) {
      // Give up the turn: the scheduler re-polls us after the tasks queued behind this one.
      context.yield_requested = true;
      return true;
    }
    bool ready;
    try {
      ready = op_.poll(*context.waker);
    } catch (...) {
      context.pending = nullptr;  // the exception surfaces at the co_await; nothing is pending
      throw;
    }
    if (ready) {
      context.pending = nullptr;
      return false;  // completed while registering: resume at once
    }
    return true;
  }

  decltype(auto) await_resume() { return op_.take(); }

  Op& op() noexcept { return op_; }
  // Moves the operation out, for a combinator that wraps it (before it was ever polled).
  Op&& into_op() && noexcept { return std::move(op_); }

 private:
  bool poll(Waker& waker) override { return op_.poll(waker); }
  void cancel(Waker& waker) noexcept override { op_.cancel(waker); }

  Op op_;
  bool budget_spent_ = false;
};

// Waits for `op` on the calling thread: spins briefly, then parks on the thread's Parker.
// Returns op.take(). For the blocking forms of awaitable operations.
template <PollOp Op>
decltype(auto) block_on_op(Op& op) {
  Parker& parker = Parker::current();
  SpinWait spin;
  for (;;) {
    if constexpr (detail::HasReadyNow<Op>) {
      // Spin on the cheap check first: most waits end here, without registering or parking.
      do {
        if (op.ready_now()) return op.take();
      } while (spin.spin());
    }
    if (op.poll(parker)) return op.take();
    parker.park();  // a wake is coming once polling again is worth it (or already came)
    spin.reset();
  }
}

// As block_on_op, giving up at `deadline`: returns false (the operation withdrawn) on timeout.
template <PollOp Op>
bool block_on_op_until(Op& op, std::chrono::steady_clock::time_point deadline) {
  if constexpr (detail::HasReadyNow<Op>) {
    if (op.ready_now()) return true;
  }
  Parker& parker = Parker::current();
  while (!op.poll(parker)) {
    if (!parker.park_until(deadline)) {
      op.cancel(parker);
      // A completion may have raced with the deadline: one last look (registers nothing new).
      if constexpr (detail::HasReadyNow<Op>) return op.ready_now();
      return false;
    }
  }
  return true;
}

}  // namespace troupe
