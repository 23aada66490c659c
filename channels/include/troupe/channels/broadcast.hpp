// troupe/channels/broadcast.hpp — one message to every receiver (tokio's broadcast).
//
//   auto [tx, rx1] = troupe::broadcast<Event>(64);  // keeps the 64 newest messages
//   auto rx2 = tx.subscribe();                      // sees messages sent from now on
//   (void)tx.send(Event{...});                      // never blocks
//   auto r = rx1.recv();  // the event, or Lagged(n) / Closed
//
// Every receiver gets its own copy of every message sent while it is subscribed (T must be
// copy-constructible: the one place troupe copies, because one message reaches many readers).
// Senders never block: a full ring overwrites its oldest message. A receiver that fell that
// far behind is *told*: its next recv fails with BroadcastRecvError{lagged, missed = n} and
// then resumes with the oldest message still kept — loss is reported, never silent.
//
// Close: once every BroadcastSender is gone (or one calls close()), receivers drain what they
// have not seen yet, then get Closed. send fails with Closed (message handed back) when the
// channel is closed or no receiver exists.
//
// Thread-safety: both handle types are thread-safe and copyable; a copied receiver is a new
// subscriber at the same position. Memory ordering: everything done before send happens-before
// the matching recv returns. Per-sender FIFO. Implementation: one mutex-protected ring; a send
// copies nothing and wakes parked receivers only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <optional>
#include <utility>
#include <vector>

#include "troupe/channels/channel.hpp"

namespace troupe {

struct BroadcastRecvError {
  enum Kind { empty, lagged, closed, timeout } kind;
  std::uint64_t missed = 0;  // with lagged: how many messages this receiver skipped
};

namespace detail {

template <class T>
class BroadcastState {
 public:
  explicit BroadcastState(std::size_t capacity) : ring_(capacity) {}

  // Returns false (value untouched) when closed or nobody listens.
  bool send(T& value) {
    std::vector<WakerRef> wake;
    {
      std::lock_guard lock(mutex_);
      if (closed_ || receivers_ == 0) return false;
      ring_[next_ % ring_.size()] = std::move(value);
      ++next_;
      wake.swap(waiters_);
    }
    for (const WakerRef& waker : wake) waker.wake();
    return true;
  }

  // One attempt for the receiver at position `pos`.
  Result<T, BroadcastRecvError> try_recv(std::uint64_t& pos) {
    std::lock_guard lock(mutex_);
    return take(pos);
  }

  Result<T, BroadcastRecvError> recv_until(std::uint64_t& pos, Clock::time_point deadline) {
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        auto result = take(pos);
        if (result || result.error().kind != BroadcastRecvError::empty) return result;
        waiters_.push_back(WakerRef::share(&Parker::current()));
      }
      if (!park_until(Parker::current(), deadline)) {
        std::lock_guard lock(mutex_);
        auto result = take(pos);
        if (result || result.error().kind != BroadcastRecvError::empty) return result;
        return {failure, BroadcastRecvError{BroadcastRecvError::timeout}};
      }
    }
  }

  std::uint64_t subscribe() {
    std::lock_guard lock(mutex_);
    ++receivers_;
    return next_;
  }
  void unsubscribe() {
    std::lock_guard lock(mutex_);
    --receivers_;
  }
  void close() {
    std::vector<WakerRef> wake;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      wake.swap(waiters_);
    }
    for (const WakerRef& waker : wake) waker.wake();
  }
  [[nodiscard]] bool closed() {
    std::lock_guard lock(mutex_);
    return closed_;
  }
  [[nodiscard]] std::size_t receiver_count() {
    std::lock_guard lock(mutex_);
    return receivers_;
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return ring_.size(); }
  // Returns true when the last sender left.
  bool drop_sender() {
    std::lock_guard lock(mutex_);
    return --senders_ == 0;
  }
  void add_sender() {
    std::lock_guard lock(mutex_);
    ++senders_;
  }

 private:
  Result<T, BroadcastRecvError> take(std::uint64_t& pos) {
    const std::uint64_t oldest = next_ > ring_.size() ? next_ - ring_.size() : 0;
    if (pos < oldest) {
      const std::uint64_t missed = oldest - pos;
      pos = oldest;
      return {failure, BroadcastRecvError{BroadcastRecvError::lagged, missed}};
    }
    if (pos == next_) {
      return {failure,
              BroadcastRecvError{closed_ ? BroadcastRecvError::closed : BroadcastRecvError::empty}};
    }
    return T(*ring_[pos++ % ring_.size()]);
  }

  std::mutex mutex_;
  std::vector<std::optional<T>> ring_;  // guarded by mutex_
  std::uint64_t next_ = 0;              // position of the next message sent; guarded
  std::size_t receivers_ = 0;           // guarded
  std::size_t senders_ = 0;             // guarded
  bool closed_ = false;                 // guarded
  std::vector<WakerRef> waiters_;       // parked receivers; guarded
};

}  // namespace detail

template <class T>
class BroadcastReceiver;

