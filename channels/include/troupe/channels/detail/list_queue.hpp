// ListQueue<T>: the unbounded MPSC queue behind unbounded_channel<T>().
//
// Algorithm: a linked list of fixed-size blocks (kBlockSlots messages each); senders claim a
// position with a CAS on one tail counter, write the slot and set its ready bit; the consumer
// walks the slots in order and frees each block once it has taken its last message. The idea is
// crossbeam's list channel (itself after D. Vyukov's unbounded queues): one CAS per send, no
// allocation per message, one allocation per kBlockSlots messages.
// Positions count in units of 2: bit 0 of the tail is the "closed" mark (same reasoning as in
// ArrayQueue). Offset kBlockSlots of every lap is a sentinel that no message uses: a tail resting
// there means "the sender that took the block's last slot is installing the next block".
// Deviations from crossbeam: one consumer, so blocks are freed by the consumer alone as soon as
// it leaves them (no reader counts), and the first block exists from the start.
//
// Thread-safety: try_push, close, closed, size from any thread; try_pop, poll and the
// destructor from the single consumer.
#pragma once

#include <atomic>
#include <cstddef>
#include <new>
#include <utility>

#include "troupe/channels/detail/config.hpp"
#include "troupe/channels/detail/queue_status.hpp"

namespace troupe::detail {

template <class T>
class ListQueue {
 public:
  ListQueue() {
    Block* first = new Block;
    head_block_ = first;
    tail_block_.store(first, std::memory_order_relaxed);
  }
  ListQueue(const ListQueue&) = delete;
  ListQueue& operator=(const ListQueue&) = delete;

  ~ListQueue() {
    // No other thread runs now: destroy the queued messages and every block.
    const std::size_t tail = tail_.load(std::memory_order_relaxed) & ~kMark;
    std::size_t head = head_.load(std::memory_order_relaxed);
    Block* block = head_block_;
    while (head != tail) {
      const std::size_t offset = offset_of(head);
      if (offset == kBlockSlots) {
        Block* next = block->next.load(std::memory_order_relaxed);
        delete block;
        block = next;
      } else if (block->slots[offset].ready.load(std::memory_order_relaxed)) {
        block->slots[offset].value()->~T();
      }
      head += kStep;
    }
    while (block != nullptr) {
      Block* next = block->next.load(std::memory_order_relaxed);
      delete block;
      block = next;
    }
  }

  // Moves `value` into the queue on success; on Closed `value` is untouched.
  PushStatus try_push(T& value) {
    Block* spare = nullptr;  // the next block, allocated before claiming a block's last slot
    // acquire (both): a tail position in a new block implies that block's pointer is visible.
    std::size_t tail = tail_.load(std::memory_order_acquire);
    Block* block = tail_block_.load(std::memory_order_acquire);
    for (;;) {
      if (tail & kMark) {
        delete spare;
        return PushStatus::closed;
      }
      const std::size_t offset = offset_of(tail);
      if (offset == kBlockSlots) {
        // Another sender is installing the next block: wait for it.
        cpu_relax();
        tail = tail_.load(std::memory_order_acquire);
        block = tail_block_.load(std::memory_order_acquire);
        continue;
      }
      if (offset + 1 == kBlockSlots && spare == nullptr) spare = new Block;
      // seq_cst: orders the claim before the check for a parked receiver (see chan.hpp).
      if (tail_.compare_exchange_weak(tail, tail + kStep, std::memory_order_seq_cst,
                                      std::memory_order_acquire)) {
        if (offset + 1 == kBlockSlots) {
          // We took the last slot: install the next block, then step the tail over the sentinel.
          // release (all three): later senders and the consumer that see the new position or
          // pointer must see the block initialised.
          tail_block_.store(spare, std::memory_order_release);
          tail_.fetch_add(kStep, std::memory_order_release);
          block->next.store(spare, std::memory_order_release);
          spare = nullptr;
        }
        Slot& slot = block->slots[offset];
        ::new (slot.storage) T(std::move(value));
        // release: publishes the message (and, for the last slot, the next pointer).
        slot.ready.store(true, std::memory_order_release);
        delete spare;  // allocated for a last slot that another sender took
        return PushStatus::ok;
      }
      block = tail_block_.load(std::memory_order_acquire);
    }
  }

