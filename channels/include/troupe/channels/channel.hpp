// troupe/channels/channel.hpp — MPSC channels: Sender<T> + Receiver<T>, and the
// single-producer flavor SpscSender<T> + Receiver<T>.
//
//   auto [tx, rx] = troupe::channel<Job>(1024);      // bounded: at most 1024 queued
//   auto [tx, rx] = troupe::unbounded_channel<Job>(); // never full
//   auto [tx, rx] = troupe::channel<Job>(0);          // rendezvous: send waits for a receiver
//   auto [tx, rx] = troupe::spsc_channel<Job>(1024);  // bounded, one producer: no clone()
//
//   // In a troupe coroutine (a task): the waits suspend the task, not the thread.
//   co_await tx.send(std::move(job));                 // waits while full
//   while (auto job = co_await rx.recv()) run(*job);  // ends once every Sender is gone and
//                                                     // all is drained
//   // On a plain thread: the same operations, blocking (tokio's names).
//   tx.blocking_send(std::move(job));
//   while (auto job = rx.blocking_recv()) run(*job);
//   if (auto r = tx.try_send(std::move(job)); !r) {
//     Job back = std::move(r.error()).into_message();   // Full or Closed: the job comes back
//   }
//
// Messages are *moved* through a channel (transfer, not copy): a Buffer sent is the same
// allocation on the other side. T must be Sendable (see sendable.hpp).
//
// Sending. `co_await send` (suspends while full), blocking_send (blocks the thread while full),
// try_send (never blocks: Full/Closed), send_for/send_until (Timeout/Closed). Every failure
// returns SendError<T> holding the message: nothing is lost.
// Receiving. `co_await recv` and blocking_recv (std::nullopt = end of stream), try_recv
// (Empty/Closed), recv_for/recv_until (Timeout/Closed).
//
// Awaiting. send() and recv() return an Awaitable (awaitable.hpp) for `co_await` in a troupe
// coroutine; nothing happens until it is awaited. The operation borrows the handle, which must
// stay alive until the co_await completes (moving the handle meanwhile is fine). A coroutine
// destroyed while it waits withdraws its registration, so the channel carries on normally; a
// send withdrawn that way never delivers its message, except on a rendezvous channel whose
// receiver took it in the meantime. On a rendezvous channel an awaited send waits for the
// receiver (awaiting or blocked) to take the message, like blocking_send.
//
// Disconnection and close. The channel closes when (a) the last Sender is destroyed, (b) any
// Sender calls close(), or (c) the Receiver calls close() or is destroyed. After it closes,
// every send fails with Closed and hands the message back; blocked (or awaiting) senders wake
// with Closed. The Receiver still receives every message that was queued before the close,
// then sees the end of the stream (recv → nullopt, try_recv → Closed). A message is either
// received or returned to its sender — except when the Receiver is *destroyed*: the messages
// still queued then are destroyed with it (nobody can receive them).
//
// Ordering and memory ordering. Messages from one Sender are received in the order sent (per
// sender FIFO); messages from different senders interleave in no promised order. Everything a
// thread did before a successful send happens-before the receive of that message returns.
//
// Capacity. channel<T>(n): n in [0, kMaxChannelCapacity]; n slots are allocated up front.
// capacity 0 is a rendezvous: send completes when a receiver takes the message, try_send
// succeeds only while the receiver is blocked in blocking_recv (an awaiting receiver is woken
// by a waiting sender instead). unbounded_channel<T>() allocates one block per 63 messages and
// never reports Full.
//
// Idle policy. A blocking send or receive spins briefly, yields the core a few times, then
// parks the thread (see SpinWait in waker.hpp); an awaited one tries once, then registers the
// task's waker and suspends. A sender wakes a receiver only if it parked or suspended, so a
// busy channel costs no system calls.
//
// Thread-safety. Sender: thread-safe, and cheap to copy (a copy is another sender). Receiver:
// move-only; one thread at a time uses it (it may move between threads). len(), capacity(),
// is_closed(): thread-safe snapshots. The Awaitables that send() and recv() return belong to
// the one coroutine that awaits them (Owner thread only), as every Awaitable does.
// Allocation. Bounded: none after creation. Unbounded: one block per 63 messages.
// Errors. Using a moved-from or default-constructed handle throws troupe::Error
// (invalid_handle); a negative or oversized capacity or timeout throws invalid_argument.
//
// Single producer. spsc_channel<T>(n) is a bounded channel (n in [1, kMaxChannelCapacity])
// whose sending handle, SpscSender<T>, cannot be cloned: the type guarantees one producer, so
// a send and a receive need no locked instruction (samples/bench measures what that is worth:
// troupe_spsc against troupe_bounded). Its Receiver<T> is the same type as for every other
// channel (select, poll_recv, ... work unchanged). Semantics are those above, with one sender;
// SpscSender is "Owner thread only" (it may move between threads). Costs that move elsewhere:
// a receiver that parks or suspends (blocking_recv or an awaited recv on an empty channel,
// poll_recv returning Empty, select) and the receiver's close/destruction pay a process-wide
// memory barrier (membarrier, ~1-3 us), and receiving after the receiver closed uses a CAS per
// message.
//
// What this does not guarantee: fairness between senders blocked on a full channel beyond
// "woken in the order they parked" (an awaited send polled again joins the back of the line);
// a global order across senders; any bound on how long a preempted sender delays the receiver
// when it stalls between claiming and writing its slot.
// len() of a single-producer channel may, right after the receiver closed, still count a
// message that its sender is taking back.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/detail/chan.hpp"
#include "troupe/channels/detail/duration.hpp"
#include "troupe/channels/error.hpp"
#include "troupe/channels/result.hpp"
#include "troupe/channels/sendable.hpp"

