// ArrayQueue<T>: the bounded MPSC queue behind channel<T>(capacity > 0).
//
// Algorithm: a fixed ring of slots, each with a "stamp" that says which lap of the ring the slot
// is ready for — the bounded-queue technique of D. Vyukov's bounded MPMC queue, with the
// arbitrary-capacity "lap" encoding used by crossbeam's ArrayQueue. Positions (head, tail) are
// `lap | index`; a slot whose stamp equals the tail position is free for that lap; a stamp of
// position+1 means it holds the message written at that position.
// Deviations: one consumer, so the head is advanced with a plain store (no CAS) and a sender
// learns "full" from the slot's stamp alone, never touching the consumer's head; the tail
// carries a "closed" mark bit so that closing and sending are ordered by the same CAS: a send
// either claims a slot before the close (and its message is received) or fails and hands the
// message back.
//
// The tail also carries the "receiver parked" bit, which makes the claiming CAS the senders'
// check for a parked receiver (PublishFence::park_bit in chan_base.hpp; the wake protocol is
// written out there). Tail word, low to high: index | mark bit | park bit | lap. Positions and
// stamps never hold either bit; every comparison masks them off.
//  - try_park (consumer): CAS tail from exactly `head` to `head | park`. It succeeds only while
//    nothing is claimed beyond what the consumer took and the channel is open, so "empty" and
//    "registered" are decided by one read-modify-write of the word every sender must modify.
//  - a claim replaces `position [| park]` by `next(position)`: it clears the bit in the same CAS,
//    and the one sender whose CAS removed it learns so (try_push's `must_wake`).
//  - close sets the mark and clears the bit in one CAS, and likewise learns whether it did.
//  - try_unpark (consumer): CAS `head | park` back to `head`; fails once a sender or the close
//    took the bit.
// Only try_park sets the bit, so a value with the bit set was written by try_park itself: the
// sender or closer that clears it read try_park's own store (the synchronization the wake
// protocol relies on).
//
// Thread-safety: try_push, close, closed, size from any thread; try_pop, poll, try_park,
// try_unpark and the destructor from the single consumer.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

#include "troupe/channels/detail/config.hpp"
#include "troupe/channels/detail/queue_status.hpp"

namespace troupe::detail {

template <class T>
class ArrayQueue {
 public:
  explicit ArrayQueue(std::size_t capacity) : cap_(capacity) {
    mark_bit_ = std::size_t{1};
    while (mark_bit_ < cap_ + 1) mark_bit_ <<= 1;
    park_bit_ = mark_bit_ << 1;
    one_lap_ = mark_bit_ << 2;
    slots_ = std::unique_ptr<Slot[]>(new Slot[cap_]);
    for (std::size_t i = 0; i < cap_; ++i) slots_[i].stamp.store(i, std::memory_order_relaxed);
  }

  ArrayQueue(const ArrayQueue&) = delete;
  ArrayQueue& operator=(const ArrayQueue&) = delete;

  ~ArrayQueue() {
    // No other thread runs now: destroy the messages still queued.
    const std::size_t tail = tail_.load(std::memory_order_relaxed) & ~(mark_bit_ | park_bit_);
    std::size_t head = head_.load(std::memory_order_relaxed);
    while (head != tail) {
      Slot& slot = slots_[index_of(head)];
      if (slot.stamp.load(std::memory_order_relaxed) == head + 1) slot.value()->~T();
      head = next(head);
    }
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }

