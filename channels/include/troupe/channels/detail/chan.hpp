// Chan<T>: one channel — its queue flavor plus the shared wait protocol of ChanBase — the
// blocking algorithms (spin, then park) that Sender<T> and Receiver<T> expose, and the poll
// steps of their awaited forms (SendOp, RecvOp in channel.hpp). Not API.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include "troupe/channels/detail/array_queue.hpp"
#include "troupe/channels/detail/chan_base.hpp"
#include "troupe/channels/detail/list_queue.hpp"
#include "troupe/channels/detail/rendezvous.hpp"
#include "troupe/channels/detail/spsc_queue.hpp"
#include "troupe/channels/waker.hpp"

namespace troupe::detail {

using Clock = std::chrono::steady_clock;
inline constexpr Clock::time_point kForever = Clock::time_point::max();

enum class SendStatus { ok, full, closed, timeout };
enum class RecvStatus { ok, empty, closed, timeout };

// A rendezvous wait's outcome as a send or receive status (both spell ok/closed/timeout alike).
template <class Status>
Status from_wait(WaitStatus status) noexcept {
  switch (status) {
    case WaitStatus::ok:
      return Status::ok;
    case WaitStatus::timeout:
      return Status::timeout;
    case WaitStatus::closed:
      break;
  }
  return Status::closed;
}

// How a waiting loop in this file sleeps: park until woken or until `deadline`.
inline bool park_until(Parker& me, Clock::time_point deadline) noexcept {
  if (deadline == kForever) {
    me.park();
    return true;
  }
  return me.park_until(deadline);
}

// What an awaited send (SendOp in channel.hpp) keeps registered between its polls, so that
// polling again replaces the registration instead of adding a second one. Owned by the
// operation; touched only by the thread polling it.
template <class T>
struct SendWait {
  Waker* waker = nullptr;  // bounded: registered in the sender list (unless a wake took it out)
  typename Rendezvous<T>::PendingOffer offer;  // rendezvous: the offer a receiver will take

  [[nodiscard]] bool pending() const noexcept { return waker != nullptr || offer.queued; }
};

template <class T>
class Chan final : public ChanBase {
 public:
  struct Unbounded {};
  explicit Chan(std::size_t capacity)
      : ChanBase(capacity == 0 ? PublishFence::rmw : PublishFence::park_bit),
        queue_(capacity == 0 ? Queue(std::in_place_index<2>)
                             : Queue(std::in_place_index<0>, capacity)) {
    if (capacity > 0) prepare_asymmetric_fence();  // bounded receives use light_fence()
  }
  explicit Chan(Unbounded) : queue_(std::in_place_index<1>) {}
  struct SingleProducer {};
  Chan(SingleProducer, std::size_t capacity)
      : ChanBase(PublishFence::light), queue_(std::in_place_index<3>, capacity) {
    prepare_asymmetric_fence();  // every send uses light_fence()
  }

  [[nodiscard]] std::optional<std::size_t> capacity() const noexcept {
    if (const auto* array = std::get_if<0>(&queue_)) return array->capacity();
    if (const auto* spsc = std::get_if<3>(&queue_)) return spsc->capacity();
    if (queue_.index() == 2) return 0;
    return std::nullopt;
  }
  [[nodiscard]] std::size_t size() const noexcept {
    return visit([](const auto& q) { return q.size(); });
  }
  [[nodiscard]] bool closed() noexcept {
    return visit([](auto& q) { return q.closed(); });
  }
  // Closes the channel for every sender; wakes everyone who waits. Idempotent. Called by a
  // sender (any thread for Sender, the producer for SpscSender).
  void close() noexcept {
    visit([this](auto& q) { this->close_queue(q, false); });
    wake_all_senders();
  }
  // The same, called by the receiver: a single-producer queue must know who closed it (see
  // spsc_queue.hpp). Consumer only.
  void close_by_receiver() noexcept {
    visit([this](auto& q) { this->close_queue(q, true); });
    wake_all_senders();
  }

