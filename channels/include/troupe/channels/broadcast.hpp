// troupe/channels/broadcast.hpp — one message to every receiver (tokio's broadcast).
//
//   auto [tx, rx1] = troupe::broadcast<Event>(64);  // keeps the 64 newest messages
//   auto rx2 = tx.subscribe();                      // sees messages sent from now on
//   (void)tx.send(Event{...});                      // never blocks
//   auto r = co_await rx1.recv();  // in a troupe coroutine: the event, or Lagged(n) / Closed
//   auto r = rx2.blocking_recv();  // the same, blocking a thread
//
// Every receiver gets its own copy of every message sent while it is subscribed (T must be
// copy-constructible: the one place troupe copies, because one message reaches many readers).
// Senders never block: a full ring overwrites its oldest message. A receiver that fell that
// far behind is *told*: its next receive fails with BroadcastRecvError{lagged, missed = n} and
// then resumes with the oldest message still kept — loss is reported, never silent. Since a
// send never waits, BroadcastSender::send has no awaited or blocking form (as in tokio).
//
// Close: once every BroadcastSender is gone (or one calls close()), receivers drain what they
// have not seen yet, then get Closed. send fails with Closed (message handed back) when the
// channel is closed or no receiver exists.
//
// Thread-safety: both handle types are thread-safe and copyable; a copied receiver is a new
// subscriber at the same position. The Awaitable from recv() belongs to the coroutine that
// awaits it and borrows the receiver: keep it alive, and in place (the position is the
// receiver's), until the co_await completes. Memory ordering: everything done before send
// happens-before the matching receive returns. Per-sender FIFO. Implementation: one
// mutex-protected ring; a send copies nothing and wakes waiting receivers only (their wakers
// are listed under the mutex: a parked thread's Parker or a suspended task's waker alike).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "troupe/channels/channel.hpp"
#include "troupe/channels/detail/mutex.hpp"

namespace troupe {

struct BroadcastRecvError {
  enum Kind { empty, lagged, closed, timeout } kind;
  std::uint64_t missed = 0;  // with lagged: how many messages this receiver skipped
};

namespace detail {

template <class T>
class BroadcastState {
 public:
  explicit BroadcastState(std::size_t capacity) : capacity_(capacity), ring_(capacity) {}