namespace troupe {

// The largest capacity of a bounded channel (its slots are allocated up front).
inline constexpr std::int64_t kMaxChannelCapacity = std::int64_t{1} << 30;

enum class SendErrorKind { full, closed, timeout };
enum class RecvError { empty, closed, timeout };

[[nodiscard]] std::string_view to_string(SendErrorKind kind) noexcept;
[[nodiscard]] std::string_view to_string(RecvError error) noexcept;

// A failed send: why, and the message, handed back to the caller.
template <class T>
class SendError {
 public:
  SendError(SendErrorKind kind, T&& message) : kind_(kind), message_(std::move(message)) {}

  [[nodiscard]] SendErrorKind kind() const noexcept { return kind_; }
  [[nodiscard]] bool is_full() const noexcept { return kind_ == SendErrorKind::full; }
  [[nodiscard]] bool is_closed() const noexcept { return kind_ == SendErrorKind::closed; }
  [[nodiscard]] bool is_timeout() const noexcept { return kind_ == SendErrorKind::timeout; }
  [[nodiscard]] T& message() & noexcept { return message_; }
  [[nodiscard]] const T& message() const& noexcept { return message_; }
  [[nodiscard]] T into_message() && noexcept { return std::move(message_); }

 private:
  SendErrorKind kind_;
  T message_;
};

template <class T>
using SendResult = Result<void, SendError<T>>;
template <class T>
using RecvResult = Result<T, RecvError>;

namespace detail {
[[noreturn]] void throw_invalid_handle(const char* what);
void check_capacity(std::int64_t capacity, const char* what);
// check_capacity, and capacity 0 (no rendezvous form) rejected too.
void check_spsc_capacity(std::int64_t capacity);
Clock::time_point deadline_after(Clock::duration timeout, const char* what);
// The same for any duration, converted without overflow: one too long for the clock is forever.
template <class Rep, class Period>
Clock::time_point deadline_after(std::chrono::duration<Rep, Period> timeout, const char* what) {
  return deadline_after(saturating_duration(timeout, false), what);
}
struct ChannelAccess;

// What a failed send status reports (SendStatus::ok is no failure: not to be passed).
constexpr SendErrorKind error_kind_of(SendStatus status) noexcept {
  switch (status) {
    case SendStatus::full:
      return SendErrorKind::full;
    case SendStatus::timeout:
      return SendErrorKind::timeout;
    case SendStatus::ok:
    case SendStatus::closed:
      break;
  }
  return SendErrorKind::closed;
}

// The outcome of a send as the caller sees it: on failure, `message` goes into the error.
template <class T>
SendResult<T> send_result(SendStatus status, T& message) {
  if (status == SendStatus::ok) return {};
  return {failure, error_kind_of(status), std::move(message)};
}

template <class Handle, class T>
class SendOp;

// The send API that Sender<T> and SpscSender<T> share. `Handle` supplies `checked()` (its
// channel, or Error(invalid_handle)), `static push(chan, message, deadline, block)` (its one
// send path) and `kName`. Thread-safety: as stated by each handle (Sender: thread-safe;
// SpscSender: owner thread only).
template <class Handle, class T>
class SendHalf {
 public:
  using value_type = T;