  // Sends `value` (moved from only on ok). block=false: one attempt.
  SendStatus send(T& value, Clock::time_point deadline, bool block) {
    return visit([&](auto& q) { return send_on(q, value, deadline, block); });
  }
  // send() for the sending half of spsc_channel, which knows the flavor: no dispatch.
  SendStatus send_single_producer(T& value, Clock::time_point deadline, bool block) {
    if (queue_.index() != 3) __builtin_unreachable();  // only SpscSender calls this
    return send_on(*std::get_if<3>(&queue_), value, deadline, block);
  }
  RecvStatus recv(std::optional<T>& out, Clock::time_point deadline, bool block) {
    return visit([&](auto& q) { return recv_on(q, out, deadline, block); });
  }
  // One non-blocking attempt; if nothing is ready, `waker` is registered and woken by the next
  // send or close (the poll protocol of an async receiver). Consumer only.
  // `just_found_empty`: the caller's own try_pop just came back empty, so the first attempt
  // here is skipped (registering comes first; the re-check after it still sees any message).
  RecvStatus poll_recv(std::optional<T>& out, Waker& waker, bool just_found_empty = false) {
    return visit([&](auto& q) {
      for (;;) {
        if (!std::exchange(just_found_empty, false)) {
          const PopStatus status = q.try_pop(out);
          if (status == PopStatus::ok) return popped<std::decay_t<decltype(q)>>();
          if (status == PopStatus::closed) return RecvStatus::closed;
        }
        const PopStatus again = park_receiver_on(q, waker);
        if (again == PopStatus::empty) return RecvStatus::empty;
        if (again == PopStatus::pending) std::this_thread::yield();
      }
    });
  }
  // Registers `waker` as the receiver's waker and re-checks the queue (the protocol of the
  // flavor, chan_base.hpp): empty once it is registered and nothing is queued, so the next send
  // or the close wakes it; otherwise what was found (ok, pending or closed), with nothing left
  // registered by this call. select's parking step. Consumer only.
  PopStatus park_receiver(Waker& waker) {
    return visit([&](auto& q) { return park_receiver_on(q, waker); });
  }
  // One non-blocking attempt; on Full, `waker` is registered and woken when a slot frees or the
  // channel closes. Not for rendezvous channels (they complete only with a waiting receiver).
  SendStatus poll_send(T& value, Waker& waker) {
    return visit([&](auto& q) { return poll_send_on(q, value, waker); });
  }

  // The awaited send (SendOp): as poll_send, but what is registered is recorded in `wait`, and
  // a second call replaces it rather than adding another. A rendezvous channel is supported
  // too: the offer in `wait` stays queued until a receiver takes the value or the channel
  // closes. On full, `waker` is woken when polling again is worth it.
  SendStatus poll_send(T& value, Waker& waker, SendWait<T>& wait) {
    return visit([&](auto& q) {
      using Q = std::decay_t<decltype(q)>;
      if constexpr (kIsRendezvous<Q>) {
        return pushed<Q>(q.poll_offer(wait.offer, value, waker, *this));
      } else {
        (void)withdraw_sender(wait);  // replaced below, never doubled
        const SendStatus status = poll_send_on(q, value, waker);
        if (status == SendStatus::full) wait.waker = &waker;
        return status;
      }
    });
  }
  // One more attempt by an awaited send that is registered (`wait.pending()`), registering
  // nothing new: the cheap check of a waiting loop. On completion, `wait` is withdrawn.
  SendStatus retry_send(T& value, SendWait<T>& wait) {
    return visit([&](auto& q) {
      using Q = std::decay_t<decltype(q)>;
      if constexpr (kIsRendezvous<Q>) {
        return q.offer_taken(wait.offer) ? SendStatus::ok : SendStatus::full;
      } else {
        const PushStatus status = push(q, value);
        if (status != PushStatus::full) (void)withdraw_sender(wait);
        return pushed<Q>(status);
      }
    });
  }
  // An awaited send stops waiting: withdraws what `wait` holds (no effect if nothing). If a
  // freed slot's wake had already taken this sender out of the list, the wake is passed on to
  // the next waiting sender — this one will not use the slot, and must not strand the others.
  void cancel_send(SendWait<T>& wait) noexcept {
    visit([&](auto& q) {
      using Q = std::decay_t<decltype(q)>;
      if constexpr (kIsRendezvous<Q>) {
        q.withdraw_offer(wait.offer);
      } else if (!withdraw_sender(wait)) {
        slot_freed();
      }
    });
  }
  [[nodiscard]] bool is_rendezvous() const noexcept { return queue_.index() == 2; }
  // What try_recv would return, without receiving. Consumer only.
  [[nodiscard]] PopStatus poll() {
    return visit([](auto& q) { return q.poll(); });
  }
  // Receiver gone: close, then destroy whatever is still queued (nobody can receive it).
  void drain_on_receiver_drop() {
    close_by_receiver();
    std::optional<T> sink;
    for (;;) {
      const RecvStatus status = recv(sink, kForever, false);
      if (status == RecvStatus::closed) return;
      if (status == RecvStatus::empty) std::this_thread::yield();  // a sender is mid-write
      sink.reset();
    }
  }

 private:
  using Queue = std::variant<ArrayQueue<T>, ListQueue<T>, Rendezvous<T>, SpscQueue<T>>;

