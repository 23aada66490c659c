// Rendezvous<T>: the zero-capacity flavor behind channel<T>(0). A send completes only when a
// receiver takes the message; nothing is ever stored in the channel. Mutex-based: a rendezvous
// hands over one message per meeting of two threads, so a lock costs nothing next to the wait.
//
// Waiting senders queue an Offer that lives on their own stack and points at their message; a
// waiting receiver (in recv) leaves a Taker. try_send succeeds only when a receiver is blocked in
// recv on this channel; try_recv only when a sender is blocked in send.
//
// Thread-safety: every member function is thread-safe; the receiving ones are called by the
// single consumer.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "troupe/channels/detail/chan_base.hpp"
#include "troupe/channels/detail/queue_status.hpp"
#include "troupe/channels/waker.hpp"

namespace troupe::detail {

enum class WaitStatus { ok, closed, timeout };

template <class T>
class Rendezvous {
 public:
  using Clock = std::chrono::steady_clock;

  PushStatus try_push(T& value) {
    std::unique_lock lock(mutex_);
    if (closed_) return PushStatus::closed;
    if (taker_ == nullptr || taker_->filled) return PushStatus::full;
    hand_over(value, lock);
    return PushStatus::ok;
  }

  // Blocks until a receiver takes `value`, the channel closes, or `deadline` passes; on
  // anything but ok the value is untouched (still the caller's).
  WaitStatus push_until(T& value, ChanBase& base, Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    if (closed_) return WaitStatus::closed;
    if (taker_ != nullptr && !taker_->filled) {
      hand_over(value, lock);
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
    std::unique_lock lock(mutex_);
    if (offers_.empty()) return closed_ ? PopStatus::closed : PopStatus::empty;
    take_offer(out, lock);
    return PopStatus::ok;
  }

  // Blocks until a sender's message is taken into `out`, the channel is closed, or the deadline.
  WaitStatus pop_until(std::optional<T>& out, Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    if (!offers_.empty()) {
      take_offer(out, lock);
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

  [[nodiscard]] PopStatus poll() {
    std::lock_guard lock(mutex_);
    if (!offers_.empty()) return PopStatus::ok;
    return closed_ ? PopStatus::closed : PopStatus::empty;
  }

  bool close() {
    std::vector<WakerRef> wakers;  // copied under the lock: an Offer may die once unlocked
    {
      std::lock_guard lock(mutex_);
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
    std::lock_guard lock(mutex_);
    return closed_;
  }
  [[nodiscard]] std::size_t size() const noexcept { return 0; }

 private:
  // `taken` and `filled` are written under mutex_ and also read without it while spinning.
  struct Offer {
    T* value;
    std::atomic<bool> taken;
    WakerRef waker;
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

  void hand_over(T& value, std::unique_lock<std::mutex>& lock) {
    WakerRef receiver = taker_->waker;  // copied first: the Taker may die once `filled` is set
    taker_->out->emplace(std::move(value));
    // release: the message is in place before the spinning receiver sees `filled`.
    taker_->filled.store(true, std::memory_order_release);
    lock.unlock();
    receiver.wake();
  }

  void take_offer(std::optional<T>& out, std::unique_lock<std::mutex>& lock) {
    Offer* offer = offers_.front();
    offers_.pop_front();
    WakerRef sender = offer->waker;  // copied first: the Offer dies once its sender sees `taken`
    out.emplace(std::move(*offer->value));
    // release: the sender may reuse its storage once it sees `taken`.
    offer->taken.store(true, std::memory_order_release);
    lock.unlock();
    sender.wake();
  }

  std::mutex mutex_;
  std::deque<Offer*> offers_;  // guarded by mutex_
  Taker* taker_ = nullptr;     // guarded by mutex_
  bool closed_ = false;        // guarded by mutex_
};

}  // namespace troupe::detail