  // Awaits room in the channel, then sends: `co_await tx.send(std::move(job))` suspends the
  // coroutine while the channel is full (a rendezvous channel: until the receiver takes the
  // message) and yields SendResult<T>, failing only with Closed — the message handed back.
  // The operation borrows this handle: keep it alive until the co_await completes.
  // Returns Awaitable<SendOp<Handle, T>> (deduced, so that T may still be incomplete where the
  // handle type is instantiated: `struct Ping { Sender<Ping> reply_to; };`).
  auto send(T message) {
    return Awaitable<SendOp<Handle, T>>(std::in_place, self().checked(), std::move(message));
  }
  // The thread form of send: blocks the calling thread while the channel is full (spin, then
  // park). Fails only with Closed.
  SendResult<T> blocking_send(T message) {
    return send_result(Handle::push(self().checked(), message, kForever, true), message);
  }
  // Never blocks. Fails with Full or Closed.
  SendResult<T> try_send(T message) {
    return send_result(try_push(self().checked(), message), message);
  }
  // Blocks at most `timeout` (>= 0; negative throws invalid_argument). Fails with Timeout or
  // Closed.
  template <class Rep, class Period>
  SendResult<T> send_for(T message, std::chrono::duration<Rep, Period> timeout) {
    return send_until(
        std::move(message),
        deadline_after(timeout, Handle::kName));
  }
  SendResult<T> send_until(T message, std::chrono::steady_clock::time_point deadline) {
    return send_result(Handle::push(self().checked(), message, deadline, true), message);
  }

  // The asynchronous form of try_send, for runtimes (coroutines, actors): on Full, `waker` is
  // registered and woken once a slot frees or the channel closes — then try again. Call
  // cancel_wait(waker) if the caller stops waiting. A rendezvous channel never registers the
  // waker (it needs a blocked receiver, as for try_send); `co_await send(x)` does wait there.
  SendResult<T> poll_send(T message, Waker& waker) {
    return send_result(self().checked().poll_send(message, waker), message);
  }
  // Withdraws a waker registered by poll_send (no effect if it was already woken).
  void cancel_wait(Waker& waker) { (void)self().checked().deregister_sender(waker); }

  // Closes the channel for every sender; the receiver drains what is queued, then sees the end.
  // Blocked senders return Closed. Idempotent.
  void close() { self().checked().close(); }
  // Thread-safe snapshots.
  [[nodiscard]] bool is_closed() const { return self().checked().closed(); }
  [[nodiscard]] std::size_t len() const { return self().checked().size(); }
  // The bound, or nullopt for an unbounded channel.
  [[nodiscard]] std::optional<std::size_t> capacity() const { return self().checked().capacity(); }

