// SpscQueue<T>: the bounded single-producer queue behind spsc_channel<T>(capacity). Not API.
//
// Algorithm: the classic single-producer/single-consumer ring (L. Lamport, "Specifying
// concurrent program modules", TOPLAS 1983), in the cache-friendly form of
// boost::lockfree::spsc_queue, folly::ProducerConsumerQueue and rigtorp/SPSCQueue: the producer
// owns the tail, the consumer the head; each publishes its index with a release store and reads
// the other's only when its cached copy says full (producer) or empty (consumer). A send or a
// receive needs no locked instruction — the point of this flavor (the MPSC queues claim every
// slot with a CAS).
//
// Deviations, for troupe's close protocol (a failed send hands its message back):
//  * Without a CAS on the send path, nothing orders a send against a close by the receiver.
//    So a send that publishes and *then* sees "closed by the consumer" tries to take its
//    message back, and the consumer, once it closed, takes each remaining message with a CAS:
//    each slot has a state (EMPTY / FULL / RETRACTED), the producer retracts with a CAS
//    FULL -> RETRACTED, the closed consumer takes with a CAS FULL -> EMPTY, and exactly one of
//    the two wins: the message is received or handed back, never both, never neither. Who may
//    race is decided by a Dekker handshake:
//
//      producer:  tail_ = t + 1 (release)   light_fence()   load closed_ (acquire)
//      consumer:  closed_ |= by consumer     heavy_fence()   final = load tail_ (acquire)
//
//    The asymmetric pair orders like two seq_cst fences (fence.hpp): a message that the
//    consumer's `final` misses is one whose producer sees the close and retracts it. The
//    consumer takes only slots below `final`.
//  * Before it closes, the consumer takes messages without touching their state: the producer
//    retracts only after seeing the close, and then first checks head_ — every take before the
//    close moved head_ past its message, and the close (a release) made that visible. Only the
//    producer writes states in normal operation, and they sit in an array of their own, so
//    that a message costs the same cache lines as in a plain SPSC ring (for an 8-byte message
//    a state beside each value would double them; measured: up to 2x lower throughput).
//  * The same light fence orders the publish before the sender's check for a parked receiver
//    (ChanBase::wake_receiver); a parking receiver pays the heavy fence after registering
//    (ChanBase::PublishFence::light). A send stays free of locked instructions.
//  * A close by the producer needs none of this: there is one producer, so when the consumer
//    sees "closed by the sender" every send is done and published; it drains up to tail_.
//  * Positions are counters (2^64 messages never wrap); each side keeps its slot index beside
//    them and wraps it with a compare, so any capacity works without a division.
//
// Thread-safety: try_push (publish, keep_or_retract) and close from the single producer;
// try_pop, poll, close_by_consumer and the destructor from the single consumer; closed, size and
// capacity from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

#include "troupe/channels/detail/config.hpp"
#include "troupe/channels/detail/fence.hpp"
#include "troupe/channels/detail/queue_status.hpp"

namespace troupe::detail {

template <class T>
class SpscQueue {
 public:
  explicit SpscQueue(std::size_t capacity)
      : cap_(capacity), values_(new Storage[capacity]), states_(new State[capacity]) {}

  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  ~SpscQueue() {
    // No other thread runs now: destroy the messages still queued (retracted ones went back).
    std::size_t index = head_index_;
    for (std::size_t head = head_pos_; head != tail_pos_; ++head) {
      if (states_[index].load(std::memory_order_relaxed) == kFull) std::destroy_at(slot(index));
      index = index + 1 == cap_ ? 0 : index + 1;
    }
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }

  // Moves `value` into the queue on ok; on Full/Closed `value` holds the message (on a Closed
  // found after publishing, it was moved back out of the slot). Producer only.
  PushStatus try_push(T& value) {
    const PushStatus status = publish(value);
    if (status != PushStatus::ok) return status;
    // The light side of the handshakes above: orders the publish before the closed_ load in
    // keep_or_retract and before the caller's check for a parked receiver
    // (ChanBase::wake_receiver).
    light_fence();
    return keep_or_retract(value);
  }