  template <class F>
  decltype(auto) visit(F&& f) {
    return visit_queue(queue_, std::forward<F>(f));
  }
  template <class F>
  decltype(auto) visit(F&& f) const {
    return visit_queue(queue_, std::forward<F>(f));
  }
  // The bounded array flavor (every bounded channel and mailbox) is tested first and inlined;
  // the other flavors go through visit_other, out of line, so that the array's path does not
  // pay for saving the registers their inlined paths use (measured: callgrind, pingpong and
  // ring). `QueueRef` is Queue or const Queue.
  template <class QueueRef, class F>
  static decltype(auto) visit_queue(QueueRef& queue, F&& f) {
    if (queue.index() == 0) [[likely]] {
      return f(*std::get_if<0>(&queue));
    }
    return visit_other(queue, std::forward<F>(f));
  }
  // A switch rather than std::visit, so that each flavor's fast path inlines.
  template <class QueueRef, class F>
  [[gnu::noinline]] static decltype(auto) visit_other(QueueRef& queue, F&& f) {
    switch (queue.index()) {
      case 0:
        return f(*std::get_if<0>(&queue));
      case 1:
        return f(*std::get_if<1>(&queue));
      case 2:
        return f(*std::get_if<2>(&queue));
      case 3:
        return f(*std::get_if<3>(&queue));
    }
    __builtin_unreachable();  // never valueless: built once in place, never reassigned
  }

  template <class Q>
  static constexpr bool kIsRendezvous = std::is_same_v<Q, Rendezvous<T>>;
  // The bounded MPSC queue keeps the receiver's park bit in its tail (PublishFence::park_bit):
  // its senders and its close wake through the bit, never through wake_receiver().
  template <class Q>
  static constexpr bool kParksInTail = std::is_same_v<Q, ArrayQueue<T>>;
  // Bounded queues free slots that a parked sender may wait for (ChanBase::slot_freed).
  template <class Q>
  static constexpr bool kIsBounded =
      std::is_same_v<Q, ArrayQueue<T>> || std::is_same_v<Q, SpscQueue<T>>;

  // One push attempt. A claim that took the park bit wakes the parked receiver here.
  template <class Q>
  PushStatus push(Q& q, T& value) {
    if constexpr (kParksInTail<Q>) {
      bool must_wake = false;
      const PushStatus status = q.try_push(value, must_wake);
      if (must_wake) wake_parked_receiver();
      return status;
    } else {
      return q.try_push(value);
    }
  }

  template <class Q>
  SendStatus pushed(PushStatus status) noexcept {
    if (status == PushStatus::ok) {
      if constexpr (!kIsRendezvous<Q> && !kParksInTail<Q>) wake_receiver();
      return SendStatus::ok;
    }
    return status == PushStatus::full ? SendStatus::full : SendStatus::closed;
  }

  // Closes the queue and wakes the receiver, through the park bit or through wake_receiver().
  template <class Q>
  void close_queue(Q& q, bool by_receiver) noexcept {
    if constexpr (kParksInTail<Q>) {
      bool must_wake = false;
      (void)q.close(must_wake);
      if (must_wake) wake_parked_receiver();
    } else {
      if constexpr (std::is_same_v<Q, SpscQueue<T>>) {
        if (by_receiver) {
          (void)q.close_by_consumer();
        } else {
          (void)q.close();
        }
      } else {
        (void)q.close();
      }
      wake_receiver();
    }
  }

  template <class Q>
  PopStatus park_receiver_on(Q& q, Waker& waker) {
    if constexpr (kParksInTail<Q>) {
      return park_on_tail(q, waker);
    } else {
      register_receiver(waker);
      const PopStatus again = q.poll();  // re-check after registering: see chan_base.hpp
      if (again != PopStatus::empty) deregister_receiver();
      return again;
    }
  }

  // The receiver's side of the park_bit protocol (chan_base.hpp). Consumer only.
  PopStatus park_on_tail(ArrayQueue<T>& q, Waker& waker) noexcept {
    for (;;) {
      if (Waker* current = receiver_waker()) {
        // Polled again while registered. The same waker keeps its registration: either the
        // park bit is still set, or the sender or closer that took it is about to wake this
        // very waker (and a stale read here means that wake is still to be delivered: a wake
        // already consumed would have made its null store visible), so a poll follows either
        // way. Another waker: take the bit back, or wait until its owner is done with the slot.
        if (current == &waker) return PopStatus::empty;
        if (q.try_unpark()) {
          take_back_receiver();
        } else {
          await_receiver_slot();
        }
      }
      publish_receiver(waker);
      if (q.try_park()) return PopStatus::empty;
      // The tail moved (a claim, maybe still being written) or the channel closed: no sender
      // saw this registration, so it is ours to take back. Say what is there.
      take_back_receiver();
      const PopStatus now = q.poll();
      if (now != PopStatus::empty) return now;
      // (Not expected: a failed park means the tail left `head`. Park again rather than report
      // an empty channel with no registration.)
    }
  }