 private:
  friend class SendOp<Handle, T>;
  // One attempt through the handle's own send path (try_send, and an awaited send's first try).
  static SendStatus try_push(Chan<T>& chan, T& message) {
    return Handle::push(chan, message, kForever, false);
  }
  Handle& self() noexcept { return static_cast<Handle&>(*this); }
  const Handle& self() const noexcept { return static_cast<const Handle&>(*this); }
};

// An awaited send, the PollOp (awaitable.hpp) behind `co_await tx.send(x)`. It holds the
// message until it completes, then take() yields the SendResult (Closed hands it back). The
// first attempt (ready_now) is the handle's own try_send path; poll registers the waker in the
// channel's sender list — on a rendezvous channel it queues an offer for the receiver — and
// keeps that one registration in `wait_`, so polling again replaces it and ready_now after a
// poll only re-checks. Cancelled or destroyed while waiting, it withdraws the registration, and
// passes on a slot's wake it took but will not use. It owns its message (kOwnsPayload: a
// combinator that could abandon it, such as a timeout, refuses it) and never moves (a queued
// offer points into it). Owner thread only: it belongs to the coroutine (or thread) awaiting
// it; the channel must outlive it (its handle is borrowed).
// On a full channel, an awaited send first retries (waking itself to be polled again) before
// it registers its waker, as many polls as the channel's adaptive limit allows
// (ChanBase::send_retry_limit, 16 to 256). Measured in BENCHMARKS.md: 16 fixed retries made
// `troupe load fanin --style task` 4x faster than registering at once; the adaptive limit ran
// it faster again. A task with no other task runnable on its runtime worker (has_company)
// retries only the fewest (kSendRetriesMin): its consumer runs elsewhere, and the wake of a
// freed slot brings the task to the consumer's worker.

template <class Handle, class T>
class SendOp {
 public:
  static constexpr bool kOwnsPayload = true;

  SendOp(Chan<T>& chan, T&& message) : chan_(&chan), message_(std::move(message)) {}
  SendOp(const SendOp&) = delete;
  SendOp& operator=(const SendOp&) = delete;
  ~SendOp() {
    if (wait_.pending()) chan_->cancel_send(wait_);
  }

  bool ready_now() {
    status_ = wait_.pending() ? chan_->retry_send(message_, wait_)
                              : SendHalf<Handle, T>::try_push(*chan_, message_);
    return status_ != SendStatus::full;
  }
  bool poll(Waker& waker) {
    if (!wait_.pending() && retries_ != kRetriesDone && !chan_->is_rendezvous()) {
      // Still full: ask to be polled again (a wake of our own) instead of registering. A task
      // goes behind the runnable ones — usually including the receiver, about to free slots;
      // a thread spins a little longer. Registering costs the sender a heavy fence
      // (chan_base.hpp), worth paying only once the wait is not brief. (A rendezvous send
      // queues its offer at once: the receiver can only take a message it sees.)
      if (retries_ < chan_->send_retry_limit() &&
          (retries_ < ChanBase::kSendRetriesMin || has_company(waker))) {
        ++retries_;
        status_ = SendHalf<Handle, T>::try_push(*chan_, message_);
        if (status_ != SendStatus::full) {
          chan_->send_retries_paid_off();
          return true;
        }
        if (!yield_turn(waker)) wake_to_retry(waker);  // the runtime's costs no wake
        return false;
      }
      retries_ = kRetriesDone;  // told once per send: it registers from now on
      chan_->send_retries_ran_out();
    }
    status_ = chan_->poll_send(message_, waker, wait_);
    return status_ != SendStatus::full;
  }
  void cancel(Waker& /*waker*/) noexcept { chan_->cancel_send(wait_); }
  SendResult<T> take() { return send_result(status_, message_); }