  // The two halves of try_push, public so that tests can put a consumer's close between them.
  // publish: writes the message and makes it visible (ok), or fails with `value` untouched.
  PushStatus publish(T& value) {
    // relaxed: an early-out only; the check after publishing is what orders a send and a close.
    if (closed_.load(std::memory_order_relaxed) != 0) return PushStatus::closed;
    const std::size_t tail = tail_pos_;
    if (tail - head_cache_ == cap_) {
      // acquire: the consumer's move-out of the slot we are about to reuse happens-before our
      // write (it publishes head_ with release after taking the message).
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ == cap_) return PushStatus::full;
    }
    const std::size_t index = tail_index_;  // (a local: the message's stores may alias it)
    ::new (values_[index].bytes) T(std::move(value));
    states_[index].store(kFull, std::memory_order_relaxed);  // published by tail_ below
    tail_index_ = index + 1 == cap_ ? 0 : index + 1;
    tail_pos_ = tail + 1;
    // release: publishes the message (and its state) to the consumer.
    tail_.store(tail + 1, std::memory_order_release);
    return PushStatus::ok;
  }
  // After publish and the light fence: ok, or — if the consumer closed meanwhile and has not
  // taken the message — Closed with the message moved back into `value`.
  PushStatus keep_or_retract(T& value) noexcept {
    // acquire: pairs with the consumer's closing RMW; what it did before closing (its head_
    // stores) is visible below.
    if ((closed_.load(std::memory_order_acquire) & kClosedByConsumer) == 0) return PushStatus::ok;
    // relaxed (ordered by the acquire above): a take before the close moved head_ past us.
    if (head_.load(std::memory_order_relaxed) == tail_pos_) return PushStatus::ok;
    return retract(tail_index_ == 0 ? cap_ - 1 : tail_index_ - 1, value);
  }