  // Returns false (value untouched) when closed or nobody listens.
  bool send(T& value) {
    std::vector<WakerRef> wake;
    {
      detail::MutexLock lock(mutex_);
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
    detail::MutexLock lock(mutex_);
    return take(pos);
  }

  // Parks the calling thread until a message, a lag report or the close, or `deadline`.
  Result<T, BroadcastRecvError> recv_until(std::uint64_t& pos, Clock::time_point deadline) {
    Parker& me = Parker::current();
    Waker* registered = nullptr;
    for (;;) {
      auto result = poll_recv(pos, me, registered);
      if (!is_empty(result)) return result;
      if (!park_until(me, deadline)) {
        withdraw(registered);
        result = try_recv(pos);
        if (!is_empty(result)) return result;
        return {failure, BroadcastRecvError{BroadcastRecvError::timeout}};
      }
    }
  }

  // One attempt that, on Empty, lists `waker` with the waiting receivers (woken by the next
  // send or the close) in place of `registered`, the caller's earlier registration if still
  // listed: polling again replaces a registration, never adds a second one.
  Result<T, BroadcastRecvError> poll_recv(std::uint64_t& pos, Waker& waker, Waker*& registered) {
    WakerRef previous;  // released after the unlock
    detail::MutexLock lock(mutex_);
    previous = unlist(registered);
    auto result = take(pos);
    if (is_empty(result)) {
      waiters_.push_back(WakerRef::share(&waker));
      registered = &waker;
    }
    return result;
  }
  // Withdraws what poll_recv registered (no effect if a send or the close already took it).
  void withdraw(Waker*& registered) noexcept {
    if (registered == nullptr) return;
    WakerRef mine;  // released after the unlock
    detail::MutexLock lock(mutex_);
    mine = unlist(registered);
  }
  static bool is_empty(const Result<T, BroadcastRecvError>& result) noexcept {
    return !result && result.error().kind == BroadcastRecvError::empty;
  }

  std::uint64_t subscribe() {
    detail::MutexLock lock(mutex_);
    ++receivers_;
    return next_;
  }
  void unsubscribe() {
    detail::MutexLock lock(mutex_);
    --receivers_;
  }
  void close() {
    std::vector<WakerRef> wake;
    {
      detail::MutexLock lock(mutex_);
      closed_ = true;
      wake.swap(waiters_);
    }
    for (const WakerRef& waker : wake) waker.wake();
  }
  [[nodiscard]] bool closed() {
    detail::MutexLock lock(mutex_);
    return closed_;
  }
  [[nodiscard]] std::size_t receiver_count() {
    detail::MutexLock lock(mutex_);
    return receivers_;
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  // Returns true when the last sender left.
  bool drop_sender() {
    detail::MutexLock lock(mutex_);
    return --senders_ == 0;
  }
  void add_sender() {
    detail::MutexLock lock(mutex_);
    ++senders_;
  }

 private:
  // Takes `registered` out of waiters_ if it is still listed, and clears it; the reference
  // is returned, to be released after the unlock.
  WakerRef unlist(Waker*& registered) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    Waker* waker = std::exchange(registered, nullptr);
    if (waker == nullptr) return {};
    auto it = std::find_if(waiters_.begin(), waiters_.end(),
                           [waker](const WakerRef& listed) { return listed.get() == waker; });
    if (it == waiters_.end()) return {};
    WakerRef listed = std::move(*it);
    waiters_.erase(it);
    return listed;
  }

  Result<T, BroadcastRecvError> take(std::uint64_t& pos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
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

  const std::size_t capacity_;
  detail::PlainMutex mutex_;
  std::vector<std::optional<T>> ring_ ABSL_GUARDED_BY(mutex_);  // capacity_ slots
  std::uint64_t next_ ABSL_GUARDED_BY(mutex_) = 0;  // position of the next message sent
  std::size_t receivers_ ABSL_GUARDED_BY(mutex_) = 0;
  std::size_t senders_ ABSL_GUARDED_BY(mutex_) = 0;
  bool closed_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<WakerRef> waiters_ ABSL_GUARDED_BY(mutex_);  // waiting receivers
};

// An awaited receive (BroadcastReceiver::recv), the PollOp behind `co_await rx.recv()`:
// take() yields the message, Lagged(n) or Closed. ready_now is try_recv; poll is poll_recv,
// which keeps one registration in `registered_`. Completing after a poll, being cancelled or
// being destroyed withdraws it. It may be moved (into a combinator such as a timeout): the
// registration names the waker, not the operation. Owner thread only; the receiver it borrows
// must outlive it.
template <class T>
class BroadcastRecvOp {
 public:
  BroadcastRecvOp(BroadcastState<T>& state, std::uint64_t& pos) noexcept
      : state_(&state), pos_(&pos) {}
  BroadcastRecvOp(BroadcastRecvOp&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
      : state_(other.state_),
        pos_(other.pos_),
        registered_(std::exchange(other.registered_, nullptr)),
        result_(std::move(other.result_)) {}
  BroadcastRecvOp& operator=(BroadcastRecvOp&&) = delete;
  ~BroadcastRecvOp() { state_->withdraw(registered_); }

  bool ready_now() { return completed(state_->try_recv(*pos_)); }
  bool poll(Waker& waker) { return completed(state_->poll_recv(*pos_, waker, registered_)); }
  void cancel(Waker& /*waker*/) noexcept { state_->withdraw(registered_); }
  Result<T, BroadcastRecvError> take() { return std::move(*result_); }

 private:
  bool completed(Result<T, BroadcastRecvError>&& result) {
    if (BroadcastState<T>::is_empty(result)) return false;
    state_->withdraw(registered_);  // ready_now after a poll: the registration is not needed
    result_.emplace(std::move(result));
    return true;
  }

  BroadcastState<T>* state_;
  std::uint64_t* pos_;
  Waker* registered_ = nullptr;  // listed by the last poll, unless a send or close took it
  std::optional<Result<T, BroadcastRecvError>> result_;
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

  // Awaits the next message: `co_await rx.recv()` suspends the coroutine until there is one;
  // Lagged(n) if n messages were overwritten before this receiver saw them; Closed once closed
  // and everything seen. Returns Awaitable<detail::BroadcastRecvOp<T>> (deduced, as for
  // Receiver::recv).
  auto recv() { return Awaitable<detail::BroadcastRecvOp<T>>(std::in_place, checked(), pos_); }
  // The thread form of recv: blocks the calling thread, with the same outcomes.
  RecvResult blocking_recv() { return checked().recv_until(pos_, detail::kForever); }
  RecvResult try_recv() { return checked().try_recv(pos_); }
  template <class Rep, class Period>
  RecvResult recv_for(std::chrono::duration<Rep, Period> timeout) {
    return checked().recv_until(
        pos_, detail::deadline_after(timeout, "BroadcastReceiver::recv_for"));
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
