// troupe/runtime/sync/notify.hpp — Notify: wake one waiting task or thread, or all of them,
// without data (tokio::sync::Notify).
//
//   troupe::Notify changed;
//   // consumer                                   // producer
//   for (;;) {                                    publish(item);
//     while (auto item = take()) use(*item);      changed.notify_one();
//     co_await changed.notified();
//   }
//
// notify_one() wakes the oldest waiter; if nobody waits it stores a *permit* (at most one,
// several notify_one calls store one), and the next notified() completes at once, consuming it.
// So a notify_one that comes between the consumer's check and its wait is not lost.
//
// notify_all() wakes every waiter that exists when it is called and stores no permit. A waiter
// exists from the moment notified() is *called* — not only once it is awaited — so this pattern
// misses nothing:
//   auto woken = changed.notified();   // exists from here
//   if (!condition()) co_await woken;  // a notify_all after the line above completes it
//
// Cancellation. A wait that is cancelled is unlinked. If notify_one chose it in the same
// instant, the cancelled wait hands that notification on — to the next waiter, or as the stored
// permit — so a notify_one is never lost to a waiter that went away. A notify_all that completed
// a wait before its cancellation is not passed on (it needs no one in particular).
//
// Memory ordering. Everything a thread did before notify_one / notify_all happens-before the
// return of every wait that this notification completes (directly or through the permit).
//
// Thread-safety: every member function is thread-safe. The Notify must outlive its pending waits; a
// waiter may destroy it as soon as its wait returned, even while the notify that completed it is
// still returning (it touches the Notify no more). Cost: notify_one with nobody waiting is one CAS;
// waking and queueing take the internal mutex. Never allocates.
//
// What this does not guarantee: a count. Ten notify_one calls while nobody waits store one
// permit and complete one later wait (use a Semaphore to count).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/detail/config.hpp"
#include "troupe/channels/waker.hpp"
#include "troupe/runtime/sync/wait_list.hpp"

namespace troupe {

class Notify;

// The poll operation behind Notify::notified (see channels/awaitable.hpp). Owned by the one
// task or thread that waits; not movable. Destroying it withdraws a pending wait (passing on a
// notify_one it received but did not return).
class NotifiedOp {
 public:
  inline explicit NotifiedOp(Notify& notify) noexcept;
  NotifiedOp(const NotifiedOp&) = delete;
  NotifiedOp& operator=(const NotifiedOp&) = delete;
  ~NotifiedOp() { withdraw(); }

  inline bool ready_now() noexcept;
  inline bool poll(Waker& waker);
  void cancel(Waker& /*waker*/) noexcept { withdraw(); }
  void take() noexcept { waiter_.reset(); }

 private:
  inline void withdraw() noexcept;
  Notify* notify_;
  std::uint64_t generation_;  // notify_all calls before this wait existed
  detail::SyncWaiter waiter_;
};

class Notify {
 public:
  Notify() noexcept = default;
  Notify(const Notify&) = delete;
  Notify& operator=(const Notify&) = delete;
  ~Notify() = default;

  // Wakes the oldest waiter, or stores the permit if nobody waits. Thread-safe.
  void notify_one() noexcept;
  // Wakes every current waiter (see above); stores nothing. Thread-safe.
  void notify_all() noexcept;

  // A wait for a notification, registered for notify_all from this call on; co_await it (in a
  // task). Thread-safe.
  [[nodiscard]] Awaitable<NotifiedOp> notified() noexcept {
    return Awaitable<NotifiedOp>(std::in_place, *this);
  }
  // Waits for a notification on the calling thread. Thread-safe.
  void blocking_wait();
  // As blocking_wait, giving up after `timeout` (>= 0; negative throws invalid_argument).
  // Returns whether it was notified. Thread-safe.
  template <class Rep, class Period>
  bool blocking_wait_for(std::chrono::duration<Rep, Period> timeout) {
    return blocking_wait_until(detail::sync_deadline(timeout, "Notify::blocking_wait_for"));
  }
  bool blocking_wait_until(std::chrono::steady_clock::time_point deadline);

  // How many waits are queued right now: a snapshot, for tests and diagnostics. Thread-safe.
  [[nodiscard]] std::size_t waiter_count() const;

 private:
  friend class NotifiedOp;
  // state_: notify_all generation << kShift | kEmpty / kWaiting / kNotified. kWaiting is set
  // exactly while the queue is non-empty (then no permit is stored); kNotified is the stored
  // permit.
  static constexpr std::uint64_t kEmpty = 0;
  static constexpr std::uint64_t kWaiting = 1;
  static constexpr std::uint64_t kNotified = 2;
  static constexpr std::uint64_t kMode = 3;
  static constexpr int kShift = 2;
  // How a waiter was completed (its SyncWaiter::value).
  static constexpr std::int64_t kByOne = 1;
  static constexpr std::int64_t kByAll = 2;

  [[nodiscard]] std::uint64_t generation() const noexcept {
    // acquire: pairs with notify_all's release, so a completed wait sees the notifier's writes.
    return state_.load(std::memory_order_acquire) >> kShift;
  }
  // Consumes a notification without queueing: a notify_all since `generation` (kByAll), or
  // the permit (kByOne); 0 if there is none.
  std::int64_t try_consume(std::uint64_t generation) noexcept;
  // Under mutex_: completes the oldest waiter; false if nobody waits.
  bool wake_oldest_locked(detail::WakeBatch& wakes) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Under mutex_: wakes the oldest waiter or stores the permit.
  void notify_one_locked(detail::WakeBatch& wakes) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Waits until no notify_all holds mutex_: a wait that saw a notify_all's generation without
  // the lock returns only after that notify_all is done with the Notify.
  void settle() const noexcept ABSL_LOCKS_EXCLUDED(mutex_);
  bool poll_notified(detail::SyncWaiter& waiter, std::uint64_t generation, Waker& waker);
  void cancel_notified(detail::SyncWaiter& waiter) noexcept;

  alignas(detail::kCacheLine) std::atomic<std::uint64_t> state_{kEmpty};
  alignas(detail::kCacheLine) mutable detail::PlainMutex mutex_;
  detail::WaiterList waiters_ ABSL_GUARDED_BY(mutex_);
};

inline NotifiedOp::NotifiedOp(Notify& notify) noexcept
    : notify_(&notify), generation_(notify.generation()) {}

inline bool NotifiedOp::ready_now() noexcept {
  switch (waiter_.state()) {
    case detail::SyncWaiter::State::done:
      return true;
    case detail::SyncWaiter::State::queued:
      return false;  // the notifier still uses the entry until it marks it done
    case detail::SyncWaiter::State::idle:
      break;
  }
  const std::int64_t how = notify_->try_consume(generation_);
  if (how == 0) return false;
  // A permit was stored by a lock-free CAS, the notify_one's last touch; a new generation,
  // under the mutex.
  if (how == Notify::kByAll) notify_->settle();
  waiter_.value = how;  // a consumed permit is passed on if this wait is cancelled untaken
  waiter_.set_done_by_owner();
  return true;
}

inline bool NotifiedOp::poll(Waker& waker) {
  return ready_now() || notify_->poll_notified(waiter_, generation_, waker);
}

inline void NotifiedOp::withdraw() noexcept {
  if (!waiter_.idle()) notify_->cancel_notified(waiter_);
}

}  // namespace troupe
