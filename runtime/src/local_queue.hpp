// LocalQueue: a worker's bounded run queue. The owner pushes at the tail and pops at the head
// (FIFO) or, for tasks that never ran, at the tail (pop_back: newest first); other workers
// steal half of it from the head. Not API.
//
// The technique is tokio's local queue (itself after Go's runqueue): the head is one 64-bit
// word holding two 32-bit indices, `steal` and `real`. Normally they are equal. A thief claims
// [real, real + n) by advancing `real` alone (one CAS), copies the tasks out while `steal`
// still fences the owner off those slots, then sets `steal = real` (a second CAS). Only one
// thief at a time (a thief that sees steal != real gives up), and the owner's pop is a CAS on
// the same word, so owner and thieves never take the same task. Indices wrap modulo 2^32.
//
// pop_back excludes thieves the same way: the owner sets `steal` one behind `real` (a CAS: a
// thief that read the head before fails its claim, and one that reads it after takes it for a
// thief at work and gives up), takes the tail's task, then stores the head and tail shifted by
// kCapacity (the same slots): a thief that read the old head, with the old tail, fails its CAS
// rather than claim the taken slot (no ABA; returning to the old value takes 2^24 pop_backs).
// A thief that reads the new head (acquire) reads the new tail after it.
//
// Each slot also carries, in its pointer's low bit, whether the task had started when it was
// queued (RawTask::started; it cannot change while the task waits in a queue). The owner reads
// it for the task at the tail (back_started) without touching the task: between the owner's
// look and its pop_back, a thief may take that task in two successive steals, run it and
// free it (found by ThreadSanitizer: reading `started` through the pointer read freed memory).
//
// Memory ordering: the owner publishes a slot with a release store of `tail_`; a thief's
// acquire load of `tail_` makes the slot's task (and everything written to the task before
// it was pushed) visible. A thief releases the slots it copied by its final CAS of the head
// (release), which the owner reads (acquire) before it may overwrite those slots.
//
// Thread-safety: push/pop/pop_back/back_started/take_half from the owning worker only; steal_into from any
// other worker; len from any (exact from the owner).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>

#include "troupe/runtime/detail/raw_task.hpp"

namespace troupe::detail {

class LocalQueue {
 public:
  static constexpr std::uint32_t kCapacity = 256;

