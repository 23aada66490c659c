// troupe/channels/oneshot.hpp — a channel for exactly one message (a future's reply path).
//
//   auto [tx, rx] = troupe::oneshot<Reply>();
//   std::thread([tx = std::move(tx)]() mutable { (void)tx.send(compute()); }).detach();
//   troupe::RecvResult<Reply> reply = co_await rx.recv();  // in a troupe coroutine: the value,
//                                                          // or Closed if tx died unsent
//   troupe::RecvResult<Reply> reply = rx.blocking_recv();  // the same, blocking a thread
//
// OneshotSender::send never blocks (the one slot is always free), so it has no awaited or
// blocking form (as in tokio); it consumes the sender: a second send throws
// Error(invalid_handle). Sending to a dropped receiver fails with Closed and hands the value
// back. A sender that is destroyed without sending closes the channel: the receiver gets
// Closed, never hangs.
//
// Thread-safety: each end is move-only and used by one thread at a time; the two ends may be
// used concurrently. The Awaitable from recv() belongs to the coroutine that awaits it and
// borrows the receiver until the co_await completes. Memory ordering: everything the sender
// did before send() happens-before the receiver's successful receive returns. Built on
// channel<T>(1), so it shares its wake protocol and costs one allocation.
#pragma once

#include <chrono>
#include <optional>
#include <utility>

#include "troupe/channels/channel.hpp"

namespace troupe {

template <class T>
class OneshotReceiver;

namespace detail {
// A oneshot's receive outcome: the value, or Closed once its sender died without sending.
template <class T>
RecvResult<T> oneshot_result(std::optional<T>&& value) {
  if (value) return std::move(*value);
  return {failure, RecvError::closed};
}

// The awaited receive of a oneshot: the channel's RecvOp, with the oneshot's result.
template <class T>
class OneshotRecvOp : public RecvOp<T> {
 public:
  using RecvOp<T>::RecvOp;
  RecvResult<T> take() { return oneshot_result(RecvOp<T>::take()); }
};
}  // namespace detail

template <class T>
class OneshotSender {
 public:
  OneshotSender() noexcept = default;
  OneshotSender(OneshotSender&&) noexcept = default;
  OneshotSender& operator=(OneshotSender&&) noexcept = default;

  // Delivers the value (never blocks). Closed if the receiver is gone. Consumes the sender.
  SendResult<T> send(T value) {
    if (!tx_.valid()) detail::throw_invalid_handle("OneshotSender (already sent)");
    Sender<T> tx = std::move(tx_);
    return tx.try_send(std::move(value));  // capacity 1 and one send: never Full
  }
  // True once the receiver is gone (or closed): a send would fail.
  [[nodiscard]] bool is_closed() const {
    if (!tx_.valid()) detail::throw_invalid_handle("OneshotSender (already sent)");
    return tx_.is_closed();
  }
  [[nodiscard]] bool valid() const noexcept { return tx_.valid(); }

 private:
  template <class U>
  friend std::pair<OneshotSender<U>, OneshotReceiver<U>> oneshot();
  explicit OneshotSender(Sender<T> tx) noexcept : tx_(std::move(tx)) {}
  Sender<T> tx_;
};

template <class T>
class OneshotReceiver {
 public:
  OneshotReceiver() noexcept = default;
  OneshotReceiver(OneshotReceiver&&) noexcept = default;
  OneshotReceiver& operator=(OneshotReceiver&&) noexcept = default;

  // Awaits the value: `co_await rx.recv()` suspends the coroutine until it arrives, or fails
  // with Closed if the sender died without sending. Returns
  // Awaitable<detail::OneshotRecvOp<T>> (deduced, as for Receiver::recv).
  auto recv() {
    return Awaitable<detail::OneshotRecvOp<T>>(std::in_place, detail::ChannelAccess::chan(rx_));
  }
  // The thread form of recv: blocks until the value arrives, or fails with Closed.
  RecvResult<T> blocking_recv() { return detail::oneshot_result(rx_.blocking_recv()); }
  RecvResult<T> try_recv() { return rx_.try_recv(); }
  template <class Rep, class Period>
  RecvResult<T> recv_for(std::chrono::duration<Rep, Period> timeout) {
    return rx_.recv_for(timeout);
  }
  RecvResult<T> recv_until(std::chrono::steady_clock::time_point deadline) {
    return rx_.recv_until(deadline);
  }
  // Refuses the value: a later send fails with Closed and hands it back.
  void close() { rx_.close(); }
  [[nodiscard]] bool valid() const noexcept { return rx_.valid(); }

 private:
  template <class U>
  friend std::pair<OneshotSender<U>, OneshotReceiver<U>> oneshot();
  friend struct detail::ChannelAccess;
  explicit OneshotReceiver(Receiver<T> rx) noexcept : rx_(std::move(rx)) {}
  Receiver<T> rx_;
};

template <class T>
[[nodiscard]] std::pair<OneshotSender<T>, OneshotReceiver<T>> oneshot() {
  auto [tx, rx] = channel<T>(1);
  return {OneshotSender<T>(std::move(tx)), OneshotReceiver<T>(std::move(rx))};
}

template <class T>
inline constexpr bool enable_sendable<OneshotSender<T>> = true;
template <class T>
inline constexpr bool enable_sendable<OneshotReceiver<T>> = true;

}  // namespace troupe