 private:
  Chan<T>* chan_;
  T message_;
  SendWait<T> wait_;
  static constexpr std::uint32_t kRetriesDone = ~std::uint32_t{0};
  SendStatus status_ = SendStatus::full;
  std::uint32_t retries_ = 0;  // polls retried so far, or kRetriesDone once it registered
};

// An awaited receive, the PollOp behind `co_await rx.recv()`: take() yields std::optional<T>,
// nullopt once the channel is closed and drained. ready_now is try_recv; poll is poll_recv,
// whose registration (the channel's one receiver waker) a later poll replaces by construction.
// Completing after a poll, being cancelled or being destroyed withdraws it. It may be moved
// (into a combinator such as a timeout): the registration names the waker, not the operation.
// Owner thread only, like the Receiver it borrows (which must outlive it).
template <class T>
class RecvOp {
 public:
  explicit RecvOp(Chan<T>& chan) noexcept : chan_(&chan) {}
  RecvOp(RecvOp&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
      : chan_(other.chan_),
        out_(std::move(other.out_)),
        registered_(std::exchange(other.registered_, false)),
        found_empty_(std::exchange(other.found_empty_, false)),
        yielded_(std::exchange(other.yielded_, false)) {}
  RecvOp& operator=(RecvOp&&) = delete;
  ~RecvOp() { withdraw(); }

  bool ready_now() {
    if (try_take()) return true;
    found_empty_ = true;
    return false;
  }
  bool poll(Waker& waker) {
    bool just_found_empty = std::exchange(found_empty_, false);
    if (!registered_) {
      if (yielded_) {
        // Polled again after giving up its turn (below): the message came, or it registers.
        yielded_ = false;
        const bool paid_off = try_take();
        chan_->turn_yielded(paid_off);
        if (paid_off) return true;
        just_found_empty = true;
      } else if (chan_->may_yield_turn()) {
        // Empty: rather than register, let the task just woken (likely the one to reply) run
        // first, if the runtime has one queued here (awaitable.hpp, yield_turn).
        if (!just_found_empty && try_take()) return true;
        just_found_empty = true;
        if (yield_turn(waker)) {
          yielded_ = true;
          return false;
        }
      }
    }
    if (chan_->poll_recv(out_, waker, just_found_empty) == RecvStatus::empty) {
      registered_ = true;
      return false;
    }
    withdraw();
    return true;
  }
  void cancel(Waker& /*waker*/) noexcept {
    yielded_ = false;
    withdraw();
  }
  std::optional<T> take() { return std::move(out_); }
  // The result in place, instead of take(): for a caller that uses it while the operation
  // lives (the actors' loop), saving a move.
  std::optional<T>& result() noexcept { return out_; }

 private:
  void withdraw() noexcept {
    if (std::exchange(registered_, false)) chan_->deregister_receiver();
  }
  // One non-blocking attempt that registers nothing: true if it took a message or the end.
  bool try_take() {
    if (chan_->recv(out_, kForever, false) == RecvStatus::empty) return false;
    withdraw();
    return true;
  }

  Chan<T>* chan_;
  std::optional<T> out_;
  bool registered_ = false;  // a poll left the waker with the channel (it may be woken already)
  bool found_empty_ = false;  // ready_now just saw the channel empty (poll skips a retry)
  bool yielded_ = false;      // the last poll gave up the turn, registering nothing
};
}  // namespace detail

template <class T>
class Receiver;

// A sending handle of channel<T>(n) / unbounded_channel<T>(). The send API (send, try_send,
// send_for, send_until, poll_send, cancel_wait, close, is_closed, len, capacity) is
// detail::SendHalf's. Thread-safe: any number of threads may send through one Sender, and a
// copy is another sender on the same channel.
template <class T>
class Sender : public detail::SendHalf<Sender<T>, T> {
 public:
  // An empty handle; every operation on it throws Error(invalid_handle).
  Sender() noexcept = default;
  Sender(const Sender& other) noexcept : chan_(other.chan_) { attach(); }
  Sender(Sender&& other) noexcept : chan_(std::exchange(other.chan_, nullptr)) {}
  Sender& operator=(Sender other) noexcept {
    std::swap(chan_, other.chan_);
    return *this;
  }
  ~Sender() { detach(); }