  // Moves the oldest message into `out` (an empty optional-like sink). Never `pending`: a
  // message is published whole. Consumer only.
  template <class Sink>
  PopStatus try_pop(Sink& out) {
    const std::size_t head = head_pos_;
    if (head == tail_cache_) {  // always true once take_by_cas_ (see close_by_consumer)
      if (take_by_cas_) return pop_after_close(out, head);
      // acquire: pairs with the producer's release of tail_: the messages below it are written.
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head == tail_cache_) {
        if (!closed_by_sender()) return PopStatus::empty;
        // acquire: as above; the producer's close follows its last send, which is visible now.
        tail_cache_ = tail_.load(std::memory_order_acquire);
        if (head == tail_cache_) return PopStatus::closed;
      }
    }
    T* message = slot(head_index_);
    out.emplace(std::move(*message));
    std::destroy_at(message);
    advance(head);
    return PopStatus::ok;
  }

  // What try_pop would say without taking anything (once closed by the consumer, `ok` may turn
  // out to be a retracted message, i.e. `closed`: both mean "ready"). Reads tail_ afresh, so
  // that a receiver re-checking after registering its waker (and the heavy fence) sees every
  // message published before the producer's light fence. Consumer only.
  [[nodiscard]] PopStatus poll() const noexcept {
    const std::size_t head = head_pos_;
    if (take_by_cas_) return head == final_tail_ ? PopStatus::closed : PopStatus::ok;
    // acquire: pairs with the producer's release of tail_.
    if (tail_.load(std::memory_order_acquire) != head) return PopStatus::ok;
    if (!closed_by_sender()) return PopStatus::empty;
    // acquire: as above; the producer's close follows its last send, which is visible now.
    return tail_.load(std::memory_order_acquire) != head ? PopStatus::ok : PopStatus::closed;
  }

  // The producer closes (SpscSender::close or its destruction). Returns false if this side had
  // already closed. Producer only.
  bool close() noexcept {
    // seq_cst: pairs with a parked receiver's registration (Chan::close loads the waker next);
    // its release half makes every send before the close visible to a consumer that sees it.
    return (closed_.fetch_or(kClosedBySender, std::memory_order_seq_cst) & kClosedBySender) == 0;
  }

  // The consumer closes (Receiver::close or its destruction): later sends fail with Closed, and
  // a send racing with this one either lands below final_tail_ (then it is received, or
  // retracted by its producer: the state's CAS decides) or sees the close and retracts.
  // Returns false if the consumer had already closed. Consumer only.
  bool close_by_consumer() noexcept {
    if (closed_by_consumer_) return false;
    closed_by_consumer_ = true;
    // seq_cst: pairs with a parked sender's registration (Chan then wakes the senders); its
    // release half publishes our earlier takes (head_) to a producer about to retract, its
    // acquire half makes every send visible if the producer had closed first.
    const std::uint8_t before = closed_.fetch_or(kClosedByConsumer, std::memory_order_seq_cst);
    if ((before & kClosedBySender) != 0) return true;  // the producer is done: nothing can race
    // The heavy side of the handshake (see the top of this file), then the last message that
    // may be received.
    heavy_fence();
    // acquire: the messages below final_tail_ are written.
    final_tail_ = tail_.load(std::memory_order_acquire);
    take_by_cas_ = true;
    // Even a slot we already saw published needs the CAS now (its producer may be about to
    // retract it): pin the cache to the head so that every try_pop takes the slow path into
    // pop_after_close, at no cost to the fast path before the close.
    tail_cache_ = head_pos_;
    return true;
  }

  [[nodiscard]] bool closed() const noexcept {
    // acquire: a caller that sees the close also sees what the closing side did before it.
    return closed_.load(std::memory_order_acquire) != 0;
  }

  // Messages queued (right after the consumer closed, possibly one that its producer is taking
  // back). Thread-safe; a snapshot.
  [[nodiscard]] std::size_t size() const noexcept {
    // acquire: the consumer read a tail_ >= head before publishing head, so the tail_ load below
    // cannot return less than head (no underflow).
    const std::size_t head = head_.load(std::memory_order_acquire);
    const std::size_t tail = tail_.load(std::memory_order_acquire);
    return std::min(tail - head, cap_);  // the head may have moved on meanwhile: clamp
  }

 private:
  using State = std::atomic<std::uint8_t>;
  static constexpr std::uint8_t kEmpty = 0;      // never written, or taken by a closed consumer
  static constexpr std::uint8_t kFull = 1;       // written by the producer (stays so once taken
                                                 // before the close: head_ tells those apart)
  static constexpr std::uint8_t kRetracted = 2;  // its producer took the message back
  static constexpr std::uint8_t kClosedBySender = 1;  // bits of closed_
  static constexpr std::uint8_t kClosedByConsumer = 2;

  struct Storage {
    alignas(T) unsigned char bytes[sizeof(T)];
  };
  T* slot(std::size_t index) noexcept {
    return std::launder(reinterpret_cast<T*>(values_[index].bytes));
  }

  // The consumer closed and its head_ has not passed our last message: whoever wins the slot's
  // state owns it. The message goes back into the caller's `value` (moved from by publish) by
  // re-construction, since Sendable requires T to be move constructible, not assignable. Like
  // every move in the channels, a throwing move would lose the message: noexcept makes it fatal.
  PushStatus retract(std::size_t index, T& value) noexcept {
    std::uint8_t expected = kFull;
    // acq_rel: as the consumer's CAS in pop_after_close; the RMW reads the latest state, so only
    // one of the two sees FULL.
    if (!states_[index].compare_exchange_strong(expected, kRetracted, std::memory_order_acq_rel,
                                                std::memory_order_acquire)) {
      return PushStatus::ok;  // the consumer took it first: the message was received
    }
    T* queued = slot(index);
    std::destroy_at(std::addressof(value));
    std::construct_at(std::addressof(value), std::move(*queued));
    std::destroy_at(queued);
    return PushStatus::closed;
  }

  void advance(std::size_t head) noexcept {
    head_index_ = head_index_ + 1 == cap_ ? 0 : head_index_ + 1;
    head_pos_ = head + 1;
    // release: the move-out completes before the producer reuses the slot (acquire of head_).
    head_.store(head + 1, std::memory_order_release);
  }

  // After the consumer closed: take the next message below final_tail_ that its producer did not
  // retract, or report the end of the stream.
  template <class Sink>
  PopStatus pop_after_close(Sink& out, std::size_t head) {
    for (; head != final_tail_; ++head) {
      std::uint8_t expected = kFull;
      // acq_rel: against the producer's CAS in retract(): exactly one sees FULL.
      const bool mine = states_[head_index_].compare_exchange_strong(
          expected, kEmpty, std::memory_order_acq_rel, std::memory_order_acquire);
      if (mine) {
        T* message = slot(head_index_);
        out.emplace(std::move(*message));
        std::destroy_at(message);
      }
      advance(head);  // taken, or RETRACTED: back with its sender
      if (mine) {
        tail_cache_ = head + 1;  // keep it pinned (see close_by_consumer)
        return PopStatus::ok;
      }
    }
    tail_cache_ = head;
    return PopStatus::closed;
  }

  bool closed_by_sender() const noexcept {
    // acquire: pairs with the release in close(): the producer's last send is visible after.
    // (A receiver re-checking after registering its waker does so after register_receiver's
    // heavy fence, and Chan::close loads the waker after setting the mark: Dekker again.)
    return (closed_.load(std::memory_order_acquire) & kClosedBySender) != 0;
  }

  // The published positions, each alone on its line: the other side reads it.
  alignas(kCacheLine) std::atomic<std::size_t> tail_{0};  // written by the producer only
  alignas(kCacheLine) std::atomic<std::size_t> head_{0};  // written by the consumer only

  // Producer-private, on a line the consumer never touches.
  alignas(kCacheLine) std::size_t tail_pos_ = 0;  // == tail_
  std::size_t tail_index_ = 0;                    // tail_pos_ % cap_
  std::size_t head_cache_ = 0;                    // the last head_ seen

  // Consumer-private, on a line the producer never touches.
  alignas(kCacheLine) std::size_t head_pos_ = 0;  // == head_
  std::size_t head_index_ = 0;                    // head_pos_ % cap_
  std::size_t tail_cache_ = 0;                    // the last tail_ seen
  std::size_t final_tail_ = 0;  // set when the consumer closed: it takes nothing at or above
  bool take_by_cas_ = false;    // closed by the consumer while the producer may still send
  bool closed_by_consumer_ = false;

  // Read by both on every operation, written twice at most.
  alignas(kCacheLine) std::atomic<std::uint8_t> closed_{0};  // kClosedBy* bits
  std::size_t cap_;
  std::unique_ptr<Storage[]> values_;
  std::unique_ptr<State[]> states_;  // beside values_, not in it: see the top of this file
};

}  // namespace troupe::detail
