// Rendezvous<T>: the zero-capacity flavor behind channel<T>(0). A send completes only when a
// receiver takes the message; nothing is ever stored in the channel. Mutex-based: a rendezvous
// hands over one message per meeting of two threads, so a lock costs nothing next to the wait.
//
// Waiting senders queue an Offer that lives on their own stack and points at their message; a
// receiver blocked in blocking_recv leaves a Taker. try_send succeeds only when a receiver is
// blocked in blocking_recv on this channel; try_recv only when a sender is blocked in
// blocking_send or awaits send (an awaiting receiver is woken through the channel's waker).
//
// An awaited send (`co_await tx.send(x)`) cannot block, so its Offer lives in the awaiting
// operation instead (PendingOffer) and stays queued between polls: poll_offer queues it (or
// replaces its waker when polled again), offer_taken is the cheap check, withdraw_offer takes it
// back. A receiver takes it like any other Offer and wakes its waker; close wakes it too.
//
// Thread-safety: every member function is thread-safe; the receiving ones are called by the
// single consumer, and those taking a PendingOffer by the operation that owns it.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "troupe/channels/detail/chan_base.hpp"
#include "troupe/channels/detail/mutex.hpp"
#include "troupe/channels/detail/queue_status.hpp"
#include "troupe/channels/waker.hpp"

namespace troupe::detail {

enum class WaitStatus { ok, closed, timeout };

template <class T>
class Rendezvous {
 public:
  using Clock = std::chrono::steady_clock;

  PushStatus try_push(T& value) {
    UniqueLock lock(mutex_);
    if (closed_) return PushStatus::closed;
    if (taker_ == nullptr || taker_->filled) return PushStatus::full;
    const WakerRef receiver = hand_over_locked(value);
    lock.unlock();
    receiver.wake();
    return PushStatus::ok;
  }

  // Blocks until a receiver takes `value`, the channel closes, or `deadline` passes; on
  // anything but ok the value is untouched (still the caller's).
  WaitStatus push_until(T& value, ChanBase& base, Clock::time_point deadline) {
    UniqueLock lock(mutex_);
    if (closed_) return WaitStatus::closed;
    if (taker_ != nullptr && !taker_->filled) {
      const WakerRef receiver = hand_over_locked(value);
      lock.unlock();
      receiver.wake();
      return WaitStatus::ok;
    }
    Offer offer{&value, {false}, WakerRef::share(&Parker::current())};
    offers_.push_back(&offer);
    lock.unlock();
    base.wake_receiver();  // a receiver in select() waits on the channel's waker
    // acquire: the receiver's take of the message happens-before we report ok.
    if (spin_until_set(offer.taken)) return WaitStatus::ok;
    for (;;) {
      const bool woken = deadline == Clock::time_point::max()
                             ? (Parker::current().park(), true)
                             : Parker::current().park_until(deadline);
      lock.lock();
      if (offer.taken.load(std::memory_order_relaxed)) return WaitStatus::ok;
      if (closed_ || !woken) {
        std::erase(offers_, &offer);
        return closed_ ? WaitStatus::closed : WaitStatus::timeout;
      }
      lock.unlock();
    }
  }

  PopStatus try_pop(std::optional<T>& out) {
    UniqueLock lock(mutex_);
    if (offers_.empty()) return closed_ ? PopStatus::closed : PopStatus::empty;
    const WakerRef sender = take_offer_locked(out);
    lock.unlock();
    sender.wake();
    return PopStatus::ok;
  }

  // Blocks until a sender's message is taken into `out`, the channel is closed, or the deadline.
  WaitStatus pop_until(std::optional<T>& out, Clock::time_point deadline) {
    UniqueLock lock(mutex_);
    if (!offers_.empty()) {
      const WakerRef sender = take_offer_locked(out);
      lock.unlock();
      sender.wake();
      return WaitStatus::ok;
    }
    if (closed_) return WaitStatus::closed;
    Taker taker{&out, {false}, WakerRef::share(&Parker::current())};
    taker_ = &taker;
    lock.unlock();
    if (spin_until_set(taker.filled)) {
      lock.lock();
      taker_ = nullptr;
      return WaitStatus::ok;
    }
    for (;;) {
      const bool woken = deadline == Clock::time_point::max()
                             ? (Parker::current().park(), true)
                             : Parker::current().park_until(deadline);
      lock.lock();
      const bool filled = taker.filled.load(std::memory_order_relaxed);
      if (filled || closed_ || !woken) {
        taker_ = nullptr;
        if (filled) return WaitStatus::ok;
        return closed_ ? WaitStatus::closed : WaitStatus::timeout;
      }
      lock.unlock();
    }
  }

  // An awaited send's queued offer. Owned by the awaiting operation, which must withdraw it
  // (withdraw_offer) before it is destroyed; `queued` is touched by the owner only.
  struct PendingOffer;

