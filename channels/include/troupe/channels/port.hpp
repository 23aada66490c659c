// troupe/channels/port.hpp — message_channel<A, B>(): two entangled, typed, bidirectional
// Ports, Node's MessageChannel (port1/port2) with types.
//
//   auto [port1, port2] = troupe::message_channel<Request, Reply>();
//   // port1 sends Request and receives Reply; port2 sends Reply and receives Request.
//   (void)co_await port1.send(Request{...});       // in a troupe coroutine
//   auto request = co_await port2.recv();
//   (void)port1.blocking_send(Request{...});       // on a plain thread
//   auto reply = port1.blocking_recv();
//
// The operations are those of the Sender and Receiver inside (channel.hpp): send/recv are
// awaited (they borrow the Port until the co_await completes), blocking_send/blocking_recv
// block the thread, try_send/try_recv never block, send_for/recv_for wait at most a timeout.
//
// A Port is Sendable: send one through another channel or port and the two ends keep talking
// directly (that is how two actors are introduced to each other). Moving a Port *transfers* it:
// the moved-from Port is dead and any use throws Error(invalid_handle, "Port: used after it was
// transferred …").
//
// Close. close() — or destroying a Port — closes both directions: the other end drains what
// was already sent to it, then a receive returns std::nullopt (end of stream); its sends fail with
// Closed and hand the message back. Messages still queued *towards* the closed end are destroyed
// when that end is destroyed.
//
// Capacity: unbounded by default (like Node's ports); message_channel<A, B>(n) bounds each
// direction to n queued messages (0 = rendezvous), so a fast side feels backpressure.
// Thread-safety: a Port is used by one thread at a time (like a Receiver); the two ends of one
// channel may be used concurrently; an Awaitable from send/recv belongs to the coroutine that
// awaits it. Memory ordering: as for channel.hpp, per direction.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>

#include "troupe/channels/channel.hpp"

namespace troupe {

// Sends S, receives R.
template <class S, class R>
class Port {
 public:
  using send_type = S;
  using recv_type = R;

  Port() noexcept = default;
  Port(Port&&) noexcept = default;
  Port& operator=(Port&&) noexcept = default;

  // The awaited forms return the channel's Awaitables (deduced: see Sender::send).
  auto send(S message) { return tx().send(std::move(message)); }
  SendResult<S> blocking_send(S message) { return tx().blocking_send(std::move(message)); }
  SendResult<S> try_send(S message) { return tx().try_send(std::move(message)); }
  template <class Rep, class Period>
  SendResult<S> send_for(S message, std::chrono::duration<Rep, Period> timeout) {
    return tx().send_for(std::move(message), timeout);
  }
  auto recv() { return rx().recv(); }
  std::optional<R> blocking_recv() { return rx().blocking_recv(); }
  RecvResult<R> try_recv() { return rx().try_recv(); }
  template <class Rep, class Period>
  RecvResult<R> recv_for(std::chrono::duration<Rep, Period> timeout) {
    return rx().recv_for(timeout);
  }

  // Closes both directions (see the header comment). Idempotent.
  void close() {
    tx().close();
    rx().close();
  }
  // False once this Port was transferred (moved from) or for a default-constructed one.
  [[nodiscard]] bool valid() const noexcept { return tx_.valid(); }

  // The two halves, for APIs that take a plain Sender or Receiver (e.g. select).
  Sender<S>& sender() { return tx(); }
  Receiver<R>& receiver() { return rx(); }

 private:
  template <class A, class B>
  friend std::pair<Port<A, B>, Port<B, A>> message_channel();
  template <class A, class B>
  friend std::pair<Port<A, B>, Port<B, A>> message_channel(std::int64_t capacity);
  Port(Sender<S> tx, Receiver<R> rx) noexcept : tx_(std::move(tx)), rx_(std::move(rx)) {}

  Sender<S>& tx() {
    if (!tx_.valid()) detail::throw_invalid_handle("Port (transferred)");
    return tx_;
  }
  Receiver<R>& rx() {
    if (!rx_.valid()) detail::throw_invalid_handle("Port (transferred)");
    return rx_;
  }

  Sender<S> tx_;
  Receiver<R> rx_;
};

// Two entangled ports: the first sends A and receives B, the second sends B and receives A.
// Each direction is unbounded.
template <class A, class B>
[[nodiscard]] std::pair<Port<A, B>, Port<B, A>> message_channel() {
  auto [a_tx, a_rx] = unbounded_channel<A>();
  auto [b_tx, b_rx] = unbounded_channel<B>();
  return {Port<A, B>(std::move(a_tx), std::move(b_rx)),
          Port<B, A>(std::move(b_tx), std::move(a_rx))};
}

// As above, but each direction holds at most `capacity` messages (0 = rendezvous); a negative
// or oversized capacity throws Error(invalid_argument) as for channel().
template <class A, class B>
[[nodiscard]] std::pair<Port<A, B>, Port<B, A>> message_channel(std::int64_t capacity) {
  auto [a_tx, a_rx] = channel<A>(capacity);
  auto [b_tx, b_rx] = channel<B>(capacity);
  return {Port<A, B>(std::move(a_tx), std::move(b_rx)),
          Port<B, A>(std::move(b_tx), std::move(a_rx))};
}

template <class S, class R>
inline constexpr bool enable_sendable<Port<S, R>> = true;

}  // namespace troupe