  // Owner only (the task is the caller's to queue). Returns false when full (the caller moves
  // work to the global queue).
  bool push(RawTask* task) noexcept {
    const std::uint32_t tail = tail_.load(std::memory_order_relaxed);  // only we write it
    // acquire: a thief's final CAS released the slots it copied; we may reuse them only after.
    const auto [steal, real] = unpack(head_.load(std::memory_order_acquire));
    (void)real;
    if (tail - steal >= kCapacity) return false;
    slots_[tail & kMask].store(tagged(task), std::memory_order_relaxed);
    // release: publishes the slot (and the task's state) to thieves reading tail_.
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Owner only. Takes up to half of the queue out (for the global queue when full) into `out`,
  // returning how many; 0 if a thief is active (then the caller retries push).
  std::uint32_t take_half(RawTask** out) noexcept {
    const std::uint32_t tail = tail_.load(std::memory_order_relaxed);
    std::uint64_t head = head_.load(std::memory_order_acquire);
    const auto [steal, real] = unpack(head);
    if (steal != real) return 0;
    const std::uint32_t n = (tail - real) / 2;
    if (n == 0) return 0;
    // acq_rel: claims the slots against thieves (acquire: their earlier releases).
    if (!head_.compare_exchange_strong(head, pack(real + n, real + n), std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
      return 0;
    }
    for (std::uint32_t i = 0; i < n; ++i) {
      out[i] = untagged(slots_[(real + i) & kMask].load(std::memory_order_relaxed));
    }
    return n;
  }

  // Owner only.
  RawTask* pop() noexcept {
    std::uint64_t head = head_.load(std::memory_order_acquire);
    for (;;) {
      const auto [steal, real] = unpack(head);
      if (real == tail_.load(std::memory_order_relaxed)) return nullptr;
      const std::uint32_t next_real = real + 1;
      const std::uint64_t next =
          steal == real ? pack(next_real, next_real) : pack(steal, next_real);
      // acq_rel: wins the task against thieves advancing the same word.
      if (head_.compare_exchange_weak(head, next, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        return untagged(slots_[real & kMask].load(std::memory_order_relaxed));
      }
    }
  }

  // Owner only. Takes the newest task (the one at the tail), or nullptr if the queue is empty
  // or a thief is at work (the caller then pops at the head).
  RawTask* pop_back() noexcept {
    std::uint64_t head = head_.load(std::memory_order_acquire);
    const auto [steal, real] = unpack(head);
    const std::uint32_t tail = tail_.load(std::memory_order_relaxed);  // only we write it
    if (steal != real || real == tail) return nullptr;
    // relaxed: the CAS only has to exclude thieves (a claim is a CAS on this word); the slot
    // read below is our own store, and no thief is copying ours (steal == real).
    if (!head_.compare_exchange_strong(head, pack(real - 1, real), std::memory_order_relaxed,
                                       std::memory_order_relaxed)) {
      return nullptr;
    }
    RawTask* task = untagged(slots_[(tail - 1) & kMask].load(std::memory_order_relaxed));
    // Rebased by kCapacity (same slots), so the head never returns to a value a thief may
    // have read with the old tail: its claim CAS fails instead of succeeding by ABA.
    tail_.store(tail - 1 + kCapacity, std::memory_order_relaxed);
    // release: a thief's acquire of this head, then of tail_, sees the new tail.
    head_.store(pack(real + kCapacity, real + kCapacity), std::memory_order_release);
    return task;
  }

  // Owner only, with len() >= 1: whether the newest task had started when it was queued. It
  // reads the slot, never the task, which a thief may have taken (and freed) since the owner
  // last looked: the answer then is stale, and the pop_back that follows fails or takes
  // another task, which the caller checks itself.
  [[nodiscard]] bool back_started() const noexcept {
    return is_tagged(
        slots_[(tail_.load(std::memory_order_relaxed) - 1) & kMask].load(std::memory_order_relaxed));
  }

  // Any worker but the owner: moves about half of this queue into `dst` (whose owner is the
  // caller) and returns one of the stolen tasks to run now, or nullptr.
  // `started` (if given) receives how many of the tasks left in dst were started (RawTask::
  // started), read while they are still the thief's alone.
  RawTask* steal_into(LocalQueue& dst, std::uint32_t* started = nullptr) noexcept {
    const std::uint32_t dst_tail = dst.tail_.load(std::memory_order_relaxed);  // caller owns dst
    const auto [dst_steal, dst_real] = unpack(dst.head_.load(std::memory_order_acquire));
    (void)dst_real;
    if (dst_tail - dst_steal > kCapacity / 2) return nullptr;  // no room: don't steal

    std::uint64_t head = head_.load(std::memory_order_acquire);
    std::uint32_t n = 0;
    std::uint32_t first = 0;
    for (;;) {
      const auto [steal, real] = unpack(head);
      if (steal != real) return nullptr;  // another thief is at work
      // acquire: the owner's release store of tail_ published the slots below it.
      const std::uint32_t tail = tail_.load(std::memory_order_acquire);
      n = tail - real;
      n -= n / 2;
      if (n == 0) return nullptr;
      // acq_rel: claims [real, real + n) while steal stays put, fencing the owner off them.
      if (head_.compare_exchange_weak(head, pack(steal, real + n), std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        first = real;
        break;
      }
    }
    std::uint32_t started_here = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      RawTask* slot = slots_[(first + i) & kMask].load(std::memory_order_relaxed);
      dst.slots_[(dst_tail + i) & kMask].store(slot, std::memory_order_relaxed);  // tag kept
      if (i + 1 < n && is_tagged(slot)) ++started_here;
    }
    if (started != nullptr) *started = started_here;
    // Release the claimed slots to the owner: steal catches up with real.
    head = head_.load(std::memory_order_acquire);
    for (;;) {
      const auto [steal, real] = unpack(head);
      (void)steal;
      // acq_rel: the owner may overwrite the copied slots only after this (see push).
      if (head_.compare_exchange_weak(head, pack(real, real), std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        break;
      }
    }
    // Keep the last stolen task to run; publish the rest in dst.
    const std::uint32_t keep = n - 1;
    RawTask* run_now =
        untagged(dst.slots_[(dst_tail + keep) & kMask].load(std::memory_order_relaxed));
    if (keep != 0) {
      // release: publishes the copied slots to dst's own thieves.
      dst.tail_.store(dst_tail + keep, std::memory_order_release);
    }
    return run_now;
  }

  // Approximate number of queued tasks (exact from the owner).
  [[nodiscard]] std::uint32_t len() const noexcept {
    const auto [steal, real] = unpack(head_.load(std::memory_order_acquire));
    (void)steal;
    // Clamped: another thread can read the head from before a pop_back and the tail after it.
    return std::min(tail_.load(std::memory_order_acquire) - real, kCapacity);
  }
  [[nodiscard]] bool empty() const noexcept { return len() == 0; }

 private:
  static constexpr std::uint32_t kMask = kCapacity - 1;
  // The slot's "started when queued" bit (RawTask is at least 8-aligned).
  static constexpr std::uintptr_t kStartedTag = 1;
  static_assert(alignof(RawTask) > kStartedTag);
  // Pointer arithmetic on the task's own bytes (one byte in, one byte back), not an integer
  // cast back to a pointer.
  static RawTask* tagged(RawTask* task) noexcept {
    if (!task->started.load(std::memory_order_relaxed)) return task;
    return reinterpret_cast<RawTask*>(reinterpret_cast<char*>(task) + kStartedTag);
  }
  static bool is_tagged(RawTask* slot) noexcept {
    return (reinterpret_cast<std::uintptr_t>(slot) & kStartedTag) != 0;
  }
  static RawTask* untagged(RawTask* slot) noexcept {
    return reinterpret_cast<RawTask*>(reinterpret_cast<char*>(slot) -
                                      (reinterpret_cast<std::uintptr_t>(slot) & kStartedTag));
  }
  struct Head {
    std::uint32_t steal;
    std::uint32_t real;
  };
  static constexpr std::uint64_t pack(std::uint32_t steal, std::uint32_t real) noexcept {
    return (static_cast<std::uint64_t>(steal) << 32) | real;
  }
  static constexpr Head unpack(std::uint64_t head) noexcept {
    return {static_cast<std::uint32_t>(head >> 32), static_cast<std::uint32_t>(head)};
  }

  alignas(64) std::atomic<std::uint64_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  alignas(64) std::array<std::atomic<RawTask*>, kCapacity> slots_{};
};

}  // namespace troupe::detail