  // Another sender on the same channel (same as copying). Thread-safe.
  [[nodiscard]] Sender clone() const { return Sender(checked()); }

  // False for a moved-from or default-constructed handle.
  [[nodiscard]] bool valid() const noexcept { return chan_ != nullptr; }

 private:
  friend struct detail::ChannelAccess;
  friend class detail::SendHalf<Sender<T>, T>;
  static constexpr const char* kName = "Sender::send_for";
  explicit Sender(detail::Chan<T>& chan) noexcept : chan_(&chan) { attach(); }

  static detail::SendStatus push(detail::Chan<T>& chan, T& message,
                                 detail::Clock::time_point deadline, bool block) {
    return chan.send(message, deadline, block);
  }

  void attach() noexcept {
    if (chan_ != nullptr) {
      chan_->add_ref();
      chan_->add_sender();
    }
  }
  void detach() noexcept {
    if (chan_ == nullptr) return;
    if (chan_->drop_sender()) {
      // The last sender: the receiver drains what is queued, then sees the end of the stream.
      chan_->close();
    }
    std::exchange(chan_, nullptr)->drop_ref();
  }
  detail::Chan<T>& checked() const {
    if (chan_ == nullptr) detail::throw_invalid_handle("Sender");
    return *chan_;
  }
  detail::Chan<T>* chan_ = nullptr;
};

// The sending half of spsc_channel<T>(n): the one producer. Move-only, never cloned; every
// member is Owner thread only (the handle may move to another thread, as a whole). Same send
// API (detail::SendHalf) and error semantics as Sender<T>: a failed send hands the message back.
// Memory ordering: everything the producer did before a successful send happens-before the
// receive of that message returns; messages are received in the order sent.
template <class T>
class SpscSender : public detail::SendHalf<SpscSender<T>, T> {
 public:
  // An empty handle; every operation on it throws Error(invalid_handle).
  SpscSender() noexcept = default;
  SpscSender(const SpscSender&) = delete;
  SpscSender& operator=(const SpscSender&) = delete;
  SpscSender(SpscSender&& other) noexcept : chan_(std::exchange(other.chan_, nullptr)) {}
  // Closes the channel this handle held (as destruction does), then takes over `other`'s.
  SpscSender& operator=(SpscSender&& other) noexcept {
    if (this != &other) {
      detach();
      chan_ = std::exchange(other.chan_, nullptr);
    }
    return *this;
  }
  // Closes the channel: the receiver drains what is queued, then sees the end of the stream.
  ~SpscSender() { detach(); }

  // False for a moved-from or default-constructed handle.
  [[nodiscard]] bool valid() const noexcept { return chan_ != nullptr; }

 private:
  friend struct detail::ChannelAccess;
  friend class detail::SendHalf<SpscSender<T>, T>;
  static constexpr const char* kName = "SpscSender::send_for";

  static detail::SendStatus push(detail::Chan<T>& chan, T& message,
                                 detail::Clock::time_point deadline, bool block) {
    return chan.send_single_producer(message, deadline, block);
  }
  explicit SpscSender(detail::Chan<T>& chan) noexcept : chan_(&chan) {
    chan_->add_ref();
    chan_->add_sender();
  }

  void detach() noexcept {
    if (chan_ == nullptr) return;
    if (chan_->drop_sender()) chan_->close();  // always the last (only) sender
    std::exchange(chan_, nullptr)->drop_ref();
  }
  detail::Chan<T>& checked() const {
    if (chan_ == nullptr) detail::throw_invalid_handle("SpscSender");
    return *chan_;
  }

  detail::Chan<T>* chan_ = nullptr;
};

template <class T>
class Receiver {
 public:
  using value_type = T;

  Receiver() noexcept = default;
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;
  Receiver(Receiver&& other) noexcept : chan_(std::exchange(other.chan_, nullptr)) {}
  Receiver& operator=(Receiver&& other) noexcept {
    if (this != &other) {
      release();
      chan_ = std::exchange(other.chan_, nullptr);
    }
    return *this;
  }
  ~Receiver() { release(); }