  // The poll step of an awaited send. Completes at once (ok, or closed with `value` untouched)
  // when it can; otherwise queues `pending` with `waker` and returns full: `waker` is woken
  // once a receiver took the value or the channel closed — then poll again. Polled again while
  // queued, it only replaces the waker (the offer keeps its place in line).
  PushStatus poll_offer(PendingOffer& pending, T& value, Waker& waker, ChanBase& base) {
    WakerRef previous;  // released after the unlock: a waker's release may run arbitrary code
    UniqueLock lock(mutex_);
    if (pending.queued) {
      if (pending.offer.taken.load(std::memory_order_relaxed)) {  // written under mutex_
        pending.queued = false;
        previous = std::move(pending.offer.waker);
        return PushStatus::ok;
      }
      if (closed_) {  // close() already dequeued it
        pending.queued = false;
        previous = std::move(pending.offer.waker);
        return PushStatus::closed;
      }
      previous = std::exchange(pending.offer.waker, WakerRef::share(&waker));
      return PushStatus::full;
    }
    if (closed_) return PushStatus::closed;
    if (taker_ != nullptr && !taker_->filled) {
      const WakerRef receiver = hand_over_locked(value);
      lock.unlock();
      receiver.wake();
      return PushStatus::ok;
    }
    pending.offer.value = &value;
    pending.offer.taken.store(false, std::memory_order_relaxed);  // published by the unlock
    pending.offer.waker = WakerRef::share(&waker);
    offers_.push_back(&pending.offer);
    pending.queued = true;
    lock.unlock();
    base.wake_receiver();  // an awaiting or selecting receiver waits on the channel's waker
    return PushStatus::full;
  }

  // True once a receiver took the queued offer's value (the offer is then the owner's again);
  // false while it waits (or after a close: poll_offer reports that). Never blocks.
  bool offer_taken(PendingOffer& pending) noexcept {
    // acquire: pairs with take_offer's release store; the receiver no longer touches the offer.
    if (!pending.queued || !pending.offer.taken.load(std::memory_order_acquire)) return false;
    pending.queued = false;
    pending.offer.waker = WakerRef();
    return true;
  }

  // Takes a queued offer back (no effect if none). If a receiver took the value meanwhile, the
  // message is delivered all the same.
  void withdraw_offer(PendingOffer& pending) noexcept {
    if (!pending.queued) return;
    WakerRef mine;  // released after the unlock
    MutexLock lock(mutex_);
    pending.queued = false;
    mine = std::move(pending.offer.waker);
    if (!pending.offer.taken.load(std::memory_order_relaxed)) std::erase(offers_, &pending.offer);
  }

  [[nodiscard]] PopStatus poll() {
    MutexLock lock(mutex_);
    if (!offers_.empty()) return PopStatus::ok;
    return closed_ ? PopStatus::closed : PopStatus::empty;
  }

  bool close() {
    std::vector<WakerRef> wakers;  // copied under the lock: an Offer may die once unlocked
    {
      MutexLock lock(mutex_);
      if (closed_) return false;
      closed_ = true;
      for (Offer* offer : offers_) wakers.push_back(offer->waker);
      offers_.clear();
      if (taker_ != nullptr) wakers.push_back(taker_->waker);
    }
    for (const WakerRef& waker : wakers) waker.wake();
    return true;
  }
  [[nodiscard]] bool closed() {
    MutexLock lock(mutex_);
    return closed_;
  }
  [[nodiscard]] std::size_t size() const noexcept { return 0; }

 private:
  // `taken` and `filled` are written under mutex_ and also read without it while spinning.
  struct Offer {
    T* value = nullptr;
    std::atomic<bool> taken{false};
    WakerRef waker;  // guarded by mutex_ while the offer is queued
  };
  struct Taker {
    std::optional<T>* out;
    std::atomic<bool> filled;
    WakerRef waker;
  };

  // The idle policy before parking: most meetings happen within the spin.
  static bool spin_until_set(const std::atomic<bool>& flag) noexcept {
    SpinWait spin;
    while (spin.spin()) {
      // acquire: pairs with the release store by the other party (hand_over / take_offer).
      if (flag.load(std::memory_order_acquire)) return true;
    }
    return false;
  }

  // Moves `value` to the waiting receiver; returns its waker, for the caller to wake once it has
  // released the lock.
  WakerRef hand_over_locked(T& value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    WakerRef receiver = taker_->waker;  // copied first: the Taker may die once `filled` is set
    taker_->out->emplace(std::move(value));
    // release: the message is in place before the spinning receiver sees `filled`.
    taker_->filled.store(true, std::memory_order_release);
    return receiver;
  }

  // Takes the oldest offer's value into `out`; returns its sender's waker, for the caller to
  // wake once it has released the lock.
  WakerRef take_offer_locked(std::optional<T>& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    Offer* offer = offers_.front();
    offers_.pop_front();
    WakerRef sender = offer->waker;  // copied first: the Offer dies once its sender sees `taken`
    out.emplace(std::move(*offer->value));
    // release: the sender may reuse its storage once it sees `taken`.
    offer->taken.store(true, std::memory_order_release);
    return sender;
  }

  PlainMutex mutex_;
  std::deque<Offer*> offers_ ABSL_GUARDED_BY(mutex_);
  Taker* taker_ ABSL_GUARDED_BY(mutex_) = nullptr;
  bool closed_ ABSL_GUARDED_BY(mutex_) = false;
};

template <class T>
struct Rendezvous<T>::PendingOffer {
  Offer offer;
  bool queued = false;  // in offers_, or taken or closed and not yet seen by the owner
};

}  // namespace troupe::detail