  template <class Sink>
  PopStatus try_pop(Sink& out) {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    const std::size_t offset = offset_of(head);
    Slot& slot = head_block_->slots[offset];
    // acquire: pairs with the sender's release of `ready`.
    if (!slot.ready.load(std::memory_order_acquire)) return status_when_not_ready(head);
    T* value = slot.value();
    out.emplace(std::move(*value));
    value->~T();
    if (offset + 1 == kBlockSlots) {
      // Last slot of the block: its sender stored `next` before marking the slot ready.
      Block* next = head_block_->next.load(std::memory_order_acquire);
      delete head_block_;
      head_block_ = next;
      head_.store(head + 2 * kStep, std::memory_order_release);  // skip the sentinel
    } else {
      head_.store(head + kStep, std::memory_order_release);
    }
    return PopStatus::ok;
  }

  [[nodiscard]] PopStatus poll() const noexcept {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (head_block_->slots[offset_of(head)].ready.load(std::memory_order_acquire)) {
      return PopStatus::ok;
    }
    return status_when_not_ready(head);
  }

  bool close() noexcept {
    // seq_cst: a parked receiver's re-check (poll) must see the mark.
    return (tail_.fetch_or(kMark, std::memory_order_seq_cst) & kMark) == 0;
  }
  [[nodiscard]] bool closed() const noexcept {
    return (tail_.load(std::memory_order_acquire) & kMark) != 0;
  }

  [[nodiscard]] std::size_t size() const noexcept {
    for (;;) {
      const std::size_t tail = tail_.load(std::memory_order_seq_cst);
      const std::size_t head = head_.load(std::memory_order_seq_cst);
      if (tail_.load(std::memory_order_seq_cst) != tail) continue;
      return messages_before(tail & ~kMark) - messages_before(head);
    }
  }

  static constexpr std::size_t kBlockSlots = 63;  // + 1 sentinel offset = 64 per lap

 private:
  static constexpr std::size_t kMark = 1;
  static constexpr std::size_t kStep = 2;
  static constexpr std::size_t kLap = kBlockSlots + 1;

  struct Slot {
    std::atomic<bool> ready{false};
    alignas(T) unsigned char storage[sizeof(T)];
    T* value() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
  };
  struct Block {
    std::atomic<Block*> next{nullptr};
    Slot slots[kBlockSlots];
  };

  static std::size_t offset_of(std::size_t position) noexcept { return (position / kStep) % kLap; }
  // Messages that fit before `position` (sentinels do not count).
  static std::size_t messages_before(std::size_t position) noexcept {
    const std::size_t index = position / kStep;
    const std::size_t laps = index / kLap, offset = index % kLap;
    return laps * kBlockSlots + (offset < kBlockSlots ? offset : kBlockSlots);
  }

  PopStatus status_when_not_ready(std::size_t head) const noexcept {
    // seq_cst: pairs with the senders' claiming CAS and close() (see chan.hpp).
    const std::size_t tail = tail_.load(std::memory_order_seq_cst);
    if ((tail & ~kMark) != head) return PopStatus::pending;
    return (tail & kMark) ? PopStatus::closed : PopStatus::empty;
  }

  alignas(kCacheLine) std::atomic<std::size_t> head_{0};  // written by the consumer only
  Block* head_block_ = nullptr;                           // consumer only
  alignas(kCacheLine) std::atomic<std::size_t> tail_{0};
  std::atomic<Block*> tail_block_{nullptr};
};

}  // namespace troupe::detail