template <class T>
class BroadcastSender {
  static_assert(Sendable<T> && std::is_copy_constructible_v<T>,
                "troupe::broadcast<T>: T must be Sendable and copy-constructible");

 public:
  BroadcastSender() noexcept = default;
  BroadcastSender(const BroadcastSender& other) : state_(other.state_) {
    if (state_) state_->add_sender();
  }
  BroadcastSender(BroadcastSender&& other) noexcept = default;
  BroadcastSender& operator=(BroadcastSender other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~BroadcastSender() {
    if (state_ && state_->drop_sender()) state_->close();
  }

  // Never blocks. Fails with Closed (message handed back) if closed or nobody subscribes.
  SendResult<T> send(T message) {
    if (checked().send(message)) return {};
    return {failure, SendErrorKind::closed, std::move(message)};
  }
  // A new receiver that sees every message sent from now on.
  [[nodiscard]] BroadcastReceiver<T> subscribe() { return BroadcastReceiver<T>(state_); }
  void close() { checked().close(); }
  [[nodiscard]] std::size_t receiver_count() { return checked().receiver_count(); }
  [[nodiscard]] std::size_t capacity() { return checked().capacity(); }
  [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }

 private:
  template <class U>
  friend std::pair<BroadcastSender<U>, BroadcastReceiver<U>> broadcast(std::int64_t);
  explicit BroadcastSender(std::shared_ptr<detail::BroadcastState<T>> state)
      : state_(std::move(state)) {
    state_->add_sender();
  }
  detail::BroadcastState<T>& checked() const {
    if (!state_) detail::throw_invalid_handle("BroadcastSender");
    return *state_;
  }
  std::shared_ptr<detail::BroadcastState<T>> state_;
};

template <class T>
class BroadcastReceiver {
 public:
  using RecvResult = Result<T, BroadcastRecvError>;

  BroadcastReceiver() noexcept = default;
  BroadcastReceiver(const BroadcastReceiver& other) : state_(other.state_), pos_(other.pos_) {
    if (state_) state_->subscribe();
  }
  BroadcastReceiver(BroadcastReceiver&& other) noexcept
      : state_(std::move(other.state_)), pos_(other.pos_) {}
  BroadcastReceiver& operator=(BroadcastReceiver other) noexcept {
    std::swap(state_, other.state_);
    std::swap(pos_, other.pos_);
    return *this;
  }
  ~BroadcastReceiver() {
    if (state_) state_->unsubscribe();
  }

  // Blocks until the next message; Lagged(n) if n messages were overwritten before this
  // receiver saw them; Closed once closed and everything seen.
  RecvResult recv() { return checked().recv_until(pos_, detail::kForever); }
  RecvResult try_recv() { return checked().try_recv(pos_); }
  template <class Rep, class Period>
  RecvResult recv_for(std::chrono::duration<Rep, Period> timeout) {
    return checked().recv_until(
        pos_, detail::deadline_after(std::chrono::duration_cast<detail::Clock::duration>(timeout),
                                     "BroadcastReceiver::recv_for"));
  }
  [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }

 private:
  friend class BroadcastSender<T>;
  template <class U>
  friend std::pair<BroadcastSender<U>, BroadcastReceiver<U>> broadcast(std::int64_t);
  explicit BroadcastReceiver(std::shared_ptr<detail::BroadcastState<T>> state)
      : state_(std::move(state)) {
    if (!state_) detail::throw_invalid_handle("BroadcastSender");
    pos_ = state_->subscribe();
  }
  detail::BroadcastState<T>& checked() const {
    if (!state_) detail::throw_invalid_handle("BroadcastReceiver");
    return *state_;
  }
  std::shared_ptr<detail::BroadcastState<T>> state_;
  std::uint64_t pos_ = 0;
};

// A broadcast channel keeping the `capacity` newest messages (1 <= capacity <= 2^30). Throws
// Error(invalid_argument) outside that range, Error(resource_exhausted) if the ring cannot be
// allocated.
template <class T>
[[nodiscard]] std::pair<BroadcastSender<T>, BroadcastReceiver<T>> broadcast(std::int64_t capacity) {
  detail::check_capacity(capacity, "broadcast");
  if (capacity == 0) {
    throw Error(ErrorCode::invalid_argument,
                "broadcast: capacity 0 cannot keep a message for its receivers (use 1 or more)");
  }
  std::shared_ptr<detail::BroadcastState<T>> state;
  try {
    state = std::make_shared<detail::BroadcastState<T>>(static_cast<std::size_t>(capacity));
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::resource_exhausted,
                "broadcast: cannot allocate a ring of " + std::to_string(capacity) + " messages");
  }
  BroadcastSender<T> tx(state);
  BroadcastReceiver<T> rx(std::move(state));
  return {std::move(tx), std::move(rx)};
}

template <class T>
inline constexpr bool enable_sendable<BroadcastSender<T>> = true;
template <class T>
inline constexpr bool enable_sendable<BroadcastReceiver<T>> = true;

}  // namespace troupe
