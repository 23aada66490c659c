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
// Thread-safety: try_push, close, closed, size from any thread; try_pop, poll and the
// destructor from the single consumer.
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
    one_lap_ = mark_bit_ << 1;
    slots_ = std::unique_ptr<Slot[]>(new Slot[cap_]);
    for (std::size_t i = 0; i < cap_; ++i) slots_[i].stamp.store(i, std::memory_order_relaxed);
  }

  ArrayQueue(const ArrayQueue&) = delete;
  ArrayQueue& operator=(const ArrayQueue&) = delete;

  ~ArrayQueue() {
    // No other thread runs now: destroy the messages still queued.
    const std::size_t tail = tail_.load(std::memory_order_relaxed) & ~mark_bit_;
    std::size_t head = head_.load(std::memory_order_relaxed);
    while (head != tail) {
      Slot& slot = slots_[index_of(head)];
      if (slot.stamp.load(std::memory_order_relaxed) == head + 1) slot.value()->~T();
      head = next(head);
    }
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }

  // Moves `value` into the queue on success; on Full/Closed `value` is untouched.
  PushStatus try_push(T& value) {
    std::size_t tail = tail_.load(std::memory_order_relaxed);
    for (;;) {
      if (tail & mark_bit_) return PushStatus::closed;
      Slot& slot = slots_[index_of(tail)];
      // acquire: the consumer's move-out of the previous lap's message happens-before we reuse it.
      const std::size_t stamp = slot.stamp.load(std::memory_order_acquire);
      if (stamp == tail) {
        // seq_cst: orders the claim before the check for a parked receiver (see chan.hpp).
        if (tail_.compare_exchange_weak(tail, next(tail), std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
          ::new (slot.storage) T(std::move(value));
          // release: publishes the message to the consumer.
          slot.stamp.store(tail + 1, std::memory_order_release);
          return PushStatus::ok;
        }
      } else if (stamp + one_lap_ == tail + 1) {
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

  // Moves the oldest message into `out` (which must be an empty optional-like sink).
  template <class Sink>
  PopStatus try_pop(Sink& out) {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    Slot& slot = slots_[index_of(head)];
    // acquire: pairs with the sender's release of the stamp, making the message visible.
    if (slot.stamp.load(std::memory_order_acquire) == head + 1) {
      T* value = slot.value();
      out.emplace(std::move(*value));
      value->~T();
      // release: the move-out completes before a sender may reuse the slot in the next lap.
      slot.stamp.store(head + one_lap_, std::memory_order_release);
      head_.store(next(head), std::memory_order_relaxed);
      return PopStatus::ok;
    }
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
  bool close() noexcept {
    // seq_cst: a parked receiver's re-check (poll) must see the mark.
    return (tail_.fetch_or(mark_bit_, std::memory_order_seq_cst) & mark_bit_) == 0;
  }
  [[nodiscard]] bool closed() const noexcept {
    return (tail_.load(std::memory_order_acquire) & mark_bit_) != 0;
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
      return (tail & ~mark_bit_) == head ? 0 : cap_;
    }
  }

 private:
  struct Slot {
    std::atomic<std::size_t> stamp;
    alignas(T) unsigned char storage[sizeof(T)];
    T* value() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
  };

  [[nodiscard]] std::size_t index_of(std::size_t position) const noexcept {
    return position & (mark_bit_ - 1);
  }
  [[nodiscard]] std::size_t next(std::size_t position) const noexcept {
    return index_of(position) + 1 < cap_ ? position + 1 : (position & ~(one_lap_ - 1)) + one_lap_;
  }

  PopStatus status_when_not_ready(std::size_t head) const noexcept {
    // seq_cst: pairs with the senders' claiming CAS and close(): a receiver that re-checks
    // after registering its waker cannot miss a claim or the close (see chan.hpp).
    const std::size_t tail = tail_.load(std::memory_order_seq_cst);
    if ((tail & ~mark_bit_) != head) return PopStatus::pending;  // claimed, not yet written
    return (tail & mark_bit_) ? PopStatus::closed : PopStatus::empty;
  }

  alignas(kCacheLine) std::atomic<std::size_t> head_{0};  // written by the consumer only
  alignas(kCacheLine) std::atomic<std::size_t> tail_{0};  // claimed by senders with CAS
  alignas(kCacheLine) std::size_t cap_;
  std::size_t mark_bit_;
  std::size_t one_lap_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace troupe::detail