  // Moves `value` into the queue on success; on Full/Closed `value` is untouched. `must_wake`
  // is set on success when this claim took the receiver's park bit: the caller then owns the
  // parked receiver's registration and must wake it (ChanBase::wake_parked_receiver).
  PushStatus try_push(T& value, bool& must_wake) {
    std::size_t tail = tail_.load(std::memory_order_relaxed);
    for (;;) {
      if (tail & mark_bit_) return PushStatus::closed;
      const std::size_t position = tail & ~park_bit_;
      Slot& slot = slots_[index_of(position)];
      // acquire: the consumer's move-out of the previous lap's message happens-before we reuse it.
      const std::size_t stamp = slot.stamp.load(std::memory_order_acquire);
      if (stamp == position) {
        // Claims the slot and clears the park bit in one step. acquire: if the value replaced
        // has the park bit, it is try_park's own release store, so the receiver's registration
        // (the waker it stored before parking) is visible to the wake below. No release is
        // needed: the message is published by the stamp, not by the tail.
        if (tail_.compare_exchange_weak(tail, next(position), std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
          ::new (slot.storage) T(std::move(value));
          // release: publishes the message to the consumer.
          slot.stamp.store(position + 1, std::memory_order_release);
          must_wake = (tail & park_bit_) != 0;
          return PushStatus::ok;
        }
      } else if (stamp + one_lap_ == position + 1) {
        // The slot still holds the message of the previous lap, and with a single consumer
        // that means the queue is full right now (crossbeam's MPMC version must also consult
        // the head here; one consumer frees slots in order, so the stamp alone is proof).
        return PushStatus::full;
      } else {
        // Another sender claimed this position and the tail moved on: reload.
        cpu_relax();
        tail = tail_.load(std::memory_order_relaxed);
      }
    }
  }

  // Moves the oldest message into `out` (which must be an empty optional-like sink). The check
  // is always inlined; the move-out (take) is the compiler's to inline, so that finding the
  // queue empty never pays for saving the registers a message's move uses (measured).
  template <class Sink>
  [[gnu::always_inline]] PopStatus try_pop(Sink& out) {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    Slot& slot = slots_[index_of(head)];
    // acquire: pairs with the sender's release of the stamp, making the message visible.
    if (slot.stamp.load(std::memory_order_acquire) == head + 1) return take(slot, head, out);
    return status_when_not_ready(head);
  }

  // What try_pop would say without taking anything. Consumer only.
  [[nodiscard]] PopStatus poll() const noexcept {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (slots_[index_of(head)].stamp.load(std::memory_order_acquire) == head + 1) {
      return PopStatus::ok;
    }
    return status_when_not_ready(head);
  }

  // Sets the closed mark: every later try_push fails. Returns false if it was already closed.
  // `must_wake` is set when the close took the receiver's park bit: the caller then owns the
  // parked receiver's registration and must wake it, as a sender would.
  bool close(bool& must_wake) noexcept {
    std::size_t tail = tail_.load(std::memory_order_relaxed);
    for (;;) {
      // The park bit is never set together with the mark (try_park expects a clean position).
      if (tail & mark_bit_) return false;
      // acq_rel: acquire as a claim's CAS (the registration, if the bit was set); release so
      // that whoever reads the mark (a receiver's status, closed()) sees what the closer did
      // before closing.
      if (tail_.compare_exchange_weak(tail, (tail | mark_bit_) & ~park_bit_,
                                      std::memory_order_acq_rel, std::memory_order_relaxed)) {
        must_wake = (tail & park_bit_) != 0;
        return true;
      }
    }
  }
  [[nodiscard]] bool closed() const noexcept {
    // acquire: pairs with close()'s release.
    return (tail_.load(std::memory_order_acquire) & mark_bit_) != 0;
  }

  // Parks the receiver: true if the tail was exactly at the consumer's head (nothing claimed
  // beyond what was taken, channel open) and now carries the park bit. The caller stored its
  // waker in ChanBase before (see chan_base.hpp). Consumer only.
  [[nodiscard]] bool try_park() noexcept {
    std::size_t expected = head_.load(std::memory_order_relaxed);
    // release: the registration (the waker stored before this CAS) is visible to the sender or
    // closer whose CAS later reads this value and so takes the bit. Failure: relaxed, the caller
    // re-polls with its own acquire loads.
    return tail_.compare_exchange_strong(expected, expected | park_bit_, std::memory_order_release,
                                         std::memory_order_relaxed);
  }
  // Takes the park bit back: true if it was still set (the registration is the consumer's again);
  // false if a sender or the close took it (that party wakes the registered waker). Consumer
  // only.
  [[nodiscard]] bool try_unpark() noexcept {
    // While the bit is set the tail is exactly `head | park` (a claim or the close would have
    // cleared it), so one CAS from that value decides. The plain load first spares the locked
    // instruction when the bit is already gone; a stale read only costs a failing CAS.
    const std::size_t parked = head_.load(std::memory_order_relaxed) | park_bit_;
    if (tail_.load(std::memory_order_relaxed) != parked) return false;
    std::size_t expected = parked;
    // relaxed: the winner of the bit is decided by the word's modification order alone; the
    // consumer then takes its own registration back (no other thread's writes to acquire), and a
    // later registration is published by the next try_park's release.
    return tail_.compare_exchange_strong(expected, parked & ~park_bit_, std::memory_order_relaxed,
                                         std::memory_order_relaxed);
  }

  // Messages queued (claimed slots included). Thread-safe; a snapshot.
  [[nodiscard]] std::size_t size() const noexcept {
    for (;;) {
      const std::size_t tail = tail_.load(std::memory_order_seq_cst);
      const std::size_t head = head_.load(std::memory_order_seq_cst);
      if (tail_.load(std::memory_order_seq_cst) != tail) continue;  // moved meanwhile: retry
      const std::size_t hix = index_of(head), tix = index_of(tail);
      if (hix < tix) return tix - hix;
      if (hix > tix) return cap_ - hix + tix;
      return (tail & ~(mark_bit_ | park_bit_)) == head ? 0 : cap_;
    }
  }

 private:
  struct Slot {
    std::atomic<std::size_t> stamp;
    alignas(T) unsigned char storage[sizeof(T)];
    T* value() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
  };

  // try_pop's move-out of the message at `head`, in `slot`.
  template <class Sink>
  PopStatus take(Slot& slot, std::size_t head, Sink& out) {
    T* value = slot.value();
    out.emplace(std::move(*value));
    value->~T();
    // release: the move-out completes before a sender may reuse the slot in the next lap.
    slot.stamp.store(head + one_lap_, std::memory_order_release);
    head_.store(next(head), std::memory_order_relaxed);
    return PopStatus::ok;
  }
  [[nodiscard]] std::size_t index_of(std::size_t position) const noexcept {
    return position & (mark_bit_ - 1);
  }
  [[nodiscard]] std::size_t next(std::size_t position) const noexcept {
    return index_of(position) + 1 < cap_ ? position + 1 : (position & ~(one_lap_ - 1)) + one_lap_;
  }

  PopStatus status_when_not_ready(std::size_t head) const noexcept {
    // acquire: as closed(). Whether a parked receiver misses nothing is decided by try_park's
    // CAS, not by this read (chan_base.hpp), so it needs no seq_cst.
    const std::size_t tail = tail_.load(std::memory_order_acquire);
    if ((tail & ~(mark_bit_ | park_bit_)) != head)
      return PopStatus::pending;  // claimed, not yet written
    return (tail & mark_bit_) ? PopStatus::closed : PopStatus::empty;
  }

  alignas(kCacheLine) std::atomic<std::size_t> head_{0};  // written by the consumer only
  // Claimed by senders with CAS; also carries the mark and park bits (see above).
  alignas(kCacheLine) std::atomic<std::size_t> tail_{0};
  alignas(kCacheLine) std::size_t cap_;
  std::size_t mark_bit_;
  std::size_t park_bit_;
  std::size_t one_lap_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace troupe::detail