  // Awaits the next message: `while (auto job = co_await rx.recv()) run(*job);` suspends the
  // coroutine while the channel is empty and yields std::optional<T>, std::nullopt once the
  // channel is closed and drained. The operation borrows this receiver: keep it alive until the
  // co_await completes. Returns Awaitable<detail::RecvOp<T>> (deduced, as for Sender::send).
  auto recv() { return Awaitable<detail::RecvOp<T>>(std::in_place, checked()); }
  // The thread form of recv: blocks the calling thread until a message arrives (spin, then
  // park); std::nullopt once the channel is closed and drained.
  std::optional<T> blocking_recv() {
    std::optional<T> out;
    (void)checked().recv(out, detail::kForever, true);
    return out;
  }
  // Never blocks. Fails with Empty or Closed (closed and drained).
  [[gnu::always_inline]] RecvResult<T> try_recv() { return receive(detail::kForever, false); }
  // Blocks at most `timeout` (>= 0). Fails with Timeout or Closed.
  template <class Rep, class Period>
  RecvResult<T> recv_for(std::chrono::duration<Rep, Period> timeout) {
    return receive(
        detail::deadline_after(timeout, "Receiver::recv_for"),
        true);
  }
  RecvResult<T> recv_until(std::chrono::steady_clock::time_point deadline) {
    return receive(deadline, true);
  }

  // The asynchronous form of try_recv, for runtimes (coroutines, actors): on Empty, `waker` is
  // registered (replacing any earlier one) and woken by the next send or close — then poll
  // again. Call cancel_wait() if the caller stops waiting.
  RecvResult<T> poll_recv(Waker& waker) {
    std::optional<T> out;
    return result_of(checked().poll_recv(out, waker), out);
  }
  // Withdraws the waker registered by poll_recv (no effect if it was already woken).
  void cancel_wait() { checked().deregister_receiver(); }

  // Stops all further sends (they fail with Closed and hand the message back); what is queued
  // can still be received. Idempotent.
  void close() { checked().close_by_receiver(); }
  [[nodiscard]] bool is_closed() const { return checked().closed(); }
  [[nodiscard]] std::size_t len() const { return checked().size(); }
  [[nodiscard]] std::optional<std::size_t> capacity() const { return checked().capacity(); }
  [[nodiscard]] bool valid() const noexcept { return chan_ != nullptr; }

 private:
  friend struct detail::ChannelAccess;
  explicit Receiver(detail::Chan<T>& chan) noexcept : chan_(&chan) { chan_->add_ref(); }

  void release() noexcept {
    if (chan_ == nullptr) return;
    chan_->drain_on_receiver_drop();
    std::exchange(chan_, nullptr)->drop_ref();
  }
  detail::Chan<T>& checked() const {
    if (chan_ == nullptr) detail::throw_invalid_handle("Receiver");
    return *chan_;
  }
  // Inlined into the caller, as try_recv is: returned from a call, GCC 12 builds the Result in
  // memory field by field and reloads it whole, a store-forwarding stall that was ~40% of a
  // try_recv in the single-thread benchmark (samples/bench).
  [[gnu::always_inline]] RecvResult<T> receive(detail::Clock::time_point deadline, bool block) {
    std::optional<T> out;
    return result_of(checked().recv(out, deadline, block), out);
  }
  static RecvResult<T> result_of(detail::RecvStatus status, std::optional<T>& out) {
    switch (status) {
      case detail::RecvStatus::ok:
        return std::move(*out);
      case detail::RecvStatus::empty:
        return {failure, RecvError::empty};
      case detail::RecvStatus::closed:
        return {failure, RecvError::closed};
      case detail::RecvStatus::timeout:
        return {failure, RecvError::timeout};
    }
    return {failure, RecvError::closed};
  }

