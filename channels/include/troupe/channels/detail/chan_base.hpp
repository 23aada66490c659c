// ChanBase: the state every channel flavor shares — handle counts, the parked receiver's Waker,
// the list of senders parked on a full channel — and the wake protocol. Not API.
//
// The wake protocol (why no message is ever stranded and no waiter sleeps forever):
//
//  Receiver parks:  rx_waker_.exchange(me, seq_cst)  ->  queue.poll() reads tail (seq_cst)
//  Sender sends:    tail CAS (seq_cst) claims a slot ->  rx_waker_.load(seq_cst)
//  All four operations are seq_cst, so in their single total order either the receiver's tail
//  read comes after the claim (it sees the message coming and does not park) or the sender's
//  load comes after the registration (it sees the waker and wakes it). Close works the same way
//  through the seq_cst fetch_or of the tail's mark bit. A send costs one plain load here.
//
//  A single-producer channel (SpscQueue) publishes with a plain release store, no CAS, so it
//  orders the two sides with the asymmetric fence pair instead (PublishFence::light):
//  Receiver parks:  rx_waker_.exchange(me)  ->  heavy_fence()  ->  queue.poll() reads tail
//  Sender sends:    tail store (release)    ->  light_fence()  ->  rx_waker_.load()
//  register_receiver pays the heavy fence itself, so every parking path (recv, poll_recv,
//  select) gets it; the send stays free of locked instructions. Its close is a seq_cst
//  fetch_or of its own closed_ word, read by poll after the heavy fence.
//
//  Sender parks on a full bounded queue: tx_waiting_ += 1, heavy fence, retry the push.
//  Receiver frees a slot: stamp (SPSC: head) store, light fence, tx_waiting_ load.
//  The pair orders like two seq_cst fences (fence.hpp): the sender sees the free slot, or the
//  receiver sees the waiting sender and wakes one. The receiver's side is a compiler barrier
//  (membarrier does the work on the rare parking side), so a receive costs no extra fence.
//
// Thread-safety: every member function is thread-safe unless it says otherwise.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "troupe/channels/detail/config.hpp"
#include "troupe/channels/detail/fence.hpp"
#include "troupe/channels/waker.hpp"

namespace troupe::detail {

// How the senders of a channel order a publish before their check for a parked receiver.
enum class PublishFence {
  rmw,    // a seq_cst read-modify-write claims the slot (the MPSC queues)
  light,  // a plain store, then light_fence(); a parking receiver pays heavy_fence() (SPSC)
};

class ChanBase {
 public:
  explicit ChanBase(PublishFence publish_fence = PublishFence::rmw) noexcept
      : publish_fence_(publish_fence) {}
  ChanBase(const ChanBase&) = delete;
  ChanBase& operator=(const ChanBase&) = delete;
  virtual ~ChanBase() = default;

  // --- handle bookkeeping -------------------------------------------------------------------
  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void drop_ref() noexcept {
    // acq_rel: the last owner must see every other owner's writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  void add_sender() noexcept { senders_.fetch_add(1, std::memory_order_relaxed); }
  // Returns true if this was the last sender.
  bool drop_sender() noexcept {
    // acq_rel: the last sender's close must follow every other sender's sends.
    return senders_.fetch_sub(1, std::memory_order_acq_rel) == 1;
  }
  [[nodiscard]] std::size_t sender_count() const noexcept {
    return senders_.load(std::memory_order_relaxed);
  }

  // --- the receiver's waker ------------------------------------------------------------------
  // Called by senders after every successful push. One plain load unless a receiver is parked.
  void wake_receiver() noexcept {
    // seq_cst: see the protocol above (pairs with register_receiver and the tail CAS, or, for
    // PublishFence::light, comes after the sender's light fence).
    if (rx_waker_.load(std::memory_order_seq_cst) != nullptr) take_and_wake_receiver();
  }
  // Registers `waker` as the (single) parked receiver; the caller must re-check the queue
  // afterwards (poll) before parking. Costs a heavy fence for PublishFence::light. Consumer only.
  void register_receiver(Waker& waker) noexcept;
  // Withdraws the registration (if still there). Consumer only.
  void deregister_receiver() noexcept;

  // --- senders parked on a full channel ------------------------------------------------------
  // Registers `waker`; the caller must retry its push afterwards before parking.
  void register_sender(Waker& waker);
  // Withdraws the registration; false if a waker already removed it.
  bool deregister_sender(Waker& waker) noexcept;
  // Called by the consumer after freeing a slot of a bounded queue.
  void slot_freed() noexcept {
    // light fence: see the protocol above (pairs with register_sender's heavy fence).
    light_fence();
    if (tx_waiting_.load(std::memory_order_relaxed) != 0) wake_one_sender();
  }
  void wake_all_senders() noexcept;

 protected:
  void take_and_wake_receiver() noexcept;
  void wake_one_sender() noexcept;

 private:
  const PublishFence publish_fence_;
  std::atomic<std::size_t> refs_{0};
  std::atomic<std::size_t> senders_{0};
  alignas(kCacheLine) std::atomic<Waker*> rx_waker_{nullptr};  // holds a reference when set
  alignas(kCacheLine) std::atomic<std::uint32_t> tx_waiting_{0};
  std::mutex tx_mutex_;
  std::vector<Waker*> tx_waiters_;  // guarded by tx_mutex_; each holds a reference
};

}  // namespace troupe::detail