  bool unpark_receiver() noexcept override {
    auto* array = std::get_if<0>(&queue_);
    return array != nullptr && array->try_unpark();
  }

  // The fast path (one attempt) stays small enough to inline; waiting lives out of line.
  template <class Q>
  SendStatus send_on(Q& q, T& value, Clock::time_point deadline, bool block) {
    const PushStatus status = push(q, value);
    if (status != PushStatus::full || !block) return pushed<Q>(status);
    return send_wait(q, value, deadline);
  }

  template <class Q>
  [[gnu::noinline]] SendStatus send_wait(Q& q, T& value, Clock::time_point deadline) {
    PushStatus status = PushStatus::full;
    if constexpr (kIsRendezvous<Q>) {
      return from_wait<SendStatus>(q.push_until(value, *this, deadline));
    } else {
      // Full: spin briefly (the receiver is usually about to free a slot), then park.
      SpinWait spin;
      for (;;) {
        while (spin.spin()) {
          status = push(q, value);
          if (status != PushStatus::full) return pushed<Q>(status);
        }
        Parker& me = Parker::current();
        register_sender(me);
        status = push(q, value);  // re-check after registering: see chan_base.hpp
        if (status != PushStatus::full) {
          deregister_sender(me);
          return pushed<Q>(status);
        }
        const bool woken = park_until(me, deadline);
        deregister_sender(me);
        status = push(q, value);
        if (status != PushStatus::full) return pushed<Q>(status);
        if (!woken) return SendStatus::timeout;
        spin.reset();
      }
    }
  }

  // Takes an awaited send's waker out of the sender list, if it registered one; false if a wake
  // (a freed slot, or the close) had already taken it out.
  bool withdraw_sender(SendWait<T>& wait) noexcept {
    Waker* waker = std::exchange(wait.waker, nullptr);
    return waker == nullptr || deregister_sender(*waker);
  }

  // One attempt; on full, a bounded queue registers `waker` and tries once more (poll_send).
  template <class Q>
  SendStatus poll_send_on(Q& q, T& value, Waker& waker) {
    PushStatus status = push(q, value);
    if constexpr (kIsBounded<Q>) {
      if (status == PushStatus::full) {
        register_sender(waker);
        status = push(q, value);  // re-check after registering: see chan_base.hpp
        if (status != PushStatus::full) deregister_sender(waker);
      }
    }
    return pushed<Q>(status);
  }

  template <class Q>
  RecvStatus popped() noexcept {
    if constexpr (kIsBounded<Q>) slot_freed();
    return RecvStatus::ok;
  }

  template <class Q>
  RecvStatus recv_on(Q& q, std::optional<T>& out, Clock::time_point deadline, bool block) {
    const PopStatus status = q.try_pop(out);
    if (status == PopStatus::ok) return popped<Q>();
    if (status == PopStatus::closed) return RecvStatus::closed;
    if (!block) return RecvStatus::empty;  // pending counts as empty for a non-blocking try
    return recv_wait(q, out, status, deadline);
  }

  template <class Q>
  [[gnu::noinline]] RecvStatus recv_wait(Q& q, std::optional<T>& out, PopStatus status,
                                         Clock::time_point deadline) {
    if constexpr (kIsRendezvous<Q>) {
      return from_wait<RecvStatus>(q.pop_until(out, deadline));
    } else {
      SpinWait spin;
      for (;;) {
        while (spin.spin()) {
          status = q.try_pop(out);
          if (status == PopStatus::ok) return popped<Q>();
          if (status == PopStatus::closed) return RecvStatus::closed;
        }
        if (status == PopStatus::pending) {
          // A sender claimed a slot and was descheduled before writing it: give it the core.
          std::this_thread::yield();
        } else {
          Parker& me = Parker::current();
          if (park_receiver_on(q, me) == PopStatus::empty) {  // registered, re-checked
            const bool woken = park_until(me, deadline);
            deregister_receiver();
            if (!woken && q.poll() == PopStatus::empty) return RecvStatus::timeout;
          }
          spin.reset();
        }
        status = q.try_pop(out);
        if (status == PopStatus::ok) return popped<Q>();
        if (status == PopStatus::closed) return RecvStatus::closed;
        if (deadline != kForever && Clock::now() >= deadline) return RecvStatus::timeout;
      }
    }
  }

  Queue queue_;
};

}  // namespace troupe::detail