  detail::Chan<T>* chan_ = nullptr;
};

namespace detail {
struct ChannelAccess {
  // make and make_spsc are out of line: creating a channel is the cold path, and inlined here
  // GCC 12 at -O3 misreads the fresh allocation (a false -Wstringop-overflow on the refcount).
  template <class T>
  [[gnu::noinline]] static std::pair<Sender<T>, Receiver<T>> make(Chan<T>& chan) {
    return {Sender<T>(chan), Receiver<T>(chan)};
  }
  template <class T>
  [[gnu::noinline]] static std::pair<SpscSender<T>, Receiver<T>> make_spsc(Chan<T>& chan) {
    return {SpscSender<T>(chan), Receiver<T>(chan)};
  }
  template <class T>
  static Chan<T>& chan(const Receiver<T>& rx) {
    return rx.checked();
  }
  template <class T>
  static Chan<T>& chan(const Sender<T>& tx) {
    return tx.checked();
  }
};
// Allocates a channel; a failed allocation becomes Error(resource_exhausted).
template <class T, class... Args>
Chan<T>& new_chan(const char* what, std::size_t capacity, Args... args) {
  try {
    return *new Chan<T>(args...);
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::resource_exhausted,
                std::string(what) + ": cannot allocate " + std::to_string(capacity) + " slots");
  }
}
}  // namespace detail

// A bounded MPSC channel holding at most `capacity` messages; 0 makes a rendezvous channel.
// Throws Error(invalid_argument) for a negative capacity or one above kMaxChannelCapacity, and
// Error(resource_exhausted) if the slots cannot be allocated.
//
// T must be Sendable; the check sits here (not in Sender<T>) so that a message type may contain
// a Sender of its own type, e.g. `struct Ping { Sender<Ping> reply_to; };`.
template <class T>
[[nodiscard]] std::pair<Sender<T>, Receiver<T>> channel(std::int64_t capacity) {
  static_assert(Sendable<T>,
                "troupe::channel<T>: T must be Sendable; troupe::why_not_sendable<T>() says why");
  detail::check_capacity(capacity, "channel");
  const auto slots = static_cast<std::size_t>(capacity);
  return detail::ChannelAccess::make(detail::new_chan<T>("channel", slots, slots));
}

// An unbounded MPSC channel: send never blocks and never fails with Full.
template <class T>
[[nodiscard]] std::pair<Sender<T>, Receiver<T>> unbounded_channel() {
  static_assert(
      Sendable<T>,
      "troupe::unbounded_channel<T>: T must be Sendable; troupe::why_not_sendable<T>() says why");
  return detail::ChannelAccess::make(
      detail::new_chan<T>("unbounded_channel", 0, typename detail::Chan<T>::Unbounded{}));
}

// A bounded channel with a single producer: SpscSender<T> cannot be cloned, so sends need no
// locked instruction (see "Single producer" above). `capacity` in [1, kMaxChannelCapacity];
// Error(invalid_argument) otherwise (0 too: there is no single-producer rendezvous), and
// Error(resource_exhausted) if the slots cannot be allocated.
template <class T>
[[nodiscard]] std::pair<SpscSender<T>, Receiver<T>> spsc_channel(std::int64_t capacity) {
  static_assert(
      Sendable<T>,
      "troupe::spsc_channel<T>: T must be Sendable; troupe::why_not_sendable<T>() says why");
  detail::check_spsc_capacity(capacity);
  const auto slots = static_cast<std::size_t>(capacity);
  return detail::ChannelAccess::make_spsc(detail::new_chan<T>(
      "spsc_channel", slots, typename detail::Chan<T>::SingleProducer{}, slots));
}

// Handles are Sendable: a Sender or Receiver can travel through another channel.
template <class T>
inline constexpr bool enable_sendable<Sender<T>> = true;
template <class T>
inline constexpr bool enable_sendable<SpscSender<T>> = true;
template <class T>
inline constexpr bool enable_sendable<Receiver<T>> = true;

}  // namespace troupe
