// troupe/channels/oneshot.hpp — a channel for exactly one message (a future's reply path).
//
//   auto [tx, rx] = troupe::oneshot<Reply>();
//   std::thread([tx = std::move(tx)]() mutable { (void)tx.send(compute()); }).detach();
//   troupe::RecvResult<Reply> reply = rx.recv();   // the value, or Closed if tx died unsent
//
// OneshotSender::send consumes the sender: a second send throws Error(invalid_handle).
// Sending to a dropped receiver fails with Closed and hands the value back. A sender that is
// destroyed without sending closes the channel: the receiver gets Closed, never hangs.
//
// Thread-safety: each end is move-only and used by one thread at a time; the two ends may be
// used concurrently. Memory ordering: everything the sender did before send() happens-before
// the receiver's successful recv returns. Built on channel<T>(1), so it shares its wake
// protocol and costs one allocation.
#pragma once

#include <chrono>
#include <utility>

#include "troupe/channels/channel.hpp"

namespace troupe {

template <class T>
class OneshotReceiver;

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

  // Blocks until the value arrives, or fails with Closed if the sender died without sending.
  RecvResult<T> recv() {
    if (auto value = rx_.recv()) return std::move(*value);
    return {failure, RecvError::closed};
  }
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
